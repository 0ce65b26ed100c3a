"""Stages as a seam: a stage is one row of `scaling.sweep.stages`; the launcher runs a sweep's stages in
dependency order, each in its own folder, resumably. A throwaway stage (`polish`, starting from
pretraining) is added here with one row and run with stand-in trainers (no JAX)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scaling import config as C
from scaling import records
from scaling.errors import ConfigError
from scaling.sweep import runner, stages
from scaling.sweep.grid import run_cost
from scaling.sweep.pretrain_spec import pretrained_list, read_config, stored_config
from scaling.sweep.resources import parse_resources
from scaling.sweep.runspec import RunSpec, Sweep
from scaling.sweep.spec import expand
from scaling.sweep.status import collect

HERE = Path(__file__).resolve().parent
FAKE = f"{HERE / 'sweep_fake_trainer.py'}:train"
POLISH_TRAINER = f"{Path(__file__).resolve()}:polish_train"
PRE = {"model.width": 16, "train.tokens": 20000, "train.batch_size": 4, "train.eval_points": 4}


def polish_train(cfg, run_dir):
    """The polish stage's stand-in trainer: refuses to start unless the run it starts from is done
    (so a wrong launch order fails the run), then trains like the fake trainer."""
    run_dir = Path(run_dir)
    spec = json.loads((run_dir / "spec.json").read_text())
    upstream = (run_dir / spec["pretrained_dir"]).resolve()
    summary = records.read_summary(upstream)
    if summary is None or summary["status"] != "done":
        raise RuntimeError(f"polish started before its pretrained run {upstream} was done")
    loaded = importlib.util.spec_from_file_location("sweep_fake_trainer", HERE / "sweep_fake_trainer.py")
    fake = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(fake)
    return fake.train(cfg, run_dir)


def expand_polish(raw: dict, source: str, name: str, stage: str) -> Sweep:
    """One polish run per (pretrained model, seed): the pretrained config, trained again as recipe `polish`."""
    pretrained = pretrained_list(raw, source)
    runs = []
    for _, pre in pretrained:
        for seed in raw["grid"]["seed"]:
            overrides = {k: v for k, v in pre.point.items() if k != "pretrained"}
            cfg = C.build({"recipe": "polish"}, {**overrides, "seed": seed}, source=source)
            runs.append(RunSpec(run_id=C.run_id(cfg), label=f"polish seed={seed} from {pre.label}", cfg=cfg,
                                point={"seed": seed}, cost=run_cost(cfg), stage=stage, upstream=(pre,)))
    return Sweep(name=str(raw.get("name") or name), source=source, runs=runs,
                 resources=parse_resources(raw, source), raw=raw, stage=stage,
                 upstream={"pretrain": [pre for _, pre in pretrained]})


POLISH = stages.Stage("polish", trainer=POLISH_TRAINER, report="scaling.report.pretrain", expand=expand_polish,
                      stored_config=stored_config, read_config=read_config, run_id=C.run_id,
                      starts_from=("pretrain",), tagged=True)


def _row(name: str, *starts_from: str) -> stages.Stage:
    return stages.Stage(name, trainer=FAKE, report="scaling.report.pretrain", expand=expand_polish,
                        stored_config=stored_config, read_config=read_config, run_id=C.run_id,
                        starts_from=starts_from, folder=name)


def _raw(seeds=(0, 1)) -> dict:
    return {"name": "tiny_polish", "stage": "polish", "pretrained": [PRE], "recipes": {"baseline": {}},
            "grid": {"seed": list(seeds)}}


def test_a_stage_added_with_one_row_runs_after_its_upstream_in_its_folder_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setitem(stages.STAGES, "polish", POLISH)
    sweep = expand(_raw(), source="polish.yaml")
    assert sweep.stage == "polish" and len(sweep.runs) == 2 and len(sweep.pretrained) == 1
    assert stages.launch_order(sweep) == ["pretrain", "polish"]
    out = tmp_path / "out"
    jobs = runner.prepare(sweep, out)
    assert [j.stage for j in jobs] == ["pretrain", "polish", "polish"]  # upstream first

    result = runner.run_sweep(sweep, out, trainers={"pretrain": FAKE}, workers=2)
    assert result.ok and result.counts == {"done": 3}, result.failed
    pre = sweep.pretrained[0]
    assert records.read_summary(out / "pretrained" / "runs" / pre.run_id)["status"] == "done"
    for run in sweep.runs:
        run_dir = out / "runs" / run.run_id
        assert records.read_summary(run_dir)["status"] == "done"
        spec = json.loads((run_dir / "spec.json").read_text())
        assert spec["stage"] == "polish" and spec["pretrained"] == pre.run_id
        assert (run_dir / spec["pretrained_dir"]).resolve() == (out / "pretrained" / "runs" / pre.run_id).resolve()
        # the stand-in trainer refused to start before its upstream run was committed; check the clocks too
        assert (run_dir / "summary.json").stat().st_mtime_ns >= \
            (out / "pretrained" / "runs" / pre.run_id / "summary.json").stat().st_mtime_ns
    index = json.loads((out / "pretrained" / "sweep.json").read_text())
    assert index["stage"] == "pretrain" and index["runs"] == [pre.run_id]
    assert json.loads((out / "sweep.json").read_text())["pretrained"] == [pre.run_id]
    info = collect(out)
    assert info["total"] == 3 and info["counts"]["done"] == 3
    assert [r["stage"] for r in info["runs"]] == ["pretrain", "polish", "polish"]

    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("metrics.jsonl")}
    again = runner.run_sweep(expand(_raw(), source="polish.yaml"), out, trainers={"pretrain": FAKE})
    assert again.todo == [] and again.skipped == 3
    more = expand(_raw(seeds=(0, 1, 2)), source="polish.yaml")
    result = runner.run_sweep(more, out, trainers={"pretrain": FAKE})
    assert result.todo == [r.run_id for r in more.runs if r.cfg.seed == 2] and result.counts == {"done": 1}
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes  # nothing trained twice


def test_a_run_whose_upstream_failed_is_not_started(tmp_path, monkeypatch):
    monkeypatch.setitem(stages.STAGES, "polish", POLISH)
    raw = {**_raw(seeds=(0,)), "pretrained": [{**PRE, "model.mlp_ratio": 6}]}  # the fake trainer's bug switch
    result = runner.run_sweep(expand(raw), tmp_path / "out", trainers={"pretrain": FAKE}, retries=0)
    details = [detail for _, detail in result.failed]
    assert len(details) == 2 and any("not started: its pretrained run" in d for d in details)


def test_lineage_is_a_topological_order_for_chains_and_joins(monkeypatch):
    for row in (_row("sft", "pretrain"), _row("rl2", "sft"), _row("encoder"), _row("text"),
                _row("adapter", "encoder", "text"), _row("joint", "adapter", "text")):
        monkeypatch.setitem(stages.STAGES, row.name, row)
    assert stages.lineage("pretrain") == ["pretrain"]
    assert stages.lineage("rl") == ["pretrain", "rl"]
    assert stages.lineage("rl2") == ["pretrain", "sft", "rl2"]
    assert stages.lineage("adapter") == ["encoder", "text", "adapter"]
    order = stages.lineage("joint")
    assert order == ["encoder", "text", "adapter", "joint"]  # `text` once, before both stages that need it
    for stage in order:
        assert all(order.index(up) < order.index(stage) for up in stages.get(stage).starts_from)


def test_cycles_and_unknown_stages_are_one_line_config_errors(monkeypatch):
    monkeypatch.setitem(stages.STAGES, "a", _row("a", "b"))
    monkeypatch.setitem(stages.STAGES, "b", _row("b", "a"))
    monkeypatch.setitem(stages.STAGES, "c", _row("c", "nowhere"))
    with pytest.raises(ConfigError, match="circle") as err:
        stages.lineage("a")
    assert "\n" not in str(err.value) and "a -> b -> a" in str(err.value)
    with pytest.raises(ConfigError, match="nowhere"):
        stages.lineage("c")
    with pytest.raises(ConfigError, match=r"s\.yaml: stage: unknown stage 'finetune'"):
        expand({"stage": "finetune", "recipes": {"baseline": {}}}, source="s.yaml")
    with pytest.raises(ConfigError, match="circle"):
        expand({"stage": "a", "recipes": {"baseline": {}}}, source="s.yaml")


def test_an_expansion_that_binds_runs_to_a_stage_outside_its_lineage_is_refused(monkeypatch):
    def wrong(raw, source, name, stage):
        sweep = expand_polish(raw, source, name, stage)
        return Sweep(sweep.name, sweep.source, sweep.runs, sweep.resources, sweep.raw, stage, {"rl": sweep.pretrained})

    monkeypatch.setitem(stages.STAGES, "polish", POLISH)
    monkeypatch.setitem(stages.STAGES, "bad", stages.Stage("bad", trainer=FAKE, report="", expand=wrong,
                                                           stored_config=stored_config, read_config=read_config,
                                                           run_id=C.run_id, starts_from=("pretrain",)))
    with pytest.raises(ConfigError, match="does not start from stage 'rl'"):
        expand({**_raw(), "stage": "bad"})


def test_the_stage_table_and_the_planner_do_not_import_jax():
    code = ("import sys; import scaling.sweep.stages, scaling.sweep.runner, scaling.sweep.worker; "
            "print('jax' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"
