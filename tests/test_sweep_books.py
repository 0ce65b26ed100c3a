"""No silent loss, no silent change: a sweep folder belongs to one sweep, damaged runs and books are
errors naming the file (and nothing is written), readers and the launcher agree on what is committed,
the code version decides reuse, provenance is recorded, the run lock detects stale holders."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import scaling
from scaling import config as C
from scaling import provenance, records
from scaling.cli import main
from scaling.errors import ConfigError, DataError
from scaling.sweep import books, lock
from scaling.sweep.engines import slurm as slurm_backend
from scaling.sweep.engine import Job
from scaling.sweep.engines.ray import split_options
from scaling.sweep.spec import expand
from scaling.sweep.status import collect

FAKE = f"{Path(__file__).resolve().parent / 'sweep_fake_trainer.py'}:train"
BASE = {"model": {"width": 16}, "train": {"tokens": 20000, "batch_size": 4, "eval_points": 3}}


def write(tmp_path: Path, name: str, grid: dict, **extra) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"recipes": {"baseline": BASE}, "grid": grid, **extra}))
    return path


def run(sweep: Path, out: Path, *args: str) -> int:
    return main(["sweep", "run", str(sweep), "--out", str(out), "--trainer", FAKE, *args])


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".launcher.lock"}


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """A committed 2-run sweep folder, copied fresh for each test that changes it."""
    tmp = tmp_path_factory.mktemp("done")
    sweep = write(tmp, "a", {"seed": [0, 1]})
    assert run(sweep, tmp / "out") == 0
    return sweep, tmp / "out"


def fresh(done, tmp_path) -> tuple[Path, Path]:
    import shutil

    sweep, out = done
    shutil.copytree(out, tmp_path / "out")
    shutil.copy(sweep, tmp_path / "a.yaml")
    return tmp_path / "a.yaml", tmp_path / "out"


def test_provenance_in_summary_and_group_readable_files(done):
    _, out = done
    run_dir = next((out / "runs").iterdir())
    prov = records.read_summary(run_dir)["provenance"]
    assert prov["code"] == provenance.code_version() and prov["host"]
    assert prov["packages"]["numpy"] and "jax" in prov["packages"]
    assert prov["git"] is None or set(prov["git"]) == {"commit", "dirty"}
    for path in (run_dir / "summary.json", run_dir / "config.json", out / "sweep.json"):
        assert path.stat().st_mode & stat.S_IRGRP


def test_status_and_plan_json_are_valid_json(done, capsys):
    sweep, out = done
    assert main(["sweep", "status", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["counts"]["done"] == 2 and all(r["code"] == provenance.code_version() for r in info["runs"])
    assert all(r["job_id"].startswith("pid ") for r in info["runs"])
    assert main(["sweep", "plan", str(sweep), "--out", str(out), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["to_run"] == 0 and {r["status"] for r in plan["runs"]} == {"done"}


def test_slurm_job_forwards_the_signal_to_its_worker(tmp_path):
    """submitit calls RunJob.checkpoint on SIGUSR2: the worker is asked to checkpoint and exit first."""
    pytest.importorskip("submitit")
    child = subprocess.Popen([sys.executable, "-c", "import signal, sys, time; "
                              "signal.signal(signal.SIGUSR2, lambda *a: sys.exit(76)); print('up', flush=True); "
                              "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "up"
    job = slurm_backend.RunJob()
    job._proc = child
    again = job.checkpoint(str(tmp_path), "trainer", 1)
    assert child.returncode == 76 and job._proc is None  # checkpointed and exited before the requeue
    assert again.args == (str(tmp_path), "trainer", 1)


def test_another_sweep_is_refused_unless_extended(done, tmp_path, capsys):
    _, out = fresh(done, tmp_path)
    other = write(tmp_path, "b", {"seed": [5]})
    before = snapshot(out)
    assert run(other, out) == 2
    err = capsys.readouterr().err
    assert "holds sweep 'a'" in err and "--extend" in err and len(err.strip().splitlines()) == 1
    assert snapshot(out) == before
    assert run(other, out, "--extend") == 0
    assert len(scaling.load_runs(out)) == 3  # both sweeps' runs, as asked
    info = books.read_index(out)
    assert info["name"] == "a" and set(info["parts"]) == {"a", "b"}


def test_readers_default_to_the_sweep_as_last_launched(done, tmp_path):
    sweep, out = fresh(done, tmp_path)
    sweep.write_text(yaml.safe_dump({"name": "a", "recipes": {"baseline": BASE}, "grid": {"seed": [1, 2]}}))
    assert run(sweep, out) == 0
    assert sorted(scaling.load_runs(out)["seed"]) == [1, 2]
    assert sorted(scaling.load_runs(out, all_runs=True)["seed"]) == [0, 1, 2]
    assert collect(out)["total"] == 2 and collect(out)["other_runs"] == 1


def _drop_checksums(run_dir):
    """The run as older code committed it: no checksums in summary.json, nor in the sweep's books."""
    summary = json.loads((run_dir / "summary.json").read_text())
    summary.pop("checksums")
    (run_dir / "summary.json").write_text(json.dumps(summary))
    _rebook(run_dir, None)


def _rebook(run_dir, checksum="now"):
    """The sweep's book of the run as if its summary.json were committed as it is now (None: no checksum)."""
    from scaling import integrity, reading

    book = run_dir.parent.parent / "state" / f"{run_dir.name}.json"
    state = json.loads(book.read_text())
    state.pop(reading.BOOKED, None)
    if checksum is not None:
        state[reading.BOOKED] = integrity.sha256(run_dir / "summary.json")
    book.write_text(json.dumps(state))


@pytest.mark.parametrize("damage, culprit", [
    (lambda d: (d / "metrics.jsonl").write_text(""), "metrics.jsonl: the file changed after the run was committed"),
    (lambda d: (d / "metrics.jsonl").unlink(), "metrics.jsonl: committed but gone"),
    (lambda d: (d / "metrics.jsonl").write_bytes((d / "metrics.jsonl").read_bytes()[:-1]),  # last newline lost
     "metrics.jsonl: the file changed after"),
    (lambda d: (d / "metrics.jsonl").write_bytes((d / "metrics.jsonl").read_bytes() + b'{"step": 1, "x": 0}\n'),
     "metrics.jsonl: the file changed after"),
    (lambda d: (d / "metrics.jsonl").write_bytes(b"".join((d / "metrics.jsonl").read_bytes().splitlines(True)[:-1])),
     "metrics.jsonl: the file changed after"),
    (lambda d: (d / "config.json").write_text((d / "config.json").read_text() + " "), "config.json: the file changed"),
    # a run committed before checksums were recorded is still checked for its records
    (lambda d: ((d / "metrics.jsonl").write_text(""), _drop_checksums(d)), "without records"),
    (lambda d: (d / "summary.json").write_text('{"status": "bogus"}'), "unknown status 'bogus'"),
    (lambda d: (d / "summary.json").write_text("[]"), "expected a JSON object"),
    (lambda d: (d / "summary.json").write_bytes(os.urandom(64) + b"\xff"), "summary.json"),
    (lambda d: (d / "config.json").write_text(json.dumps({**json.loads((d / "config.json").read_text()),
                                                          "run_id": "0123456789ab"})), "does not match its folder"),
    (lambda d: (d / "config.json").write_text(json.dumps({**json.loads((d / "config.json").read_text()),
                                                          "seed": 7})), "hashes to"),
])
def test_damaged_runs_are_named_alike_by_every_reader(done, tmp_path, capsys, damage, culprit):
    sweep, out = fresh(done, tmp_path)
    victim = sorted((out / "runs").iterdir())[0]
    damage(victim)
    before = snapshot(out)
    with pytest.raises(DataError, match=culprit):
        scaling.load(out)
    with pytest.raises(DataError, match=culprit):
        scaling.load_runs(out)
    info = collect(out)
    assert info["counts"]["damaged"] == 1 and culprit.split("'")[0] in info["damaged"][0]["detail"]
    assert main(["sweep", "plan", str(sweep), "--out", str(out), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in plan["runs"] if r["run_id"] == victim.name] == ["damaged"]
    assert run(sweep, out) == 2
    err = capsys.readouterr().err
    assert str(victim) in err and len(err.strip().splitlines()) == 1
    assert snapshot(out) == before


@pytest.mark.parametrize("name", ["sweep.json", "state"])
def test_a_corrupt_book_is_an_error_never_overwritten(done, tmp_path, capsys, name):
    sweep, out = fresh(done, tmp_path)
    path = out / name if name == "sweep.json" else next((out / "state").iterdir())
    path.write_text('{"launches": [')
    before = snapshot(out)
    assert run(sweep, out) == 2
    assert str(path) in capsys.readouterr().err
    assert main(["sweep", "status", str(out)]) == 2
    assert str(path) in capsys.readouterr().err
    assert snapshot(out) == before


def test_runs_of_other_code_are_refused_unless_accepted(done, tmp_path, capsys):
    sweep, out = fresh(done, tmp_path)
    victim = next((out / "runs").iterdir())
    summary = records.read_summary(victim)
    summary["provenance"]["code"] = "000000000000"
    records.atomic_write_json(victim / "summary.json", summary)
    _rebook(victim)  # as that code's launcher booked it
    before = snapshot(out)
    assert run(sweep, out) == 2
    err = capsys.readouterr().err
    assert "1 committed run(s) came from other code" in err and "--accept-code" in err
    assert snapshot(out) == before
    assert run(sweep, out, "--accept-code") == 0
    assert "nothing to run" in capsys.readouterr().out


def test_ids_hash_only_the_keys_a_family_uses():
    early = [C.load(None, {"model.family": "early", "vision.width": w}) for w in (16, 32)]
    blind = [C.load(None, {"model.family": "blind", "vision.patch_size": p}) for p in (4, 8)]
    late = [C.load(None, {"model.family": "late", "vision.width": w}) for w in (16, 32)]
    assert C.run_id(early[0]) == C.run_id(early[1]) and C.run_id(blind[0]) == C.run_id(blind[1])
    assert C.run_id(late[0]) != C.run_id(late[1])
    patch = [C.load(None, {"model.family": "early", "vision.patch_size": p}) for p in (4, 8)]
    assert C.run_id(patch[0]) != C.run_id(patch[1])
    sweep = expand({"recipes": {"baseline": BASE}, "grid": {"vision.width": [16, 32]}})
    assert len(sweep.runs) == 1  # identical models are one run


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_nan_and_inf_rejected_in_configs_and_resources(value):
    with pytest.raises(ConfigError, match="optim.lr: expected a finite number"):
        C.load(None, [f"optim.lr={value.strip('.')}"])
    raw = yaml.safe_load(f"recipes: {{baseline: {{optim: {{lr: {value}}}}}}}")
    with pytest.raises(ConfigError, match="optim.lr"):
        expand(raw)
    for res in (f"{{cpus: {value}}}", f"{{slurm: {{mem_gb: {value}}}}}", f"{{ray: {{task: {{memory: {value}}}}}}}"):
        with pytest.raises(ConfigError, match="resources"):
            expand(yaml.safe_load(f"recipes: {{baseline: {{}}}}\nresources: {res}"))


def test_engine_options_from_the_plan_and_the_sweep_file():
    jobs = [Job(None, Path("x"), planned_s=s) for s in (30.0, 600.0)]
    assert slurm_backend.timeout_min([[j] for j in jobs]) == 20 + 10
    assert slurm_backend.timeout_min([jobs]) == 21 + 10  # a pack: its members one after another at worst
    init, task = split_options({"cpus": 2, "gpus": 0, "ray": {"address": "auto",
                                                               "task": {"memory": 2**30, "accelerator_type": "A100"}}})
    assert init == {"address": "auto"} and task == {"num_cpus": 2, "num_gpus": 0, "memory": 2**30,
                                                     "accelerator_type": "A100"}
    with pytest.raises(ConfigError, match="resources.ray.task.max_retries"):
        split_options({"cpus": 1, "gpus": 0, "ray": {"task": {"max_retries": 3}}})


def test_lock_takes_over_a_stale_holder_and_never_a_live_one(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from scaling.sweep import lock; "
                               "held = lock.acquire(sys.argv[1]); print('held', flush=True); time.sleep(60)",
                               str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert lock.is_locked(tmp_path) and lock.holder(tmp_path)["pid"] == holder.pid
        t0 = time.monotonic()
        with pytest.raises(lock.LockBusy, match=f"pid {holder.pid}"):
            lock.acquire(tmp_path, wait_s=0.5)
        assert time.monotonic() - t0 < 5  # bounded, not forever
    finally:
        holder.kill()
        holder.wait()
    # a holder on another host whose heartbeat stopped (a lost node; its flock survived on NFS):
    (tmp_path / lock.LOCK).write_text(json.dumps({"host": "node-gone", "pid": 1}))
    old = time.time() - lock.STALE_S - 5
    os.utime(tmp_path / lock.LOCK, (old, old))
    assert lock.is_stale(lock.holder(tmp_path))
    held = lock.acquire(tmp_path, wait_s=0.5)
    try:
        assert lock.holder(tmp_path)["pid"] == os.getpid()
    finally:
        held.release()


def test_a_run_in_two_folders_or_a_key_twice_is_an_error(done, tmp_path):
    import shutil

    _, out = fresh(done, tmp_path)
    runs = sorted((out / "runs").iterdir())
    mixed = tmp_path / "mixed"  # two trainings' folders of the same run side by side
    for i, src in enumerate([runs[0], runs[0], runs[1]]):
        shutil.copytree(src, mixed / f"copy{i}")
        (mixed / f"copy{i}" / "spec.json").unlink()
    with pytest.raises(DataError, match=f"run '{runs[0].name}' also in .*copy0: a run appears twice"):
        scaling.load(mixed)
    with pytest.raises(DataError, match="a run appears twice"):
        scaling.load_runs(mixed)
    # a record written twice under one key, in a run committed without checksums (older code)
    victim = runs[1]
    lines = (victim / "metrics.jsonl").read_bytes().splitlines(True)
    (victim / "metrics.jsonl").write_bytes(b"".join(lines + lines[-1:]))
    _drop_checksums(victim)
    with pytest.raises(DataError, match=r"metrics.jsonl: 2 records share a key \(run_id="):
        scaling.load(out)
