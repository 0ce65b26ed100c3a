"""The contract every claim keeps: one result type, whatever the claim.

A claim module (``multiplier``, ``loglinear``, ``phases``, ``parallel``, or a new one) keeps its
own engine (the numbers and the decision) and exposes ``judge(data, **options) ->``
:class:`ClaimResult`; :mod:`scaling.claims.registry` lists it with its options, and
:mod:`scaling.claims.record` turns a result into a versioned JSON verdict record.

A result says: which claim, the question in words, the estimates with their intervals, what the
bootstrap resampled (the unit), the stated test, the verdict of each estimator or metric and the
combined verdict (words and rules of :mod:`scaling.claims.rules`), warnings, refusals (parts that
could not be judged, with the reason), the options and the inputs' hash it was judged with (filled
by :func:`scaling.claims.registry.judge`), the engine's full payload (``details``), and its lines
for humans (exactly what the CLI prints).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from scaling.claims import record, rules
from scaling.records import jsonable


@dataclass(frozen=True)
class Estimate:
    """One estimated quantity with its interval: ``lo``..``hi`` at two-sided ``level`` (e.g. 0.95),
    and its own verdict where the claim judges this estimate by itself (else None)."""

    name: str
    value: float
    lo: float
    hi: float
    level: float
    verdict: str | None = None

    def __post_init__(self):
        for k in ("value", "lo", "hi", "level"):
            object.__setattr__(self, k, float(getattr(self, k)))
        if self.verdict is not None and self.verdict not in rules.VOCABULARY:
            raise ValueError(f"estimate {self.name!r}: verdict {self.verdict!r} is not in the vocabulary")


@dataclass(frozen=True)
class ClaimResult:
    """What a claim concluded, and everything needed to say how (see the module docstring).

    verdicts: per estimator or metric (name -> word); verdict: the combined word, by the rule
    stated in ``combined_rule``. ``options`` and ``inputs`` are empty until
    :func:`scaling.claims.registry.judge` fills them (a record needs both to be re-derived)."""

    claim: str
    question: str
    test: str
    unit: str
    verdicts: Mapping[str, str]
    verdict: str
    combined_rule: str
    estimates: tuple[Estimate, ...] = ()
    warnings: tuple[str, ...] = ()
    refusals: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    lines: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    inputs: Mapping[str, Any] = field(default_factory=dict)
    subject: str = ""  # what was judged, in a few words (e.g. "early vs baseline, claim 2x")

    def __post_init__(self):
        for k in ("estimates", "warnings", "refusals", "lines"):
            object.__setattr__(self, k, tuple(getattr(self, k)))
        object.__setattr__(self, "verdicts", dict(self.verdicts))
        for name, v in [*self.verdicts.items(), ("combined", self.verdict)]:
            if v not in rules.VOCABULARY:
                raise ValueError(f"claim {self.claim!r}: verdict {v!r} of {name} is not in the vocabulary")

    def summary(self) -> str:
        """One line: the claim, its subject and its verdict (with the parts' when there are several)."""
        parts = list(self.verdicts.items()) if len(self.verdicts) > 1 else []
        why = f" ({'; '.join(self.refusals)})" if self.refusals and not self.verdicts else ""
        text = " ".join(filter(None, (self.claim, self.subject))) + f": {self.verdict.upper()}{why}"
        return text + (" (" + ", ".join(f"{k}: {v}" for k, v in parts) + ")" if parts else "")

    def to_record(self) -> dict:
        """The verdict record (:mod:`scaling.claims.record`: schema, provenance, time)."""
        return record.to_record(self)


def inputs_of(data) -> dict:
    """{"kind", "rows", "hash"} of a claim's input: a table (DataFrame; its columns sorted by name,
    each hashed with `pandas.util.hash_pandas_object`, rows in their order, the index left out) or
    a study's rows (a list of dicts; canonical JSON). The hash is 'sha256:<hex>'."""
    digest = hashlib.sha256()
    if isinstance(data, pd.DataFrame):
        for col in sorted(data.columns, key=str):
            digest.update(str(col).encode() + b"\0" + str(data[col].dtype).encode() + b"\0")
            digest.update(pd.util.hash_pandas_object(data[col], index=False).to_numpy().tobytes())
        return {"kind": "table", "rows": int(len(data)), "hash": "sha256:" + digest.hexdigest()}
    rows = list(data)
    digest.update(json.dumps(jsonable(rows), sort_keys=True, separators=(",", ":")).encode())
    return {"kind": "rows", "rows": len(rows), "hash": "sha256:" + digest.hexdigest()}


def interval(name: str, value, ci, level: float = 0.95, verdict: str | None = None) -> Estimate:
    """An :class:`Estimate` from a value and a [lo, hi] pair (NaN where the engine had none)."""
    lo, hi = (np.nan, np.nan) if ci is None else ci
    return Estimate(name, np.nan if value is None else value, np.nan if lo is None else lo,
                    np.nan if hi is None else hi, level, verdict)


def units(values) -> str:
    """One unit string from the units of a claim's parts (each stated once, in order)."""
    return "; ".join(dict.fromkeys(str(v) for v in values)) or "nothing resampled"
