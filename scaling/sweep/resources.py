"""A sweep file's `resources:` (per-run resources and engine settings; never part of a run id)."""

from __future__ import annotations

import math
from typing import Any

from scaling.errors import ConfigError
from scaling.pack import DEFAULT_PACK, check_pack_size
from scaling.sweep import engines

RESOURCE_KEYS = ("cpus", "gpus", "retries", "pack") + engines.OPTION_KEYS  # the engines' own options


def parse_resources(raw: dict, path: str) -> dict:
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
