"""The verdict vocabulary of every claim, the rules that combine verdicts, and the stated test
behind a multiplier verdict.

Every claim (`scaling.claims.registry`) speaks these words and no others: ``supported``,
``equivalent``, ``refuted``, ``inconclusive`` (:data:`VERDICTS`), and ``not judged`` when no claim
was stated (a multiplier estimated without ``--claim``). A claim decides its own tests; it turns
their outcomes into a word with :func:`decide` and combines the words of its estimators or
metrics with one of the :data:`COMBINE` rules, each stated in a sentence.

Multiplier level: each bound is one-sided at 97.5% (the 2.5th and 97.5th percentiles of the bootstrap
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
SUPPORTED, EQUIVALENT, REFUTED, INCONCLUSIVE = "supported", "equivalent", "refuted", "inconclusive"
VERDICTS = (SUPPORTED, EQUIVALENT, REFUTED, INCONCLUSIVE)
NOT_JUDGED = "not judged"  # an estimate without a stated claim: nothing to decide
VOCABULARY = VERDICTS + (NOT_JUDGED,)


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


def decide(supported, refuted, *, refuted_first: bool = False):
    """The word for a claim's two tests: supported / refuted / inconclusive. Booleans give a str,
    boolean arrays an array of str (one per dataset). When both tests pass the one checked first
    wins: supported, unless ``refuted_first`` (a claim states which of its tests takes precedence)."""
    if np.ndim(supported) or np.ndim(refuted):
        if refuted_first:
            return np.where(refuted, REFUTED, np.where(supported, SUPPORTED, INCONCLUSIVE))
        return np.where(supported, SUPPORTED, np.where(refuted, REFUTED, INCONCLUSIVE))
    if refuted_first and refuted:
        return REFUTED
    if supported:
        return SUPPORTED
    return REFUTED if refuted else INCONCLUSIVE


def verdict(lo: float, hi: float, claim: float, margin: float | None = None) -> str:
    """One estimator's verdict from its bounds (see the module docstring)."""
    if not (np.isfinite(lo) or lo == np.inf) or np.isnan(hi):
        return INCONCLUSIVE
    if lo >= claim:
        return SUPPORTED
    if margin is not None and lo >= claim * (1 - margin) and hi <= claim * (1 + margin):
        return EQUIVALENT
    if hi < (claim if margin is None else claim * (1 - margin)):
        return REFUTED
    return INCONCLUSIVE


def combine(a: str, b: str) -> str:
    """Intersection-union across estimators: a verdict only when both give it."""
    return all_agree([a, b])


def all_agree(verdicts) -> str:
    """Intersection-union over any number of verdicts: their common word, else inconclusive."""
    words = set(verdicts)
    return words.pop() if len(words) == 1 else INCONCLUSIVE


def refuted_by_any(verdicts) -> str:
    """Refuted when any part is refuted, supported only when all are, else inconclusive."""
    words = set(verdicts)
    return REFUTED if REFUTED in words else SUPPORTED if words == {SUPPORTED} else INCONCLUSIVE


#: combination rules by name: (function of a list of verdicts, the rule in words)
COMBINE = {
    "all_agree": (all_agree, "a verdict only when every part gives it, otherwise inconclusive"),
    "refuted_by_any": (refuted_by_any, "refuted if any metric is refuted, supported only if all are"),
}


def combined(rule: str, verdicts) -> tuple[str, str]:
    """(combined verdict, the rule in words) under the named rule of :data:`COMBINE`."""
    fn, words = COMBINE[rule]
    return fn(list(verdicts)), words


def statement(n_targets: int, margin: float | None) -> str:
    """The test in one sentence, for the output."""
    adj = (f", Bonferroni-adjusted over {n_targets} targets (one-sided {1 - 0.025 / n_targets:.4g} each)"
           if n_targets > 1 else "")
    eq = (f"; 'equivalent' when both bounds lie within {margin:.0%} of the claim" if margin else "")
    return ("test: 'supported' when the lower one-sided 97.5% bootstrap bound is at or above the claim, "
            f"'refuted' when the upper one is below it{eq}{adj}; the verdict holds only when the "
            "frontier-gap and power-law estimators agree")
