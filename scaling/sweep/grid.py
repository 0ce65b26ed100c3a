"""Sweep-file parsing every stage shares: recipes, grid and zip axes, the walk over the grid, excludes.

Each stage's expansion (`pretrain_spec`, `rl_spec`) builds its runs from these; none of them knows a stage."""

from __future__ import annotations

import itertools
import re
from typing import Any, Iterator

from scaling import config as C
from scaling import flops
from scaling.errors import ConfigError
from scaling.sweep.keys import check_key, dotted, same

RECIPE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")


def config_keys() -> set[str]:
    return set(C.flatten(C.to_dict(C.RunConfig())))


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


def axes(raw: dict, path: str, allowed: set[str]) -> list[tuple[list[str], list[tuple]]]:
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


def recipes(raw: dict, path: str, build=C.build, reserved: dict | None = None) -> dict[str, dict]:
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


def recipe_axis(groups: list, axis_keys: list, recipes: dict, path: str) -> None:
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
    """Every point of the grid (`axes`' groups): {key: value}, the first group varying slowest."""
    for combo in itertools.product(*(rows for _, rows in groups)):
        point: dict[str, Any] = {}
        for (keys, _), row in zip(groups, combo):
            point.update(dict(zip(keys, row)))
        yield point


def excludes(raw: dict, path: str, allowed: set[str]) -> list[dict]:
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


def matches(values: dict, ex: dict) -> bool:
    return all(k in values and same(values[k], v) for k, v in ex.items())


def run_cost(cfg: C.RunConfig) -> dict:
    """`scaling.flops.run_cost` (JAX-free) as a plain dict."""
    return dict(flops.run_cost(cfg))
