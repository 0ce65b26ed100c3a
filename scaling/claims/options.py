"""A claim's options as rows: name, type, default, help, CLI flag and domain check.

The registry (`scaling.claims.registry`) resolves a claim's options through these rows before the
claim runs, from Python and from the CLI alike (the CLI's commands are generated from them), so a
bad value is one :class:`scaling.errors.DataError` naming its flag, before any data is read. The
shared checks live here; a claim's own (its scheme names, its bounds) live in its module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from scaling.errors import ConfigError, DataError
from scaling.fit.resample import check_resamples

REQUIRED = ...  # the default of an option the caller must give


@dataclass(frozen=True)
class Option:
    """One option of a claim. ``type``: str, int, float or bool (a list of them when ``many``: the
    flag is repeatable); ``default``: :data:`REQUIRED`, None (optional) or a value; ``check``: the
    domain check, value -> value (possibly normalised, e.g. '10x' -> 10.0), raising DataError."""

    name: str
    type: type
    default: Any = REQUIRED
    help: str = ""
    flag: str | None = None
    many: bool = False
    check: Callable[[Any], Any] | None = None
    column: str | None = None  # names a column of the input table: "data" (must exist), "id" (must exist,
    #                            no empty values: runs, recipes, seeds, groups), None (not a column)
    absent_ok: bool = False  # a column option whose default may be absent from the table (named: must exist)

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def resolve(self, value):
        """The checked value (lists for repeatable options); DataError naming the flag."""
        if value is REQUIRED:
            raise DataError(f"{self.cli_flag}: required")
        if value is None:
            return None
        if self.many:
            values = [value] if isinstance(value, (str, int, float)) else list(value)
            value = [self._typed(v) for v in values]
        else:
            value = self._typed(value)
        return value if self.check is None else self.check(value)

    def _typed(self, v):
        t = self.type
        if t is bool:
            if isinstance(v, (bool, np.bool_)):
                return bool(v)
        elif t is int:
            if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
                return int(v)
        elif t is float:
            if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)):
                return finite(float(v), self.cli_flag)
        elif isinstance(v, t):
            return v
        elif self.check is not None and isinstance(v, (int, float)) and not isinstance(v, bool):
            return v  # a value the check already normalised (e.g. '10x' -> 10.0): resolving is idempotent
        raise DataError(f"{self.cli_flag} {v!r}: expected {'an integer' if t is int else 'a ' + t.__name__}")


def resolve(options: tuple[Option, ...], given: dict, claim: str) -> dict:
    """Every option of a claim, in row order: the given value or the default, checked.
    An option the claim does not have is a ConfigError naming it."""
    names = {o.name for o in options}
    unknown = sorted(set(given) - names)
    if unknown:
        raise ConfigError(f"claim {claim}: no option {unknown[0]!r} (options: {', '.join(sorted(names))})")
    return {o.name: o.resolve(given.get(o.name, o.default)) for o in options}


def resamples(n) -> int:
    """--bootstrap: an integer of at least `scaling.fit.resample.MIN_RESAMPLES` (and within int64; whether they fit
    in memory is checked where the table's size is known, `scaling.fit.resample.check_memory`)."""
    return check_resamples(n, "--bootstrap")


def finite(v: float, flag: str) -> float:
    """A float option: a finite number (NaN and infinity are never a setting)."""
    if not np.isfinite(v):
        raise DataError(f"{flag} {v}: must be a finite number")
    return v


def trim(t: float) -> float:
    """--trim: a fraction in [0, 1)."""
    if not (0 <= t < 1):
        raise DataError(f"--trim {t}: must be a fraction in [0, 1)")
    return t


def seed(n: int, flag: str = "--seed") -> int:
    """--seed: an integer >= 0 (numpy's generators take no negative seed)."""
    if n < 0:
        raise DataError(f"{flag} {n}: a seed is an integer >= 0")
    if n >= 2**63:
        raise DataError(f"{flag} {n}: beyond a 64-bit integer")
    return int(n)


def holdout(h: float) -> float:
    """--holdout: the held-out share of the log-compute range, a fraction in (0, 1)."""
    if not (0 < h < 1):
        raise DataError(f"--holdout {h}: the held-out share of the compute range must lie in (0, 1)")
    return h
