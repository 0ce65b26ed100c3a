"""Is a bounded metric (a pass rate) log-linear in compute, or does it bend?

Per metric (and per group, e.g. per length penalty), on the points after the warmup:
- slope per decade of P = a + b*log10(C), and the curvature (quadratic coefficient in log10 C),
  with 95% intervals from a whole-run bootstrap (runs drawn with replacement, a run's points kept
  together: `scaling.fit.resample.run_weights`), widened by sqrt(R/(R-1)) (a resample of R runs
  spreads (R-1)/R as much) and by t/z on R - 1 degrees of freedom;
- held-out check: each run's last steps are held out; each run's own line (fitted on its earlier
  points) predicts them, and the mean departure per run is the unit (t on runs - 1 df);
- the ScaleRL sigmoid fitted on the fit part, its held-out error, and whether it is identified.

The warmup: points before the end of the learning-rate warmup plus a burn-in are left out
(`warmup`: steps, default from a sweep's `steps` and `optim.warmup` columns), and compute is
counted as learning-rate-weighted compute (a linear warmup at half its compute: C - C_warmup/2),
since progress during a warmup grows like n^2, not n.

Verdict on "log-linear":
- refuted: the curve bends toward saturation — against the slope's sign (concave when rising,
  convex when falling) — by the curvature's one-sided 98.75% bound or by the held-out departure
  (one-sided t at 1.25%; the two tests share 2.5%), and, where the sigmoid is identified, the
  sigmoid predicts the held-out points better. A bend the other way (accelerating) refutes
  nothing and supports nothing;
- supported: the curvature interval lies inside +-tolerance (a quarter of the slope's change
  across the span) and the held-out departure's interval inside +-a quarter of the rise the line
  predicts from the fit part to the held-out part;
- otherwise inconclusive; below the minimum number of runs (`compare`'s rule: 5 units, 126
  distinct resamples) not judged, with the reason (the numbers are then descriptive only).
Several metrics are combined: refuted when any is refuted, supported when all are.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy import stats

from scaling.claims import options, rules
from scaling.claims.base import ClaimResult, interval, units
from scaling.claims.recipes import MIN_UNITS
from scaling.claims.text import loglinear_lines
from scaling.errors import DataError, FitError
from scaling.fit import registry, resample
from scaling.fit.io import check_values
from scaling.schedule import warmup_steps

QUESTION = "Does the metric grow log-linearly in compute, or does it bend?"
MIN_POINTS = 6
COMBINE = "refuted_by_any"  # the rule of `scaling.claims.rules` that joins the metrics' verdicts
BURN_IN = 0.2  # default burn-in after the warmup, a fraction of the warmup's steps
BEND_LEVEL = 0.975  # two-sided level whose one-sided bound (98.75%) each of the two bend tests uses
TOLERANCE = 0.25  # a bend of practical size: a quarter of the slope (or of the predicted rise)


def _steps(flag: str):
    def check(v):
        """A whole number of steps, >= 0."""
        if v is not None and v < 0:
            raise DataError(f"{flag} {v}: a number of steps, at least 0")
        return v
    return check


check_warmup, check_burn_in = _steps("--warmup"), _steps("--burn-in")


def _lstsq(V, y, W):
    """Weighted least squares for each weight row of W (B, n): coefficients (B, p)."""
    A = np.einsum("bn,np,nq->bpq", W, V, V)
    r = np.einsum("bn,np,n->bp", W, V, y)
    return np.linalg.solve(A + 1e-12 * np.eye(V.shape[1]), r[..., None])[..., 0]


def _rmse(pred, y) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred) - np.asarray(y)) ** 2)))


def _lr_weighted(C, steps, runs, warm):
    """C - C_w/2 per run (C_w: the run's compute at the end of its warmup, interpolated in steps)."""
    out = C.copy()
    for r in np.unique(runs):
        i = runs == r
        order = np.argsort(steps[i])
        cw = np.interp(warm[i][0], np.r_[0, steps[i][order]], np.r_[0, C[i][order]])
        out[i] = C[i] - cw / 2
    return out


def _last_steps(pos, runs, frac):
    """Held-out mask: in each run, the points in the last `frac` of its log position range."""
    held = np.zeros(pos.size, bool)
    for r in np.unique(runs):
        i = runs == r
        lp = np.log10(pos[i])
        held[i] = lp > lp.max() - frac * (lp.max() - lp.min())
    return held


def _departures(x, P, runs, held):
    """Per run: mean held-out residual from the run's own line fitted on its fit part."""
    out = []
    for r in np.unique(runs):
        f, h = (runs == r) & ~held, (runs == r) & held
        if f.sum() >= 3 and h.sum() >= 1 and np.ptp(x[f]) > 0:
            b, a = np.polyfit(x[f], P[f], 1)
            out.append(float(np.mean(P[h] - (a + b * x[h]))))
    return np.array(out)


def _sigmoid_identified(fit, C_fit, C_all) -> tuple[bool, str]:
    """Is the sigmoid fitted on the fit part pinned down by the data? (reason when not)"""
    p = fit.params
    n_x = np.unique(np.round(np.log10(C_fit), 6)).size
    if n_x < 6:
        return False, f"{n_x} distinct compute values in the fit part (4 parameters need >= 6)"
    if not fit.converged or not all(np.isfinite(float(v)) for v in p.values()):
        return False, "the fit did not converge"
    if not (C_all.min() <= p["C_mid"] <= C_all.max()):
        return False, f"its midpoint ({p['C_mid']:.3g}) lies outside the data ({C_all.min():.3g}-{C_all.max():.3g})"
    gaps = np.diff(np.unique(np.log10(C_fit)))
    if not p["B"] > 0:
        return False, f"its exponent B={p['B']:.3g} is not positive"
    rise = 2 * math.log10(9) / p["B"]  # decades from 10% to 90% of its rise
    if rise < np.median(gaps):
        return False, f"its 10-90% rise ({rise:.2g} decades) is narrower than the spacing of the points"
    span = float(np.ptp(np.log10(C_all)))
    if span < rise / 2:
        return False, (f"its 10-90% rise spans {rise:.2g} decades, the data {span:.2g}: a near-straight stretch "
                       f"whose ceiling is an extrapolation")
    return True, ""


def analyse(C, P, *, runs=None, steps=None, warmup=0, burn_in=None, heldout=None, holdout: float = 1 / 3,
            n_boot: int = 1000, seed: int = 0) -> dict:
    """One metric against compute (points of several runs: `runs` labels, `steps` their steps).
    warmup: learning-rate warmup steps (a number or one per point); burn_in: steps after it also
    left out (default a fifth of the warmup); heldout: boolean mask of held-out points (default:
    each run's points in the last `holdout` fraction of its log steps, or log compute)."""
    line, sigmoid = registry.get("loglinear"), registry.get("sigmoid")
    C, P = np.asarray(C, float), np.asarray(P, float)
    n0 = C.size
    runs = np.full(n0, "all") if runs is None else np.asarray(runs).astype(str)
    steps = None if steps is None else np.asarray(steps, float)
    warm = np.broadcast_to(np.asarray(warmup if warmup is not None else 0, int), (n0,)).copy()
    burn = np.ceil(BURN_IN * warm).astype(int) if burn_in is None else np.full(n0, int(burn_in))
    if warm.any() or (burn_in or 0) > 0:
        if steps is None:
            raise DataError("the warmup and burn-in are counted in steps: the table needs a step column")
        C = _lr_weighted(C, steps, runs, warm) if warm.any() else C
        keep = steps >= warm + burn
        C, P, runs, steps = C[keep], P[keep], runs[keep], steps[keep]
        heldout = None if heldout is None else np.asarray(heldout, bool)[keep]
    if C.size < MIN_POINTS:
        raise FitError(f"{C.size} points after the warmup and burn-in; the log-linear claim needs at least {MIN_POINTS}")
    x = np.log10(C)
    held = (_last_steps(np.asarray(steps, float) if steps is not None else C, runs, holdout)
            if heldout is None else np.asarray(heldout, bool))
    fitpart = ~held
    if fitpart.sum() < 5 or held.sum() < 1:
        raise FitError(f"{fitpart.sum()} fit and {held.sum()} held-out points: need >= 5 and >= 1")
    R = int(np.unique(runs).size)
    xc = x - x.mean()
    V2 = np.vander(xc, 3)
    full = registry.fit(line.name, C, y=P)
    b = float(full.params["b"])
    curv = float(_lstsq(V2, P, np.ones((1, C.size)))[0, 0])
    span = float(np.ptp(x))
    tol = TOLERANCE * abs(b) / (2 * span) if span > 0 else float("inf")
    # held-out: each run's own line against its last steps; the run is the unit
    dep = _departures(x, P, runs, held)
    rise = abs(b) * float(x[held].mean() - x[fitpart].mean())
    delta = TOLERANCE * rise
    ll_fit = registry.fit(line.name, C[fitpart], y=P[fitpart])
    resid = P[held] - line.predict(ll_fit.params, C[held])
    scatter = _rmse(line.predict(ll_fit.params, C[fitpart]), P[fitpart])
    z_points = float(resid.mean() / (scatter / np.sqrt(held.sum()))) if scatter > 0 else float("nan")
    with np.errstate(over="ignore"):  # a wild sigmoid overflows on its way to not converging
        sig_fit = registry.fit(sigmoid.name, C[fitpart], y=P[fitpart], allow_unconverged=True)
    identified, why_not = _sigmoid_identified(sig_fit, C[fitpart], C)
    rmse_ll = _rmse(line.predict(ll_fit.params, C[held]), P[held])
    rmse_sig = _rmse(sigmoid.predict(sig_fit.params, C[held]), P[held])
    out = {
        "n_points": int(C.size), "n_heldout": int(held.sum()), "n_runs": R, "n_boot": n_boot,
        "warmup_steps": sorted(set(map(int, warm))), "burn_in_steps": sorted(set(map(int, burn))),
        "fit_steps": sorted(set(map(float, steps[fitpart]))) if steps is not None else None,
        "heldout_steps": sorted(set(map(float, steps[held]))) if steps is not None else None,
        "slope_per_decade": b, "curvature": curv, "curvature_tolerance": tol,
        "heldout_rmse": {"loglinear": rmse_ll, "sigmoid": rmse_sig}, "fit_scatter": scatter,
        "heldout_mean_residual": float(resid.mean()), "heldout_z_points": z_points,
        "heldout_departures": dep.tolist(), "heldout_tolerance": delta,
        "sigmoid_identified": identified, "sigmoid_not_identified": why_not,
        "sigmoid_fit_part": {k: float(v) for k, v in sig_fit.params.items()},
        "loglinear_fit_part": {k: float(v) for k, v in ll_fit.params.items()},
    }
    need = resample.n_distinct(MIN_UNITS)
    if resample.n_distinct(R) < need or dep.size < R:
        short = (f"{R} run(s): whole-run resampling gives {resample.n_distinct(R)} distinct resamples, a verdict "
                 f"needs {need} ({MIN_UNITS} runs, the rule of `compare`)" if resample.n_distinct(R) < need
                 else f"{R - dep.size} run(s) lack 3 fit and 1 held-out point after the warmup")
        return {**out, "bootstrap_unit": "none (not judged)", "verdict": rules.NOT_JUDGED,
                "refusal": short + "; the numbers are descriptive (points along a run are not independent)",
                "slope_interval": [np.nan, np.nan], "curvature_interval": [np.nan, np.nan],
                "heldout_t": np.nan, "heldout_df": R - 1, "heldout_interval": [np.nan, np.nan]}
    # whole-run bootstrap of slope and curvature, widened by t/z on R - 1 df
    W, _ = resample.run_weights(runs, n_boot, np.random.default_rng(seed))
    lin, quad = _lstsq(np.vander(xc, 2), P, W)[:, 0], _lstsq(V2, P, W)[:, 0]
    df = R - 1

    def ci(v, level):
        # a resample of R runs spreads (R-1)/R as much as the runs do (as `compare` rescales a
        # resampled seed mean), and the spread rests on R - 1 df: widen by both
        lo, hi = resample.interval(v, level)
        f = resample.small_sample_factor(df, level) * math.sqrt(R / df)
        return [float(e) for e in resample.widen_about(lo, hi, np.median(v), f)]

    slope_ci, curv_ci, curv_bend = ci(lin, 0.95), ci(quad, 0.95), ci(quad, BEND_LEVEL)
    se = float(dep.std(ddof=1) / np.sqrt(R))
    t = float(dep.mean() / se) if se > 0 else float(np.sign(dep.mean()) * np.inf)
    t95, t_bend = stats.t.ppf(0.975, df), stats.t.ppf(1 - (1 - BEND_LEVEL) / 2, df)
    dep_ci = [float(dep.mean() - t95 * se), float(dep.mean() + t95 * se)]
    sign = np.sign(b)
    # toward saturation: curvature against the slope's sign, held-out points short of the line
    bends = sign != 0 and ((curv_bend[1] < 0) if sign > 0 else (curv_bend[0] > 0))
    falls_short = sign != 0 and -sign * t > t_bend
    speeds_up = sign != 0 and (((curv_bend[0] > 0) if sign > 0 else (curv_bend[1] < 0)) or sign * t > t_bend)
    refuted = (bends or falls_short) and (rmse_sig < rmse_ll if identified else True)
    supported = (-tol <= curv_ci[0] and curv_ci[1] <= tol and -delta <= dep_ci[0] and dep_ci[1] <= delta
                 and not (bends or falls_short))
    return {**out, "bootstrap_unit": f"whole runs ({R} drawn with replacement, each run's points together)",
            "verdict": rules.decide(supported, refuted, refuted_first=True), "accelerating": bool(speeds_up),
            "bends": bool(bends), "falls_short": bool(falls_short),
            "slope_interval": slope_ci, "curvature_interval": curv_ci, "curvature_interval_bend": curv_bend,
            "heldout_t": t, "heldout_df": df, "heldout_interval": dep_ci}


def _warmup_column(df: pd.DataFrame) -> np.ndarray | None:
    """Warmup steps per row from a sweep's `steps` and `optim.warmup` columns (the trainer's rule)."""
    if not {"steps", "optim.warmup"} <= set(df.columns):
        return None
    return np.array([warmup_steps(SimpleNamespace(warmup=float(f)), int(s))
                     for f, s in zip(df["optim.warmup"], df["steps"])])


def loglinear_claim(df: pd.DataFrame, x: str, ys: list[str], *, group: str | None = None,
                    split_col: str | None = None, holdout: float = 1 / 3, run_col: str | None = None,
                    warmup: int | None = None, burn_in: int | None = None, n_boot: int = 1000,
                    seed: int = 0) -> dict:
    """`analyse` for every metric in `ys` (and every value of `group`).

    split_col: a column whose value "heldout" marks the held-out points (as in the ScaleRL data);
    otherwise each run's last steps are held out. warmup: steps (default: from the `steps` and
    `optim.warmup` columns of a sweep, else 0). Rows with zero compute (an RL run's starting
    evaluation) are left out; negative compute is an error.
    """
    for col in [x, *ys, *(c for c in (group, split_col, run_col) if c)]:
        if col not in df.columns:
            raise DataError(f"column {col!r} not found (columns: {', '.join(map(str, df.columns))})")
    if not ys:
        raise DataError("name at least one metric with --y")
    options.resamples(n_boot)
    check_warmup(warmup), check_burn_in(burn_in)
    if run_col is None:
        run_col = next((c for c in ("run_id", "run") if c in df.columns and c != group), None)
    out, refusals = {}, {}
    groups = df.groupby(group, sort=True) if group else [("all", df)]
    for gname, g in groups:
        for y in ys:
            # the starting point (no compute yet) has no place on a log axis; every other row must be usable
            sub = g[pd.to_numeric(g[x], errors="coerce") != 0]
            C = check_values(x, sub[x], positive=True, labels=sub.index)
            P = check_values(y, sub[y], labels=sub.index)
            held = (sub[split_col].astype(str) == "heldout").to_numpy() if split_col else None
            runs = sub[run_col].to_numpy() if run_col else None
            steps = check_values("step", sub["step"], labels=sub.index) if "step" in sub.columns else None
            warm = warmup if warmup is not None else _warmup_column(sub)
            try:
                m = analyse(C, P, runs=runs, steps=steps, warmup=warm, burn_in=burn_in, heldout=held,
                            holdout=holdout, n_boot=n_boot, seed=seed)
            except FitError as err:
                raise FitError(f"{gname}/{y}: {err}") from None
            out[f"{gname}/{y}"] = m
            if "refusal" in m:
                refusals[f"{gname}/{y}"] = m["refusal"]
    verdicts = [m["verdict"] for m in out.values()]
    combined, rule = rules.combined(COMBINE, verdicts)
    if set(verdicts) == {rules.NOT_JUDGED}:
        combined = rules.NOT_JUDGED
    return {"x": x, "metrics": out, "combined": combined, "combined_rule": rule, "refusals": refusals,
            "test": TEST}


TEST = ("test: unit = whole runs (drawn with replacement within each group, a run's points together; at least "
        f"{MIN_UNITS} runs, else not judged); fit on the steps after the warmup and a burn-in, x = learning-rate-"
        "weighted compute; held out: each run's last third of log steps, predicted by the run's own line, mean "
        "departure per run with t on runs-1 df; curvature: 95% whole-run bootstrap interval widened by "
        "sqrt(R/(R-1)) and t/z on runs-1 df; refuted: a bend toward saturation (against the slope's sign) by the curvature's one-sided "
        "98.75% bound or the held-out t (one-sided 1.25%), and a better held-out sigmoid where it is identified; "
        f"supported: curvature and held-out departure intervals inside +-{TOLERANCE:g} of the slope's change "
        "and of the predicted rise")


def judge(df: pd.DataFrame, *, x: str, y: list[str], group: str | None = None, split_col: str | None = None,
          holdout: float = 1 / 3, run_col: str | None = None, warmup: int | None = None,
          burn_in: int | None = None, n_boot: int = 1000, seed: int = 0) -> ClaimResult:
    """:func:`loglinear_claim` as a :class:`scaling.claims.base.ClaimResult`: per metric, the slope
    per decade and the curvature with their 95% intervals, and its verdict."""
    r = loglinear_claim(df, x, list(y), group=group, split_col=split_col, holdout=holdout, run_col=run_col,
                        warmup=warmup, burn_in=burn_in, n_boot=n_boot, seed=seed)
    ms = r["metrics"]
    estimates = [e for name, m in ms.items() for e in (
        interval(f"{name}: slope per decade", m["slope_per_decade"], m["slope_interval"]),
        interval(f"{name}: curvature", m["curvature"], m["curvature_interval"]),
        interval(f"{name}: held-out departure per run", float(np.mean(m["heldout_departures"]))
                 if m["heldout_departures"] else np.nan, m["heldout_interval"]))]
    warnings = [f"{name}: sigmoid not identified ({m['sigmoid_not_identified']}); decided on the bend alone"
                for name, m in ms.items() if not m["sigmoid_identified"] and m["verdict"] != rules.NOT_JUDGED]
    warnings += [f"{name}: accelerating (a bend away from saturation): neither log-linear nor saturating"
                 for name, m in ms.items() if m.get("accelerating")]
    return ClaimResult("loglinear", QUESTION, r["test"], units(m["bootstrap_unit"] for m in ms.values()),
                       {name: m["verdict"] for name, m in ms.items()}, r["combined"], r["combined_rule"],
                       estimates, warnings, tuple(f"{k}: {v}" for k, v in r["refusals"].items()), r,
                       loglinear_lines(r))
