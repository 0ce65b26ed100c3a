"""The local engine with a stand-in trainer: idempotent re-runs, isolated failures, retries,
status, and loading records (scaling.load / scaling.load_runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import scaling
from scaling.cli import main
from scaling.errors import DataError
from scaling.sweep import runner
from scaling.sweep import timing as estimate
from scaling.sweep.spec import expand
from scaling.sweep.status import collect

FAKE = f"{Path(__file__).resolve().parent / 'sweep_fake_trainer.py'}:train"
BASE = {"model": {"width": 16}, "train": {"tokens": 20000, "batch_size": 4, "eval_points": 3}}


def write(tmp_path: Path, grid: dict, **extra) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"recipes": {"baseline": BASE, **extra.pop("recipes", {})},
                                    "grid": grid, **extra}))
    return path


def run(sweep: Path, out: Path, *args: str) -> int:
    return main(["sweep", "run", str(sweep), "--out", str(out), "--trainer", FAKE, *args])


def started(out: Path) -> dict:
    """run_id -> attempts the launcher made, from its books."""
    return {p.stem: json.loads(p.read_text())["attempts"] for p in (out / "state").glob("*.json")}


def test_rerun_runs_nothing_and_a_new_axis_value_runs_only_new_runs(tmp_path, capsys):
    out = tmp_path / "out"
    sweep = write(tmp_path, {"model.width": [16, 32], "seed": [0, 1]})
    assert run(sweep, out, "--workers", "2") == 0
    first = started(out)
    assert len(first) == 4 and set(first.values()) == {1}
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("metrics.jsonl")}
    assert run(sweep, out) == 0
    assert "nothing to run" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out.rglob("metrics.jsonl")} == mtimes
    assert started(out) == first

    sweep = write(tmp_path, {"model.width": [16, 32, 48], "seed": [0, 1]})
    assert run(sweep, out) == 0
    now = started(out)
    assert len(now) == 6 and {k: now[k] for k in first} == first  # old runs untouched
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes

    df = scaling.load(out)
    assert len(df) == 6 * 3 and not df.duplicated(["run_id", "step"]).any()
    for col in ("run_id", "recipe", "step", "model.width", "model.family", "optim.lr", "seed",
                "train.tokens", "params/total", "tokens/total", "train/loss", "status"):
        assert col in df.columns, col
    assert sorted(df["model.width"].unique()) == [16, 32, 48]
    runs = scaling.load_runs(out)
    assert len(runs) == 6 and set(runs["status"]) == {"done"} and (runs["records"] == 3).all()
    assert runs["train/loss"].notna().all()


def test_failures_are_isolated_retried_only_when_infrastructure_and_listed(tmp_path, capsys):
    out = tmp_path / "out"
    # mlp_ratio: 5 kills itself every time, 6 raises (a bug), 7 is killed once then succeeds;
    # lr 2.0 diverges (final, not a failure)
    sweep = write(tmp_path, {"model.mlp_ratio": [4, 5, 6, 7]},
                  recipes={"hot": {"optim": {"lr": 2.0}}},
                  exclude=[{"recipe": "hot", "model.mlp_ratio": 5}, {"recipe": "hot", "model.mlp_ratio": 6},
                           {"recipe": "hot", "model.mlp_ratio": 7}])
    assert run(sweep, out, "--workers", "2", "--retries", "2") == 1
    captured = capsys.readouterr()
    specs = {r.cfg.model.mlp_ratio if r.recipe == "baseline" else "hot": r for r in expand(
        yaml.safe_load(sweep.read_text())).runs}
    attempts = started(out)
    assert attempts[specs[5].run_id] == 3  # 1 + 2 retries, then given up
    assert attempts[specs[6].run_id] == 1  # a bug is not retried
    assert attempts[specs[7].run_id] == 2  # killed once, retried, done
    assert attempts[specs["hot"].run_id] == 1
    assert "2 failed run(s)" in captured.err
    for key in (5, 6):
        assert f"{specs[key].run_id}" in captured.err
        assert str(out / "runs" / specs[key].run_id / "log.txt") in captured.err
    assert "killed by SIGKILL (3 attempts)" in captured.err and "exit code 1" in captured.err
    assert "fake trainer: a bug" in (out / "runs" / specs[6].run_id / "log.txt").read_text()

    info = collect(out)
    assert info["counts"]["done"] == 2 and info["counts"]["diverged"] == 1 and info["counts"]["failed"] == 2
    assert {r["run_id"] for r in info["failed"]} == {specs[5].run_id, specs[6].run_id}
    assert main(["sweep", "status", str(out)]) == 0
    text = capsys.readouterr().out
    assert "2 done, 1 diverged, 2 failed" in text and "slowest" in text and "log.txt" in text

    # again: the diverged run is final (not rerun); the failed ones are tried again
    assert run(sweep, out, "--retries", "0") == 1
    again = started(out)
    assert again[specs["hot"].run_id] == 1 and again[specs[4].run_id] == 1
    assert scaling.load_runs(out).set_index("run_id").loc[specs["hot"].run_id, "status"] == "diverged"
    assert set(scaling.load(out)["status"]) == {"done", "diverged"}  # committed runs only
    assert len(scaling.load(out, committed_only=False)) >= len(scaling.load(out))


def test_status_running_interrupted_and_plan_calibration(tmp_path, capsys):
    out = tmp_path / "out"
    sweep = write(tmp_path, {"seed": [0, 1, 2]})
    jobs = runner.prepare(expand(yaml.safe_load(sweep.read_text()), source=str(sweep)), out)
    (jobs[1].run_dir / "metrics.jsonl").write_text('{"run_id": "x", "step": 1}\n')
    from scaling.sweep.lock import acquire

    held = acquire(jobs[0].run_dir)  # as a live worker would
    try:
        info = collect(out)
    finally:
        held.release()
    assert info["counts"]["running"] == 1 and info["counts"]["interrupted"] == 1
    assert info["counts"]["pending"] == 1
    assert info["running"][0]["log"].endswith("log.txt")

    assert run(sweep, out) == 0
    rate = runner.rate_for(out)
    assert rate.source.startswith("measured") and rate.flops_per_s > 0
    assert main(["sweep", "plan", str(sweep), "--out", str(out)]) == 0
    assert "3 runs, 0 to run" in capsys.readouterr().out


def test_load_errors_and_empty(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        scaling.load(tmp_path / "nope")
    assert scaling.load(tmp_path).empty and scaling.load_runs(tmp_path).empty


def test_makespan_and_calibration():
    assert estimate.makespan([4, 3, 3, 2], 2) == 6
    assert estimate.makespan([5], 4) == 5 and estimate.makespan([], 3) == 0
    rate = estimate.calibrate([(1e9, 3.0), (2e9, 4.0), (4e9, 6.0)])
    assert rate.flops_per_s == pytest.approx(1e9) and rate.overhead_s == pytest.approx(2.0)
    assert estimate.calibrate([]).source == "default"


def test_worker_reads_back_the_resolved_config(tmp_path):
    from scaling import config as C
    from scaling.sweep.worker import outcome, read_config

    spec = expand({"recipes": {"baseline": BASE, "late": {"model.family": "late"}}}).runs[1]
    job = runner.prepare(expand({"recipes": {"baseline": BASE, "late": {"model.family": "late"}}}), tmp_path)[1]
    assert read_config(job.run_dir) == spec.cfg and C.run_id(read_config(job.run_dir)) == spec.run_id
    assert outcome(-9, job.run_dir) == ("infra", "killed by SIGKILL")
    assert outcome(75, job.run_dir)[0] == "infra" and outcome(1, job.run_dir) == ("error", "exit code 1")


def test_rich_display_runs_on_a_terminal(tmp_path):
    from scaling.cli.sweep import Display

    out = tmp_path / "out"
    sweep = write(tmp_path, {"seed": [0, 1]})
    display = Display(rich=True)
    result = runner.run_sweep(expand(yaml.safe_load(sweep.read_text()), source=str(sweep)), out, trainer=FAKE,
                              on_event=display.event, on_start=lambda r: display.start(r, 1, {}))
    display.stop()
    assert result.ok and result.counts == {"done": 2} and display.done == 2
