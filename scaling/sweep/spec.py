"""Sweep files: parsing, expansion into runs, isoFLOP planning.

A sweep file (YAML) has these top-level keys; anything else is an error.

    name:       optional label (default: the file's stem)
    recipes:    named configs; `baseline` is required, the others are patches of it
    grid:       {config.key: [values]}: the cartesian product of the axes
    zip:        {config.key: [values]} (or a list of them): axes that move together
    exclude:    [{key: value, ...}]: drop runs matching every key/value of one entry
    isoflop:    {budgets: [FLOPs], sizes: [widths or {key: value}]}: train.tokens is derived
    resources:  per-run resources and backend settings (never part of a run id)
    stage:      a row of `scaling.sweep.stages`: `pretrain` (default) or `rl`
    pretrained: (stage: rl only) list of pretraining configs, each {config.key: value} over the
                defaults (plus an optional `label`), pretrained once each before the RL runs

Every (recipe, grid point[, budget, size]) becomes a `RunSpec`: a resolved, validated `RunConfig`
whose run id is the hash of that config. `recipe` may itself be an axis (to restrict or zip it);
otherwise every recipe runs the whole grid. The whole sweep is validated before anything runs.

With `stage: rl` the recipes are RL configs (`scaling.rl.config`, strict keys), the axes are RL
keys, `recipe` and `pretrained` (an index into the `pretrained:` list, or an entry's label;
without that axis every pretrained model runs the whole grid). Every RL run is bound to its
pretrained run, so its id (`scaling.rl.config.run_id`) includes the pretrained run's id; the
pretraining runs are ordinary `RunSpec`s (`Sweep.upstream`, `Sweep.pretrained`).

Each stage expands its own sweeps (its row's `expand`: `pretrain_spec.expand_pretrain`,
`rl_spec.expand_rl`); the parsing they share is in `grid` and `resources`.
"""

from __future__ import annotations

from pathlib import Path

from scaling import config as C
from scaling.errors import ConfigError
from scaling.sweep import stages
from scaling.sweep.grid import config_keys, grid_points, run_cost
from scaling.sweep.resources import RESOURCE_KEYS
from scaling.sweep.runspec import DEFAULT_STAGE, RunSpec, Sweep

# `report` (what `scaling report` compares) is read by scaling.report, not here; never part of a run id.
COMMON_KEYS = ("name", "description", "stage", "recipes", "grid", "zip", "exclude", "isoflop", "resources", "report")
__all__ = ["COMMON_KEYS", "RESOURCE_KEYS", "RunSpec", "Sweep", "config_keys", "expand", "grid_points", "load_sweep",
           "run_cost", "top_keys"]


def top_keys() -> tuple[str, ...]:
    return stages.top_keys(COMMON_KEYS)


def load_sweep(path: str | Path) -> Sweep:
    """Read, expand and validate a sweep file; every error is a one-line ConfigError."""
    path = Path(path)
    raw = C.read_mapping(path)
    return expand(raw, source=str(path), name=path.stem)


def expand(raw: dict, source: str = "sweep", name: str = "sweep") -> Sweep:
    """A sweep file's mapping -> its runs, expanded by its stage's row (`stages.get(stage).expand`)."""
    known = top_keys()
    for key in raw:
        if key not in known:
            raise ConfigError(f"{source}: {key}: unknown key (known: {', '.join(known)})")
    stage = stages.get(raw.get("stage", DEFAULT_STAGE), f"{source}: stage")
    stages.lineage(stage.name)  # a cycle or an unknown upstream stage is an error before anything is built
    sweep = stage.expand(raw, source, name, stage.name)
    stages.check(sweep, source)
    for run in sweep.all_runs:  # a pretraining run's evaluations must fit in its steps
        if isinstance(run.cfg, C.RunConfig) and "steps" in run.cost:
            try:
                C.check_steps(run.cfg, int(run.cost["steps"]))
            except ConfigError as err:
                raise ConfigError(f"{source}: run {run.label}: {err}") from None
    return sweep
