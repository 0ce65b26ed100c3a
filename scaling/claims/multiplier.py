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
    from scaling.fit.frontier import envelope_index

    keep = envelope_index(compute, loss)
    return np.asarray(compute, float)[keep], np.asarray(loss, float)[keep]


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

    def run_of_point(self) -> np.ndarray:
        return np.concatenate([np.full(len(r[0]), i) for i, r in enumerate(self.runs)])


def recipe_data(df: pd.DataFrame, recipe: str, x: str, y: str, run_col: str = "run_id",
                recipe_col: str = "recipe", trim: float = 0.0) -> RecipeData:
    """Points of `recipe` grouped by run. `trim` drops each run's points below trim x its largest
    compute (the start of training, before any power law holds)."""
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
    runs = []
    for _, g in sub.groupby(run_col, sort=True):
        c, l = g[x].to_numpy(float), g[y].to_numpy(float)
        keep = c >= trim * c.max()
        runs.append((c[keep], l[keep]))
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


# ---------------------------------------------------------------- parametric (power law per recipe)


def frontier_weights(rd: RecipeData, picks: np.ndarray) -> np.ndarray:
    """[R, n_points] weights selecting each resample's frontier, times how often its run was drawn."""
    from scaling.fit.frontier import envelope_index

    c, l = rd.points()
    run = rd.run_of_point()
    W = np.zeros((len(picks), len(c)))
    for b, pick in enumerate(picks):
        counts = np.bincount(pick, minlength=len(rd.runs))
        chosen = np.flatnonzero(counts[run] > 0)
        on = chosen[envelope_index(c[chosen], l[chosen])]
        W[b, on] = counts[run[on]]
    return W


def power_fits(rd: RecipeData, picks: np.ndarray, delta: float = 1e-3) -> dict:
    """L(C) = E + A C^-alpha fitted to the frontier of all runs, and of each resample (batched).

    Returns {"fit": Fit (full data), "E"/"A"/"alpha": arrays over resamples, "ok": converged mask}.
    """
    from scaling.fit import power_problem, solve
    from scaling.fit.estimate import fit_problem

    c, l = rd.points()
    full = frontier_weights(rd, np.arange(len(rd.runs))[None, :])[0] > 0
    fit = fit_problem(power_problem(c[full], l[full], delta=delta))
    problem = power_problem(c, l, delta=delta)
    sol = solve(problem, frontier_weights(rd, picks), starts=fit.candidates[:4])
    nat = problem.to_params(sol.theta)
    return {"fit": fit, **{k: np.asarray(v) for k, v in nat.items()}, "ok": sol.converged & np.isfinite(sol.fun)}


def compute_for_loss(E, A, alpha, target) -> np.ndarray:
    """Inverse of the power law: C = (A / (L - E))^(1/alpha); NaN where L <= E (never reached)."""
    E, A, alpha = (np.asarray(v, float)[..., None] for v in (E, A, alpha))
    gap = np.asarray(target, float) - E
    with np.errstate(all="ignore"):
        return np.where(gap > 0, (A / gap) ** (1.0 / alpha), np.nan)


# ---------------------------------------------------------------- the comparison


def default_targets(lo: float, hi: float, n: int = 8) -> np.ndarray:
    """`n` target losses log-spaced inside the common range (5% in from each end in log loss)."""
    a, b = np.log(lo), np.log(hi)
    pad = 0.05 * (b - a)
    return np.exp(np.linspace(a + pad, b - pad, n))[::-1]


def compare(df: pd.DataFrame, baseline: str, candidate: str, *, x: str = "compute/flops",
            y: str = "eval/loss/caption", targets=None, claim: float | None = None, n_boot: int = 1000,
            extrapolate: bool = False, trim: float = 0.1, seed: int = 0, run_col: str = "run_id",
            recipe_col: str = "recipe") -> dict:
    """Compute multiplier of `candidate` over `baseline` at target losses, with 95% intervals.

    Whole runs are resampled within each recipe; the same draws serve both estimates.
    """
    if baseline == candidate:
        raise DataError(f"--baseline and --candidate are the same recipe ({baseline!r})")
    base = recipe_data(df, baseline, x, y, run_col, recipe_col, trim)
    cand = recipe_data(df, candidate, x, y, run_col, recipe_col, trim)
    lo, hi = reached_range(base, cand)
    targets = default_targets(lo, hi) if targets is None or len(targets) == 0 else np.asarray(targets, float)
    outside = check_targets(targets, lo, hi, extrapolate)
    rng = np.random.default_rng(seed)
    pb, pc = resamples(len(base.runs), n_boot, rng), resamples(len(cand.runs), n_boot, rng)

    nonpar = nonparametric_draws(base, cand, targets, pb, pc)
    fits = {r.name: power_fits(r, p) for r, p in ((base, pb), (cand, pc))}
    fb, fc = fits[baseline], fits[candidate]
    point = (compute_for_loss(fb["fit"].params["E"], fb["fit"].params["A"], fb["fit"].params["alpha"], targets)
             / compute_for_loss(fc["fit"].params["E"], fc["fit"].params["A"], fc["fit"].params["alpha"], targets))
    ok = fb["ok"] & fc["ok"]
    draws = (compute_for_loss(fb["E"], fb["A"], fb["alpha"], targets)
             / compute_for_loss(fc["E"], fc["A"], fc["alpha"], targets))[ok]
    par = _summarise(point, draws)
    par["n_failed"] = int((~ok).sum())
    nonpar["value"] = np.where(outside, np.nan, nonpar["value"])

    rows = []
    for i, t in enumerate(targets):
        row = {"loss": float(t), "extrapolated": bool(outside[i])}
        for name, est in (("nonparametric", nonpar), ("parametric", par)):
            row[name] = {k: float(est[k][i]) for k in ("value", "lo", "hi", "defined_frac")}
            if claim is not None:
                v = est
                row[name]["verdict"] = (verdict(v["lo"][i], v["hi"][i], claim)
                                        if np.isfinite(v["lo"][i]) and v["defined_frac"][i] >= 0.95
                                        else "inconclusive")
        rows.append(row)
    result = {
        "baseline": baseline, "candidate": candidate, "x": x, "y": y, "n_boot": n_boot, "trim": trim,
        "runs": {baseline: len(base.runs), candidate: len(cand.runs)}, "loss_range": [lo, hi],
        "exponent": "separate", "claim": claim, "targets": rows,
        "fits": {k: {**v["fit"].to_dict(), "draws": {p: v[p][v["ok"]] for p in ("E", "A", "alpha")}}
                 for k, v in fits.items()},
        "frontiers": {r.name: dict(zip(("compute", "loss"), envelope(*r.points()))) for r in (base, cand)},
        "points": {r.name: dict(zip(("compute", "loss"), r.points())) for r in (base, cand)},
    }
    if claim is not None:
        result["verdict"] = headline_verdict(rows)
    return result


def nonparametric_draws(base: RecipeData, cand: RecipeData, targets, pb, pc) -> dict:
    def gap(ib, ic):
        cb = compute_at_loss(*envelope(*base.points(ib)), targets)
        cc = compute_at_loss(*envelope(*cand.points(ic)), targets)
        return cb / cc

    point = gap(None, None)
    draws = np.stack([gap(pb[i], pc[i]) for i in range(len(pb))])
    return _summarise(point, draws)


def headline_verdict(rows: list[dict]) -> dict:
    """The verdict at the lowest target loss that both recipes reached in >= 95% of resamples.

    Supported or refuted only when the non-parametric and parametric intervals agree.
    """
    solid = [r for r in rows if not r["extrapolated"]
             and min(r["nonparametric"]["defined_frac"], r["parametric"]["defined_frac"]) >= 0.95]
    if not solid:
        return {"loss": float("nan"), "verdict": "inconclusive", "nonparametric": "inconclusive",
                "parametric": "inconclusive"}
    row = min(solid, key=lambda r: r["loss"])
    a, b = row["nonparametric"]["verdict"], row["parametric"]["verdict"]
    return {"loss": row["loss"], "verdict": a if a == b else "inconclusive",
            "nonparametric": a, "parametric": b}
