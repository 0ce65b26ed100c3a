"""The engine table: one row per engine (name, runner entry, option schema), read by the runner and
the sweep spec; an unknown engine is a one-line error naming the table's choices; a new engine is
one row (shown with a throwaway engine that runs a real sweep)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml

import scaling
from scaling.errors import ConfigError
from scaling.sweep import engines, runner, spec
from scaling.sweep.spec import load_sweep

FAKE = f"{Path(__file__).resolve().parent / 'sweep_fake_trainer.py'}:train"
EXECUTE = ["packs", "workers", "retries", "trainer", "resources", "sweep_dir", "on_event"]
CALLS: list = []


def _sweep(tmp_path: Path, **resources) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"recipes": {"baseline": {"model": {"width": 16},
                                                             "train": {"tokens": 20000, "batch_size": 4}}},
                                    "grid": {"model.width": [16, 32]}, "resources": resources}))
    return path


def test_the_table_names_local_ray_and_slurm_with_one_entry_signature():
    assert engines.NAMES == ("local", "ray", "slurm")
    for engine in engines.ENGINES.values():
        execute = engine.execute()  # imports the module only: Ray and submitit stay optional
        assert list(inspect.signature(execute).parameters) == EXECUTE, engine.name
        assert engine.about and engine.name in engine.entry


def test_the_spec_accepts_exactly_the_engines_option_keys(tmp_path):
    assert set(engines.OPTION_KEYS) == {"ray", "slurm"} <= set(spec.RESOURCE_KEYS)
    sweep = load_sweep(_sweep(tmp_path))
    assert {k: sweep.resources[k] for k in engines.OPTION_KEYS} == {"ray": {}, "slurm": {}}
    with pytest.raises(ConfigError, match=r"resources.mpi: unknown key \(known: cpus, gpus, retries, pack, ray, "
                                          r"slurm\)"):
        load_sweep(_sweep(tmp_path, mpi={}))


def test_an_unknown_engine_is_one_line_naming_the_choices(tmp_path):
    with pytest.raises(ConfigError) as err:
        engines.get("mpi")
    assert str(err.value) == "--backend: unknown backend 'mpi' (choose from local, ray, slurm)"
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match="unknown backend 'mpi'"):
        runner.run_sweep(load_sweep(_sweep(tmp_path)), out, backend="mpi", trainer=FAKE)
    assert not out.exists()


@pytest.mark.parametrize("backend, resources, match", [
    ("slurm", {"gpus": 0.5}, "resources.gpus: 0.5 is a fraction of a GPU"),
    ("ray", {"ray": {"task": {"num_gpus": 1}}}, r"resources.ray.task.num_gpus: set by the launcher"),
    ("ray", {"ray": {"task": "big"}}, r"resources.ray.task: expected a mapping"),
])
def test_each_engine_checks_its_options_before_anything_is_written(tmp_path, backend, resources, match):
    sweep = load_sweep(_sweep(tmp_path, **resources))
    with pytest.raises(ConfigError, match=match):
        engines.get(backend).check(sweep.resources)
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=match):
        runner.run_sweep(sweep, out, backend=backend, trainer=FAKE)
    assert not out.exists()
    engines.get("local").check(sweep.resources)  # the local engine takes them all


def execute_inline(packs, *, workers, retries, trainer, resources, sweep_dir, on_event):
    """A throwaway engine: the local engine, counting its calls."""
    CALLS.append(len(packs))
    engines.get("local").execute()(packs, workers=workers, retries=retries, trainer=trainer, resources=resources,
                                   sweep_dir=sweep_dir, on_event=on_event)


def test_a_new_engine_is_one_row(tmp_path, monkeypatch):
    row = engines.Engine("inline", "the local engine, counted", f"{__name__}:execute_inline", None,
                         lambda resources: None)
    monkeypatch.setitem(engines.ENGINES, "inline", row)
    CALLS.clear()
    result = runner.run_sweep(load_sweep(_sweep(tmp_path)), tmp_path / "out", backend="inline", trainer=FAKE)
    assert result.ok and CALLS == [2]
    assert len(scaling.load(tmp_path / "out")["run_id"].unique()) == 2
