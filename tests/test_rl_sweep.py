"""RL sweeps (`stage: rl`) through the sweep launcher: the pretraining runs first, then the RL
runs from them; records, run ids, resume (a second launch runs nothing, a new seed runs only its
run), status, plan, and one-line errors naming the key (exit code 2)."""

from __future__ import annotations

import json

import pytest
import yaml

import scaling
from scaling import config as C
from scaling import records
from scaling.cli import main
from scaling.errors import ConfigError
from scaling.rl import config as R
from scaling.sweep import runner
from scaling.sweep.spec import expand, load_sweep
from scaling.sweep.status import collect
from scaling.sweep.worker import read_config

PRE = {"label": "tiny", "model.width": 16, "data.val_examples": 8, "train.batch_size": 4,
       "train.eval_batch_size": 8, "train.tokens": 4 * 320 * 4, "train.eval_points": 1}
RL = {"steps": 2, "checkpoint_every": 2, "problems": {"train": 8, "heldout": 4}, "grpo": {"problems": 2},
      "sampling": {"group": 2, "max_len": 3}, "eval": {"points": 1, "samples": 2, "k": "1,2",
                                                       "train_problems": 4, "chunk": 4}}


def sweep_file(tmp_path, seeds=(0, 1), **extra) -> str:
    raw = {"name": "tiny_rl", "stage": "rl", "pretrained": [PRE], "recipes": {"baseline": RL},
           "grid": {"seed": list(seeds)}, **extra}
    path = tmp_path / "rl.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return str(path)


@pytest.mark.slow  # about 30 s
def test_rl_sweep_runs_pretraining_then_rl_resumes_and_adds_only_new_runs(tmp_path, capsys):
    out = tmp_path / "out"
    sweep = load_sweep(sweep_file(tmp_path))
    assert sweep.stage == "rl" and len(sweep.pretrained) == 1 and len(sweep.runs) == 2
    pre = sweep.pretrained[0]
    result = runner.run_sweep(sweep, out, workers=2)
    assert result.ok and result.total == 3 and result.counts == {"done": 3}, result.failed
    pre_dir = out / "pretrained" / "runs" / pre.run_id
    assert records.read_summary(pre_dir)["status"] == "done"

    df = scaling.load(out)  # the RL records only
    assert set(df["run_id"]) == {r.run_id for r in sweep.runs} and not df.duplicated(["run_id", "step"]).any()
    assert set(df["stage"]) == {"rl"} and set(df["pretrained"]) == {pre.run_id}
    for col in ("rl/flops", "eval/pass@1/heldout", "eval/pass@2/train", "seed", "recipe", "sampling.group",
                "pretrained_config.model.width", "pretrained/run_id", "label"):
        assert col in df.columns, col
    assert set(df["pretrained_config.model.width"]) == {16} and set(df["seed"]) == {0, 1}
    for spec in sweep.runs:  # the run id is scaling.rl's hash, bound to the pretrained run
        cfg = R.build({"recipe": "baseline", **RL, "seed": spec.cfg.seed})
        assert spec.run_id == R.run_id(R.with_pretrained(cfg, pre.run_id))
        assert json.loads((out / "runs" / spec.run_id / "config.json").read_text())["run_id"] == spec.run_id
    assert pre.run_id == C.run_id(C.build({}, {k: v for k, v in PRE.items() if k != "label"}))

    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("metrics.jsonl")}
    again = runner.run_sweep(load_sweep(sweep_file(tmp_path)), out)
    assert again.todo == [] and again.skipped == 3
    assert {p: p.stat().st_mtime_ns for p in out.rglob("metrics.jsonl")} == mtimes

    more = load_sweep(sweep_file(tmp_path, seeds=(0, 1, 2)))
    new = [r.run_id for r in more.runs if r.cfg.seed == 2]
    result = runner.run_sweep(more, out)
    assert result.todo == new and result.counts == {"done": 1}
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    assert len(set(scaling.load(out)["run_id"])) == 3

    info = collect(out)
    assert info["total"] == 4 and info["counts"]["done"] == 4
    assert main(["sweep", "status", str(out)]) == 0
    assert main(["sweep", "plan", sweep_file(tmp_path), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert pre.run_id in text and "0 to run" in text and "rl" in text


def test_rl_run_dirs_hold_what_the_rl_trainer_needs(tmp_path):
    sweep = load_sweep(sweep_file(tmp_path))
    jobs = runner.prepare(sweep, tmp_path / "out")
    assert [j.stage for j in jobs] == ["pretrain", "rl", "rl"]
    job = jobs[1]
    cfg = read_config(job.run_dir)  # the worker reads an RL config.json as an RLConfig
    assert isinstance(cfg, R.RLConfig) and cfg == job.spec.cfg and R.run_id(cfg) == job.spec.run_id
    spec = json.loads((job.run_dir / "spec.json").read_text())
    assert spec["stage"] == "rl" and spec["pretrained"] == sweep.pretrained[0].run_id
    assert (job.run_dir / spec["pretrained_dir"]).resolve() == jobs[0].run_dir.resolve()
    from scaling.rl.run import pretrained_dir_of

    assert pretrained_dir_of(job.run_dir, cfg) == jobs[0].run_dir.resolve()


def _raw(**changes) -> dict:
    raw = {"stage": "rl", "pretrained": [{"model.width": 16, "train.tokens": 20000}, {"label": "big", "model.width": 32}],
           "recipes": {"baseline": {"steps": 5}}, "grid": {"seed": [0, 1]}}
    raw.update(changes)
    return {k: v for k, v in raw.items() if v is not None}


def test_axes_pretrained_by_index_or_label_and_exclude():
    assert len(expand(_raw()).runs) == 4
    by_label = expand(_raw(grid={"seed": [0], "pretrained": ["big"]}))
    assert [r.pretrained.run_id for r in by_label.runs] == [by_label.pretrained[0].run_id]
    assert len(by_label.pretrained) == 1  # an unused pretrained model is not trained
    zipped = expand(_raw(grid=None, zip={"pretrained": [0, 1], "optim.lr": [1e-3, 3e-4]}))
    assert [(r.point["pretrained"], r.cfg.optim.lr) for r in zipped.runs] == [(0, 1e-3), (1, 3e-4)]
    kept = expand(_raw(exclude=[{"pretrained": "big", "seed": 1}]))
    assert len(kept.runs) == 3
    assert len({r.run_id for r in expand(_raw(grid={"sampling.group": [4, 8]})).runs}) == 4


@pytest.mark.parametrize("changes, culprit", [
    ({"stage": "finetune"}, "stage"),
    ({"recipes": {"baseline": {"grpo.lr": 0.1}}}, "grpo.lr"),
    ({"grid": {"samplng.group": [2]}}, "samplng.group"),
    ({"grid": {"pretrained": [0, 5]}}, "pretrained"),
    ({"grid": {"pretrained": ["huge"]}}, "huge"),
    ({"exclude": [{"pretrained": 7}]}, "pretrained"),
    ({"pretrained": [{"model.widht": 16}]}, "model.widht"),
    ({"pretrained": []}, "pretrained"),
    ({"pretrained": None}, "pretrained"),
    ({"recipes": {"baseline": {"pretrained": "abc"}}}, "pretrained"),
    ({"grid": {"sampling.group": [4, 1]}}, "sampling.group"),
    ({"isoflop": {"budgets": [1e9], "sizes": [16]}}, "isoflop"),
])
def test_bad_rl_sweeps_are_one_line_errors_naming_the_key(changes, culprit):
    with pytest.raises(ConfigError, match=culprit.replace(".", r"\.")):
        expand(_raw(**changes), source="s.yaml")


def test_pretrained_needs_stage_rl_and_cli_exits_2(tmp_path, capsys):
    with pytest.raises(ConfigError, match="pretrained"):
        expand({"recipes": {"baseline": {}}, "pretrained": [{"model.width": 16}]})
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_raw(grid={"grpo.lr": [0.1]})))
    out = tmp_path / "out"
    assert main(["sweep", "run", str(bad), "--out", str(out)]) == 2
    assert "grpo.lr" in capsys.readouterr().err and not out.exists()
    assert main(["sweep", "plan", str(bad)]) == 2
    assert main(["rl-sweep", str(bad), "--out", str(out)]) == 2 and not out.exists()
