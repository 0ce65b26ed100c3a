"""Pretraining sweeps (`stage: pretrain`, the default): expansion into runs, and a pretraining run's
config.json (what it holds, how it is read back). The format is described in `scaling.sweep.spec`."""

from __future__ import annotations

from scaling import config as C
from scaling.errors import ConfigError
from scaling.sweep.grid import (RECIPE_NAME, axes, config_keys, excludes, grid_points, matches, recipe_axis, recipes,
                                run_cost)
from scaling.sweep.isoflop import fit_budget, parse_isoflop
from scaling.sweep.keys import check_key, dotted, fmt
from scaling.sweep.resources import parse_resources
from scaling.sweep.runspec import RunSpec, Sweep


def expand_pretrain(raw: dict, source: str, name: str, stage: str) -> Sweep:
    """A pretraining sweep (`stage: pretrain`, the default) -> its runs (of `stage`)."""
    path = source
    if "pretrained" in raw:
        raise ConfigError(f"{path}: pretrained: only with `stage: rl` (the models RL starts from)")
    named = recipes(raw, path)
    allowed = config_keys()
    groups = axes(raw, path, allowed)
    axis_keys = [k for keys, _ in groups for k in keys]
    recipe_axis(groups, axis_keys, named, path)

    iso = parse_isoflop(raw, path, allowed, axis_keys)
    if iso is not None:
        budgets, sizes = iso
        groups.append((["budget"], [(b,) for b in budgets]))
        groups.append((["size"], [(s,) for s in sizes]))

    dropped = excludes(raw, path, allowed | ({"budget"} if iso else set()))
    resources = parse_resources(raw, path)

    runs: list[RunSpec] = []
    seen: set[str] = set()
    for point in grid_points(groups):
        declared = {**named[str(point["recipe"])], **point, **point.get("size", {})}
        if any(matches(declared, ex) for ex in dropped):
            continue  # excluded before it is built: an excluded run may be one the config rejects
        spec = _make_run(point, named, path, stage)
        resolved = {**C.flatten(C.to_dict(spec.cfg)), "budget": spec.budget}
        if spec.run_id in seen or any(matches(resolved, ex) for ex in dropped):
            continue  # excluded, or the same config reached twice (a repeated value): one run
        seen.add(spec.run_id)
        runs.append(spec)
    if not runs:
        raise ConfigError(f"{path}: the sweep holds no runs (every grid point is excluded)")
    return Sweep(name=str(raw.get("name") or name), source=source, runs=runs, resources=resources, raw=raw,
                 stage=stage)



def _label(point: dict) -> str:
    parts = [str(point["recipe"])]
    if "budget" in point:
        parts.append(f"budget={point['budget']:.3g}")
    if "size" in point:
        parts += [f"{k}={fmt(v)}" for k, v in point["size"].items()]
    parts += [f"{k}={fmt(v)}" for k, v in point.items() if k not in ("recipe", "budget", "size")]
    return " ".join(parts)


def _make_run(point: dict, recipes: dict[str, dict], path: str, stage: str) -> RunSpec:
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
    return RunSpec(run_id=C.run_id(cfg), label=label, cfg=cfg, point=flat_point, budget=budget, cost=cost,
                   stage=stage)


def pretrained_list(raw: dict, path: str) -> list[tuple[str, RunSpec]]:
    """The `pretrained:` list -> [(label, pretraining RunSpec)], validated."""
    entries = raw.get("pretrained")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: pretrained: `stage: rl` needs a non-empty list of pretraining configs "
                          f"({{config.key: value}} over the defaults)")
    out: list[tuple[str, RunSpec]] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        where = f"{path}: pretrained[{i}]"
        if entry is not None and not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping of pretraining config keys, got {entry!r}")
        entry = dict(entry or {})
        label = str(entry.pop("label", i))
        if label != str(i) and not RECIPE_NAME.fullmatch(label):
            raise ConfigError(f"{where}.label: a label is a word of letters, digits, '_', '-' or '.' "
                              f"starting with a letter, got {label!r}")
        if any(label == lab for lab, _ in out):
            raise ConfigError(f"{where}.label: {label!r} is used twice")
        patch = dotted(entry, where)
        allowed = config_keys()
        for key in patch:
            check_key(key, where, allowed)
        cfg = C.build({}, patch, source=where)
        cost = run_cost(cfg)
        if cost.get("steps", 1) < 1:
            raise ConfigError(f"{where}: train.tokens: {cfg.train.tokens} is less than one training step "
                              f"at train.batch_size={cfg.train.batch_size}")
        rid = C.run_id(cfg)
        if rid in seen:
            raise ConfigError(f"{where}: the same pretraining config as pretrained[{seen[rid]}]")
        seen[rid] = i
        text = " ".join(f"{k}={fmt(v)}" for k, v in patch.items())
        spec = RunSpec(run_id=rid, label=f"pretrained={label}" + (f" {text}" if text else ""), cfg=cfg,
                       point={"pretrained": i, **patch}, cost=cost)
        out.append((label, spec))
    return out


def stored_config(spec: RunSpec) -> dict:
    """A pretraining run's config.json (without run_id), as `scaling.train` writes it."""
    return C.to_dict(spec.cfg)


def read_config(data: dict, source: str) -> C.RunConfig:
    return C.build(data, source=source)
