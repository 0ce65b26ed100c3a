"""Sweep files: parsing, expansion into runs, isoFLOP planning.

A sweep file (YAML) has these top-level keys; anything else is an error.

    name:       optional label (default: the file's stem)
    recipes:    named configs; `baseline` is required, the others are patches of it
    grid:       {config.key: [values]}: the cartesian product of the axes
    zip:        {config.key: [values]} (or a list of them): axes that move together
    exclude:    [{key: value, ...}]: drop runs matching every key/value of one entry
    isoflop:    {budgets: [FLOPs], sizes: [widths or {key: value}]}: train.tokens is derived
    resources:  per-run resources and backend settings (never part of a run id)
    stage:      `pretrain` (default) or `rl`
    pretrained: (stage: rl only) list of pretraining configs, each {config.key: value} over the
                defaults (plus an optional `label`), pretrained once each before the RL runs

Every (recipe, grid point[, budget, size]) becomes a `RunSpec`: a resolved, validated `RunConfig`
whose run id is the hash of that config. `recipe` may itself be an axis (to restrict or zip it);
otherwise every recipe runs the whole grid. The whole sweep is validated before anything runs.

With `stage: rl` the recipes are RL configs (`scaling.rl.config`, strict keys), the axes are RL
keys, `recipe` and `pretrained` (an index into the `pretrained:` list, or an entry's label;
without that axis every pretrained model runs the whole grid). Every RL run is bound to its
pretrained run, so its id (`scaling.rl.config.run_id`) includes the pretrained run's id; the
pretraining runs are ordinary `RunSpec`s (`Sweep.pretrained`).
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from scaling import config as C
from scaling.errors import ConfigError
from scaling.pack import DEFAULT_PACK, check_pack_size
from scaling.sweep import engines
from scaling.sweep.isoflop import fit_budget, parse_isoflop
from scaling.sweep.keys import check_key, dotted, fmt, same

TOP_KEYS = ("name", "description", "stage", "pretrained", "recipes", "grid", "zip", "exclude", "isoflop",
            "resources", "report")
STAGES = ("pretrain", "rl")
# `report` (what `scaling report` compares) is read by scaling.report, not here; never part of a run id.
RESOURCE_KEYS = ("cpus", "gpus", "retries", "pack") + engines.OPTION_KEYS  # the engines' own options
RECIPE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: the resolved config and where it came from."""

    run_id: str
    label: str  # human-readable: recipe and axis values
    cfg: C.RunConfig
    point: dict  # the axis values that made this run (dotted keys)
    budget: float | None = None  # isoFLOP budget, if any
    cost: dict = field(default_factory=dict)  # scaling.flops.run_cost(cfg) (or rl_spec.rl_cost), when available
    stage: str = "pretrain"  # pretrain | rl (then cfg is a scaling.rl.config.RLConfig)
    pretrained: RunSpec | None = None  # an RL run's starting pretraining run

    @property
    def recipe(self) -> str:
        return self.cfg.recipe

    def config_dict(self) -> dict:
        """What the run's config.json holds (without run_id): for RL runs, as `scaling.rl.run` writes it."""
        if self.stage == "rl":
            return {"stage": "rl", **C.to_dict(self.cfg), "pretrained_config": C.to_dict(self.pretrained.cfg)}
        return C.to_dict(self.cfg)

    def meta(self) -> dict:
        """What the sweep knows about the run beyond its config (stored beside it as spec.json)."""
        out = {"run_id": self.run_id, "label": self.label, "point": self.point, "budget": self.budget}
        if self.stage != "pretrain":
            out["stage"] = self.stage
        if self.pretrained is not None:
            out["pretrained"] = self.pretrained.run_id
            out["pretrained_label"] = self.pretrained.label
        return out


@dataclass(frozen=True)
class Sweep:
    name: str
    source: str
    runs: list[RunSpec]
    resources: dict
    raw: dict  # the parsed sweep file
    stage: str = "pretrain"
    pretrained: list[RunSpec] = field(default_factory=list)  # stage rl: the pretraining runs, in file order

    @property
    def isoflop(self) -> bool:
        return "isoflop" in self.raw

    @property
    def all_runs(self) -> list[RunSpec]:
        """Every run the sweep launches, in launch order (pretraining runs first)."""
        return [*self.pretrained, *self.runs]


# ---------------------------------------------------------------- helpers


def config_keys() -> set[str]:
    return set(C.flatten(C.to_dict(C.RunConfig())))


# ---------------------------------------------------------------- parsing


def _axis(key: str, values: Any, where: str, allowed: set[str], seen: set[str]) -> list:
    check_key(key, where, allowed)
    if key in seen:
        raise ConfigError(f"{where}: axis appears twice (grid and zip may not share a key)")
    if not isinstance(values, list):
        raise ConfigError(f"{where}: expected a list of values, got {values!r}")
    if not values:
        raise ConfigError(f"{where}: empty axis (the grid would hold no runs)")
    seen.add(key)
    return values


def _axes(raw: dict, path: str, allowed: set[str]) -> list[tuple[list[str], list[tuple]]]:
    """Axis groups: the keys that move together (one for a grid axis) and their value tuples."""
    seen: set[str] = set()
    grid = raw.get("grid") or {}
    if not isinstance(grid, dict):
        raise ConfigError(f"{path}: grid: expected a mapping of config key -> list of values")
    groups = [([key], [(v,) for v in _axis(key, values, f"{path}: grid.{key}", allowed, seen)])
              for key, values in grid.items()]
    zips = raw.get("zip") or []
    zips = [zips] if isinstance(zips, dict) else zips
    if not isinstance(zips, list):
        raise ConfigError(f"{path}: zip: expected a mapping (or a list of mappings) of key -> list")
    for i, group in enumerate(zips):
        if not isinstance(group, dict) or not group:
            raise ConfigError(f"{path}: zip[{i}]: expected a non-empty mapping of key -> list")
        columns = {key: _axis(key, values, f"{path}: zip[{i}].{key}", allowed, seen)
                   for key, values in group.items()}
        if len({len(v) for v in columns.values()}) > 1:
            sizes = ", ".join(f"{k}: {len(v)}" for k, v in columns.items())
            raise ConfigError(f"{path}: zip[{i}]: axes that move together need equal lengths ({sizes})")
        groups.append((list(columns), list(zip(*columns.values()))))
    return groups


def _recipes(raw: dict, path: str, build=C.build, reserved: dict | None = None) -> dict[str, dict]:
    """name -> merged dotted overrides; each recipe is built alone (`build`) to validate it.
    `reserved`: keys a recipe may not set -> why."""
    reserved = reserved or {"recipe": "`recipe` is the recipe's name; do not set it inside a recipe"}
    recipes = raw.get("recipes")
    if not isinstance(recipes, dict) or "baseline" not in recipes:
        raise ConfigError(f"{path}: recipes: a mapping with a `baseline` recipe is required")
    base = dotted(recipes["baseline"], f"{path}: recipes.baseline")
    out = {}
    for name, patch in recipes.items():
        name = str(name)
        where = f"{path}: recipes.{name}"
        if not RECIPE_NAME.fullmatch(name):
            raise ConfigError(f"{where}: a recipe name is a word of letters, digits, '_', '-' or '.' "
                              f"starting with a letter")
        patch = base if name == "baseline" else dotted(patch, where)
        for key, why in reserved.items():
            if key in patch:
                raise ConfigError(f"{where}: {why}")
        merged = {**base, **patch}
        build({"recipe": name}, merged, source=where)  # each recipe alone must be a valid config
        out[name] = merged
    return out


def _recipe_axis(groups: list, axis_keys: list, recipes: dict, path: str) -> None:
    """Check a `recipe` axis names known recipes; without one, every recipe runs the grid."""
    if "recipe" not in axis_keys:
        groups.insert(0, (["recipe"], [(r,) for r in recipes]))
        return
    for keys, rows in groups:
        if "recipe" in keys:
            for row in rows:
                value = row[keys.index("recipe")]
                if str(value) not in recipes:
                    raise ConfigError(f"{path}: axis recipe: no recipe named {value!r} "
                                      f"(recipes: {', '.join(recipes)})")


def grid_points(groups: list) -> Iterator[dict[str, Any]]:
    """Every point of the grid (`_axes`' groups): {key: value}, the first group varying slowest."""
    for combo in itertools.product(*(rows for _, rows in groups)):
        point: dict[str, Any] = {}
        for (keys, _), row in zip(groups, combo):
            point.update(dict(zip(keys, row)))
        yield point


def load_sweep(path: str | Path) -> Sweep:
    """Read, expand and validate a sweep file; every error is a one-line ConfigError."""
    path = Path(path)
    raw = C.read_mapping(path)
    return expand(raw, source=str(path), name=path.stem)


def expand(raw: dict, source: str = "sweep", name: str = "sweep") -> Sweep:
    path = source
    for key in raw:
        if key not in TOP_KEYS:
            raise ConfigError(f"{path}: {key}: unknown key (known: {', '.join(TOP_KEYS)})")
    stage = raw.get("stage", "pretrain")
    if stage not in STAGES:
        raise ConfigError(f"{path}: stage: unknown stage {stage!r} (choose from {', '.join(STAGES)})")
    if stage == "rl":
        from scaling.sweep.rl_spec import expand_rl  # RL sweeps live beside their stage's cost model

        return expand_rl(raw, path, name)
    if "pretrained" in raw:
        raise ConfigError(f"{path}: pretrained: only with `stage: rl` (the models RL starts from)")
    recipes = _recipes(raw, path)
    allowed = config_keys()
    groups = _axes(raw, path, allowed)
    axis_keys = [k for keys, _ in groups for k in keys]
    _recipe_axis(groups, axis_keys, recipes, path)

    iso = parse_isoflop(raw, path, allowed, axis_keys)
    if iso is not None:
        budgets, sizes = iso
        groups.append((["budget"], [(b,) for b in budgets]))
        groups.append((["size"], [(s,) for s in sizes]))

    excludes = _excludes(raw, path, allowed | ({"budget"} if iso else set()))
    resources = _resources(raw, path)

    runs: list[RunSpec] = []
    seen: set[str] = set()
    for point in grid_points(groups):
        declared = {**recipes[str(point["recipe"])], **point, **point.get("size", {})}
        if any(_matches(declared, ex) for ex in excludes):
            continue  # excluded before it is built: an excluded run may be one the config rejects
        spec = _make_run(point, recipes, path)
        resolved = {**C.flatten(C.to_dict(spec.cfg)), "budget": spec.budget}
        if spec.run_id in seen or any(_matches(resolved, ex) for ex in excludes):
            continue  # excluded, or the same config reached twice (a repeated value): one run
        seen.add(spec.run_id)
        runs.append(spec)
    if not runs:
        raise ConfigError(f"{path}: the sweep holds no runs (every grid point is excluded)")
    return Sweep(name=str(raw.get("name") or name), source=source, runs=runs, resources=resources, raw=raw)


def _excludes(raw: dict, path: str, allowed: set[str]) -> list[dict]:
    excludes = raw.get("exclude") or []
    if not isinstance(excludes, list):
        raise ConfigError(f"{path}: exclude: expected a list of {{key: value}} mappings")
    out = []
    for i, ex in enumerate(excludes):
        if not isinstance(ex, dict) or not ex:
            raise ConfigError(f"{path}: exclude[{i}]: expected a non-empty mapping of key: value")
        ex = dotted(ex, f"{path}: exclude[{i}]")
        for key in ex:
            check_key(key, f"{path}: exclude[{i}].{key}", allowed)
        out.append(ex)
    return out


def _resources(raw: dict, path: str) -> dict:
    res = raw.get("resources") or {}
    if not isinstance(res, dict):
        raise ConfigError(f"{path}: resources: expected a mapping")
    for key in res:
        if key not in RESOURCE_KEYS:
            raise ConfigError(f"{path}: resources.{key}: unknown key (known: {', '.join(RESOURCE_KEYS)})")
    out = {"cpus": 1, "gpus": 0, "retries": 2, "pack": DEFAULT_PACK, **{k: {} for k in engines.OPTION_KEYS}, **res}
    for key in ("cpus", "gpus", "retries"):
        value = out[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ConfigError(f"{path}: resources.{key}: expected a non-negative number, got {value!r}")
    if out["gpus"] > 1 and out["gpus"] != int(out["gpus"]):
        raise ConfigError(f"{path}: resources.gpus: more than one GPU must be a whole number, got {out['gpus']!r}")
    out["pack"] = check_pack_size(out["pack"], f"{path}: resources.pack")
    for key in engines.OPTION_KEYS:
        if not isinstance(out[key], dict):
            raise ConfigError(f"{path}: resources.{key}: expected a mapping, got {out[key]!r}")
        _finite(out[key], f"{path}: resources.{key}")
    return out


def _finite(node: Any, where: str) -> None:
    """NaN and infinity are refused in every numeric option (engine options included)."""
    if isinstance(node, dict):
        for k, v in node.items():
            _finite(v, f"{where}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _finite(v, f"{where}[{i}]")
    elif isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(f"{where}: expected a finite number, got {node!r}")


def _label(point: dict) -> str:
    parts = [str(point["recipe"])]
    if "budget" in point:
        parts.append(f"budget={point['budget']:.3g}")
    if "size" in point:
        parts += [f"{k}={fmt(v)}" for k, v in point["size"].items()]
    parts += [f"{k}={fmt(v)}" for k, v in point.items() if k not in ("recipe", "budget", "size")]
    return " ".join(parts)


def _make_run(point: dict, recipes: dict[str, dict], path: str) -> RunSpec:
    label = _label(point)
    where = f"{path}: run {label}"
    overrides = dict(recipes[str(point["recipe"])])
    overrides.update({k: v for k, v in point.items() if k not in ("recipe", "budget", "size")})
    overrides.update(point.get("size", {}))
    data = {"recipe": str(point["recipe"])}  # not parsed as YAML: a recipe named `on` stays a name
    cfg = C.build(data, overrides, source=where)
    budget = point.get("budget")
    cost: dict = {}
    if budget is not None:
        cfg, cost = fit_budget(cfg, data, overrides, budget, where, run_cost)
    else:
        try:
            cost = run_cost(cfg)
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}") from None
        if cost.get("steps", 1) < 1:
            raise ConfigError(f"{where}: train.tokens: {cfg.train.tokens} is less than one training step "
                              f"at train.batch_size={cfg.train.batch_size}")
    flat_point = {k: v for k, v in point.items() if k not in ("size",)}
    flat_point.update(point.get("size", {}))
    return RunSpec(run_id=C.run_id(cfg), label=label, cfg=cfg, point=flat_point, budget=budget, cost=cost)


def run_cost(cfg: C.RunConfig) -> dict:
    """`scaling.flops.run_cost`, or {} while the FLOP model is not available."""
    try:
        from scaling import flops
    except ImportError:  # pragma: no cover - the FLOP model ships with the package
        return {}
    return dict(flops.run_cost(cfg))


def _matches(values: dict, ex: dict) -> bool:
    return all(k in values and same(values[k], v) for k, v in ex.items())
