"""Sweep files: expansion, run ids, isoFLOP planning, and bad input (one line, exit code 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scaling import config as C
from scaling import flops
from scaling.cli import main
from scaling.errors import ConfigError
from scaling.sweep.spec import expand, load_sweep

ROOT = Path(__file__).resolve().parents[1]
BASE = {"model": {"width": 16}, "data": {"val_examples": 16},
        "train": {"tokens": 20000, "batch_size": 4, "eval_points": 3}}


def sweep(**parts) -> dict:
    return {"recipes": {"baseline": BASE, **parts.pop("recipes", {})}, **parts}


def ids(raw: dict) -> list[str]:
    return [r.run_id for r in expand(raw).runs]


def test_grid_zip_exclude_expand_to_resolved_runs():
    raw = sweep(recipes={"late": {"model": {"family": "late"}}},
                grid={"model.width": [16, 32], "seed": [0, 1]},
                zip={"optim.lr": ["3e-3", 1e-3], "optim.warmup": [0.1, 0.05]},
                exclude=[{"recipe": "late", "model.width": 32}])
    runs = expand(raw).runs
    assert len(runs) == 2 * 2 * 2 * 2 - 4  # recipes x widths x seeds x zip, minus late@32
    assert {r.recipe for r in runs} == {"baseline", "late"}
    assert not [r for r in runs if r.recipe == "late" and r.cfg.model.width == 32]
    lrs = {(r.cfg.optim.lr, r.cfg.optim.warmup) for r in runs}
    assert lrs == {(3e-3, 0.1), (1e-3, 0.05)}  # zipped axes move together; "3e-3" is a number
    late = next(r for r in runs if r.recipe == "late")
    assert late.cfg.model.family == "late" and late.cfg.train.batch_size == 4  # a patch of the baseline
    assert late.cfg.model.depth == C.ladder(16)[0]  # resolved
    assert len({r.run_id for r in runs}) == len(runs)
    assert all(r.run_id == C.run_id(r.cfg) for r in runs)
    assert "late" in late.label and "model.width=16" in late.label
    assert late.cost["compute/flops"] == flops.run_cost(late.cfg)["compute/flops"]


def test_exclude_drops_runs_before_they_are_validated():
    raw = sweep(grid={"model.heads": [1, 3], "model.width": [16, 48]}, exclude=[{"model.heads": 3, "model.width": 16}])
    assert sorted((r.cfg.model.heads, r.cfg.model.width) for r in expand(raw).runs) == [(1, 16), (1, 48), (3, 48)]
    raw = sweep(isoflop={"budgets": [1e3, 1e10], "sizes": [16]}, exclude=[{"budget": 1e3}])
    assert [r.budget for r in expand(raw).runs] == [1e10]


def test_run_ids_are_stable_new_values_add_runs_and_recipe_changes_change_ids():
    base = sweep(grid={"model.width": [16, 32]})
    first = ids(base)
    assert ids(base) == first  # stable
    more = ids(sweep(grid={"model.width": [16, 32, 48]}))
    assert set(first) < set(more) and len(more) == 3  # only the new value is new
    changed = ids({"recipes": {"baseline": {**BASE, "optim": {"lr": 1e-3}}}, "grid": {"model.width": [16, 32]}})
    assert not set(changed) & set(first)
    # resources are not part of a run id
    assert ids({**base, "resources": {"cpus": 2, "retries": 5}}) == first


def test_recipe_axis_restricts_and_names_recipes():
    raw = sweep(recipes={"late": {"model.family": "late"}, "blind": {"model": {"family": "blind"}}},
                grid={"recipe": ["late"], "seed": [0, 1]})
    assert {r.recipe for r in expand(raw).runs} == {"late"}
    with pytest.raises(ConfigError, match="no recipe named 'nope'"):
        expand(sweep(grid={"recipe": ["nope"]}))


def test_isoflop_runs_land_within_two_percent_of_their_budget():
    raw = sweep(isoflop={"budgets": ["3e9", 1e10], "sizes": [16, {"model.width": 32, "model.depth": 3}]},
                grid={"seed": [0]})
    runs = expand(raw).runs
    assert len(runs) == 4
    for r in runs:
        exact = flops.run_cost(r.cfg)["compute/flops"]
        assert abs(exact / r.budget - 1) <= 0.02, r.label
        assert r.cost["compute/flops"] == exact
    assert {r.cfg.model.depth for r in runs if r.cfg.model.width == 32} == {3}
    assert len({r.cfg.train.tokens for r in runs}) == 4  # tokens derived per (budget, size)


@pytest.mark.parametrize("raw, message", [
    (sweep(grid={"model.widht": [16]}), "grid.model.widht: unknown key 'model.widht'"),
    (sweep(grid={"width": [16]}), "did you mean model.width, vision.width"),
    (sweep(grdi={"seed": [0]}), "grdi: unknown key"),
    (sweep(grid={"seed": []}), "grid.seed: empty axis"),
    (sweep(grid={"seed": 3}), "grid.seed: expected a list"),
    (sweep(grid={"seed": [0]}, exclude=[{"seed": 0}]), "holds no runs"),
    ({"recipes": {"late": BASE}}, "`baseline` recipe is required"),
    (sweep(recipes={"late": {"model": {"famly": "late"}}}), "recipes.late: model.famly: unknown key"),
    (sweep(zip={"seed": [0, 1], "optim.lr": [1e-3]}), "equal lengths"),
    (sweep(grid={"seed": [0]}, zip={"seed": [1]}), "appears twice"),
    (sweep(isoflop={"budgets": [1e10], "sizes": [16], "min": 3}), "isoflop.min: unknown key"),
    (sweep(isoflop={"budgets": [1e10], "sizes": [16]}, grid={"train.tokens": [100]}), "derived from the budget"),
    (sweep(resources={"gpu": 1}), "resources.gpu: unknown key"),
])
def test_bad_sweep_files_are_one_line_errors(raw, message):
    with pytest.raises(ConfigError) as err:
        expand(raw, source="s.yaml")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_rejected_axis_value_names_the_run_before_anything_runs():
    with pytest.raises(ConfigError) as err:
        expand(sweep(grid={"model.heads": [1, 3], "seed": [0]}), source="s.yaml")
    msg = str(err.value)
    assert msg.startswith("s.yaml: run baseline model.heads=3 seed=0: ") and "does not divide" in msg
    with pytest.raises(ConfigError, match="run baseline train.tokens=10: .*less than one training step"):
        expand(sweep(grid={"train.tokens": [20000, 10]}), source="s.yaml")


def test_budget_too_small_names_the_run_and_the_minimum():
    one_step = flops.step_cost(C.build({}, {"model.width": 16, "train.batch_size": 4})).flops
    with pytest.raises(ConfigError) as err:
        expand(sweep(isoflop={"budgets": [1e3], "sizes": [16, 32]}), source="s.yaml")
    msg = str(err.value)
    assert "run baseline budget=1e+03 model.width=16" in msg and f"minimum is {one_step:.3g}" in msg
    with pytest.raises(ConfigError, match=r"within 2% .* minimum budget that always fits this size is"):
        expand(sweep(isoflop={"budgets": [1.3 * one_step], "sizes": [16]}), source="s.yaml")


def _write(tmp_path, raw) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys):
    bad = _write(tmp_path, sweep(grid={"model.widht": [16]}))
    for cmd in (["sweep", "plan", str(bad)], ["sweep", "run", str(bad), "--out", str(tmp_path / "o")]):
        assert main(cmd) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "model.widht" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()  # nothing was created, nothing trained
    assert main(["sweep", "status", str(tmp_path / "missing")]) == 2
    assert main(["sweep", "plan", str(tmp_path / "missing.yaml")]) == 2


def test_cli_bad_input_in_a_subprocess(tmp_path):
    bad = _write(tmp_path, sweep(grid={"optim.schedule": ["cosine", "linear"]}))
    proc = subprocess.run([sys.executable, "-c", "from scaling.cli import entry; entry()", "sweep", "run",
                           str(bad), "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "optim.schedule=linear" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_plan_lists_every_run_with_tokens_flops_and_time(capsys):
    assert main(["sweep", "plan", str(ROOT / "sweeps" / "example.yaml"), "--workers", "2"]) == 0
    out = capsys.readouterr().out
    runs = load_sweep(ROOT / "sweeps" / "example.yaml").runs
    for r in runs:
        assert r.run_id in out
    assert "estimated time" in out and "FLOPs" in out and f"{len(runs)} runs" in out
