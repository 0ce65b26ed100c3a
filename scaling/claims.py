"""Compare two recipes into a verdict: the compute multiplier at equal loss, with bootstrap intervals.

multiplier(L) = C_baseline(L) / C_candidate(L): how many times less compute the candidate needs to
reach loss L. Two estimates, each with a 95% percentile interval from resampling whole runs:

- non-parametric: the horizontal gap between the two frontiers (lower envelopes of loss against
  compute, interpolated linearly in log-log);
- parametric: from fitted L(C) = E + A * C^-alpha per recipe (exponents fitted separately).

A target loss outside the range both frontiers reached is an extrapolation: refused unless asked,
and labelled.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scaling.errors import DataError, FitError

MIN_RUNS = 3


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


def verdict(lo: float, hi: float, claim: float) -> str:
    """supported (interval at or above the claim), refuted (entirely below), else inconclusive."""
    if lo >= claim:
        return "supported"
    if hi < claim:
        return "refuted"
    return "inconclusive"


# ---------------------------------------------------------------- frontiers


def envelope(compute: np.ndarray, loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower envelope: the points no cheaper point beats (loss strictly falls along it)."""
    order = np.lexsort((loss, compute))
    c, l = np.asarray(compute, float)[order], np.asarray(loss, float)[order]
    keep, best = [], np.inf
    for i in range(len(c)):
        if l[i] < best:
            keep.append(i)
            best = l[i]
    return c[keep], l[keep]


def compute_at_loss(front_c: np.ndarray, front_l: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Compute at which the frontier first reaches `target` (log-log interpolation; NaN outside)."""
    if len(front_c) < 2:
        return np.full(np.shape(target), np.nan)
    # along the envelope loss falls, so interpolate log C as a function of -log L
    x, y = -np.log(front_l), np.log(front_c)
    t = -np.log(np.asarray(target, float))
    out = np.interp(t, x, y, left=np.nan, right=np.nan)
    return np.exp(out)


@dataclass(frozen=True)
class RecipeData:
    """Evaluation points of one recipe, grouped by run (so runs can be resampled whole)."""

    name: str
    runs: list[tuple[np.ndarray, np.ndarray]]  # per run: (compute, loss)

    def points(self, pick: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        runs = self.runs if pick is None else [self.runs[i] for i in pick]
        return np.concatenate([r[0] for r in runs]), np.concatenate([r[1] for r in runs])


def recipe_data(df: pd.DataFrame, recipe: str, x: str, y: str, run_col: str = "run_id",
                recipe_col: str = "recipe") -> RecipeData:
    for col in (x, y, recipe_col):
        if col not in df.columns:
            raise DataError(f"column {col!r} not found (columns: {', '.join(map(str, df.columns))})")
    present = sorted(map(str, df[recipe_col].dropna().unique()))
    if recipe not in present:
        raise DataError(f"recipe {recipe!r} not found (present: {', '.join(present)})")
    sub = df[df[recipe_col].astype(str) == recipe]
    sub = sub[np.isfinite(sub[x].astype(float)) & np.isfinite(sub[y].astype(float))]
    sub = sub[(sub[x] > 0) & (sub[y] > 0)]
    if run_col not in sub.columns:  # each row its own run (e.g. a CSV of final points)
        sub = sub.assign(**{run_col: np.arange(len(sub))})
    runs = [(g[x].to_numpy(float), g[y].to_numpy(float)) for _, g in sub.groupby(run_col, sort=True)]
    if len(runs) < MIN_RUNS:
        raise DataError(f"recipe {recipe!r} has {len(runs)} runs with finite {y}; at least {MIN_RUNS} are needed")
    return RecipeData(recipe, runs)


def resamples(n_runs: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """[n_boot, n_runs] run indices drawn with replacement (whole runs)."""
    return rng.integers(0, n_runs, size=(n_boot, n_runs))


def reached_range(base: RecipeData, cand: RecipeData) -> tuple[float, float]:
    """Losses both frontiers span: (lowest loss both reached, highest loss both started from)."""
    lows, highs = [], []
    for r in (base, cand):
        _, fl = envelope(*r.points())
        lows.append(fl.min())
        highs.append(fl.max())
    lo, hi = max(lows), min(highs)
    if not lo < hi:
        raise DataError(f"no overlapping loss range: {base.name} spans {lows[0]:.4g}..{highs[0]:.4g}, "
                        f"{cand.name} spans {lows[1]:.4g}..{highs[1]:.4g}")
    return lo, hi


def nonparametric(base: RecipeData, cand: RecipeData, targets: np.ndarray, n_boot: int,
                  rng: np.random.Generator) -> dict:
    """Frontier-gap multiplier at `targets`: point estimate, 95% interval, bootstrap draws."""
    def gap(pb, pc):
        cb = compute_at_loss(*envelope(*base.points(pb)), targets)
        cc = compute_at_loss(*envelope(*cand.points(pc)), targets)
        return cb / cc

    point = gap(None, None)
    ib, ic = resamples(len(base.runs), n_boot, rng), resamples(len(cand.runs), n_boot, rng)
    draws = np.stack([gap(ib[i], ic[i]) for i in range(n_boot)])
    return _summarise(point, draws)


def _summarise(point: np.ndarray, draws: np.ndarray) -> dict:
    with np.errstate(all="ignore"):
        ok = np.isfinite(draws)
        frac = ok.mean(axis=0)
        lo = np.array([np.percentile(d[m], 2.5) if m.sum() else np.nan for d, m in zip(draws.T, ok.T)])
        hi = np.array([np.percentile(d[m], 97.5) if m.sum() else np.nan for d, m in zip(draws.T, ok.T)])
    # A resample that never reached a target makes that target's interval unreliable: say so.
    return {"value": point, "lo": lo, "hi": hi, "defined_frac": frac, "draws": draws}


def check_targets(targets, lo: float, hi: float, extrapolate: bool) -> np.ndarray:
    """Boolean mask of targets outside [lo, hi]; refuse them unless `extrapolate`."""
    t = np.asarray(targets, float)
    outside = (t < lo) | (t > hi)
    if outside.any() and not extrapolate:
        bad = ", ".join(f"{v:.4g}" for v in t[outside])
        raise FitError(f"--at-loss {bad}: outside the loss range both recipes reached "
                       f"({lo:.4g}..{hi:.4g}); pass --extrapolate to use the fitted laws there")
    return outside
