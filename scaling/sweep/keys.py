"""Small parsing helpers of sweep files (`scaling.sweep.spec`, `rl_spec`, `isoflop`): numbers, dotted
keys, value equality, key checks."""

from __future__ import annotations

import math
from typing import Any

from scaling import config as C
from scaling.errors import ConfigError


def number(value: Any, where: str) -> float:
    """YAML 1.1 reads `1e11` as a string: accept it as a number."""
    if isinstance(value, str):
        value = C.parse_value(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def dotted(data: Any, where: str) -> dict:
    """A recipe (nested and/or dotted mapping) -> {dotted.key: value}."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of config keys, got {data!r}")
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in dotted(value, f"{where}.{key}").items()})
        else:
            out[str(key)] = value
    return out


def same(a: Any, b: Any) -> bool:
    if isinstance(a, str):
        a = C.parse_value(a)
    if isinstance(b, str):
        b = C.parse_value(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)
    return a == b


def check_key(key: str, where: str, allowed: set[str]) -> None:
    if key not in allowed:
        close = sorted(k for k in allowed if k.split(".")[-1] == key.split(".")[-1])
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"{where}: unknown key {key!r}{hint}")
