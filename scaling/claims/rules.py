"""The stated test behind a multiplier verdict.

Level: each bound is one-sided at 97.5% (the 2.5th and 97.5th percentiles of the bootstrap
draws, censored draws included). With k pre-specified targets the bounds are Bonferroni-adjusted
to one-sided 1 - 0.025/k each, so the family of k verdicts keeps a 2.5% error per side.

Per estimator, for a claim k (candidate needs k x less compute) and an optional equivalence
margin mu (a fraction in (0, 1)):
- supported: lower bound >= k (m >= k at the stated level);
- equivalent: with a margin, both bounds inside [k (1 - mu), k (1 + mu)] (two one-sided tests:
  m is within mu of the claim);
- refuted: upper bound < k (or < k (1 - mu) with a margin);
- inconclusive: otherwise, or when more than 5% of the draws are undefined.

Across estimators (frontier gap and power-law fits) the rule is intersection-union: a verdict
holds only when both estimators give it; otherwise inconclusive.
"""

from __future__ import annotations

import math
import re

import numpy as np

from scaling.errors import DataError

LEVEL = 0.975  # one-sided, per bound
VERDICTS = ("supported", "equivalent", "refuted", "inconclusive")


def parse_claim(text: str | float) -> float:
    """'10x', '10', '0.1x' -> 10.0, 10.0, 0.1 (a multiplier > 0)."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*[xX×]?\s*", str(text))
        if not m:
            raise DataError(f"--claim {text!r}: expected a multiplier such as 10x, 10 or 0.1x")
        value = float(m.group(1))
    if not (value > 0 and math.isfinite(value)):
        raise DataError(f"--claim {text!r}: the multiplier must be positive")
    return value


def parse_margin(text: str | float | None) -> float | None:
    """'10%' or 0.1 -> 0.1; must lie in (0, 1)."""
    if text is None:
        return None
    s = str(text).strip()
    try:
        value = float(s[:-1]) / 100 if s.endswith("%") else float(s)
    except ValueError:
        raise DataError(f"--margin {text!r}: expected a fraction such as 10% or 0.1") from None
    if not (0 < value < 1):
        raise DataError(f"--margin {text!r}: must lie strictly between 0 and 1 (0% and 100%)")
    return value


def level_per_target(n_targets: int) -> float:
    """Two-sided interval level whose bounds are one-sided 1 - 0.025/n_targets (Bonferroni)."""
    return 1.0 - 2 * (1.0 - LEVEL) / max(int(n_targets), 1)


def verdict(lo: float, hi: float, claim: float, margin: float | None = None) -> str:
    """One estimator's verdict from its bounds (see the module docstring)."""
    if not (np.isfinite(lo) or lo == np.inf) or np.isnan(hi):
        return "inconclusive"
    if lo >= claim:
        return "supported"
    if margin is not None and lo >= claim * (1 - margin) and hi <= claim * (1 + margin):
        return "equivalent"
    if hi < (claim if margin is None else claim * (1 - margin)):
        return "refuted"
    return "inconclusive"


def combine(a: str, b: str) -> str:
    """Intersection-union across estimators: a verdict only when both give it."""
    return a if a == b else "inconclusive"


def statement(n_targets: int, margin: float | None) -> str:
    """The test in one sentence, for the output."""
    adj = (f", Bonferroni-adjusted over {n_targets} targets (one-sided {1 - 0.025 / n_targets:.4g} each)"
           if n_targets > 1 else "")
    eq = (f"; 'equivalent' when both bounds lie within {margin:.0%} of the claim" if margin else "")
    return ("test: 'supported' when the lower one-sided 97.5% bootstrap bound is at or above the claim, "
            f"'refuted' when the upper one is below it{eq}{adj}; the verdict holds only when the "
            "frontier-gap and power-law estimators agree")
