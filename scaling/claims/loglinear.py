"""Is a bounded metric (a pass rate) log-linear in compute, or does it bend?

Per metric (and per group, e.g. per RL run):
- slope per decade of P = a + b*log10(C), with a 95% bootstrap interval;
- curvature: the quadratic coefficient of P in log10(C) and its interval (0 inside = no bend seen);
- held-out check: log-linear and the ScaleRL sigmoid fitted on the early part, root-mean-square
  error on the rest;
- the compute at which the sigmoid (fitted on all points) reaches 90% of its ceiling's rise.

Verdict on "log-linear": refuted when the curve bends — significant concave curvature (95%
interval below 0), or held-out points that leave the line (their mean log-linear residual beyond
3 standard errors of the in-sample scatter) — and the sigmoid predicts the held-out points better;
supported only when the curvature interval excludes a bend of practical size (it lies inside
+-tolerance, tolerance = a quarter of the slope's change across the data's log-compute span) and
the held-out points stay on the line: "no significant curvature" alone is not support; else
inconclusive. Several metrics (pass@1, pass@16) are combined: refuted when any is refuted,
supported when all are, else inconclusive. Whole runs are resampled when a run column names
>= 3 runs (the default when a column named run_id or run exists).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scaling.claims import options, rules
from scaling.claims.base import ClaimResult, interval, units
from scaling.claims.text import loglinear_lines
from scaling.errors import DataError, FitError
from scaling.fit import registry, resample
from scaling.fit.io import check_values

QUESTION = "Does the metric grow log-linearly in compute, or does it bend?"
MIN_POINTS = 6
COMBINE = "refuted_by_any"  # the rule of `scaling.claims.rules` that joins the metrics' verdicts


def _poly_draws(x: np.ndarray, y: np.ndarray, W: np.ndarray, degree: int) -> np.ndarray:
    """Weighted least-squares polynomial coefficients (highest first) for each weight row."""
    V = np.vander(x, degree + 1)
    out = []
    for w in W:
        sw = np.sqrt(w)
        coef, *_ = np.linalg.lstsq(V * sw[:, None], y * sw, rcond=None)
        out.append(coef)
    return np.array(out)


def _weights(groups: np.ndarray | None, n: int, n_boot: int, rng) -> tuple[np.ndarray, str]:
    """Bootstrap weights (:mod:`scaling.fit.resample`): whole runs when there are >= 3 of them,
    else single points (correlated along one curve: such intervals are too narrow, and say so)."""
    if groups is not None and len(np.unique(groups)) >= 3:
        u = resample.units(groups)
        return resample.draw(u, n_boot, rng), "runs"
    u = resample.units(np.arange(n))
    return resample.draw(u, n_boot, rng), "points (correlated along a curve: intervals too narrow)"


def _interval(v: np.ndarray) -> list[float]:
    v = np.asarray(v, float)
    if not np.isfinite(v).any():
        return [np.nan, np.nan]
    lo, hi = resample.interval(v[np.isfinite(v)])
    return [float(lo), float(hi)]


def _rmse(pred, y) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred) - np.asarray(y)) ** 2)))


def analyse(C, P, *, heldout: np.ndarray | None = None, holdout: float = 1 / 3, runs=None,
            n_boot: int = 1000, seed: int = 0) -> dict:
    """One metric against compute. `heldout`: boolean mask of held-out points (default: the
    points in the last `holdout` fraction of the log-compute range)."""
    line, sigmoid = registry.get("loglinear"), registry.get("sigmoid")

    C, P = np.asarray(C, float), np.asarray(P, float)
    if len(C) < MIN_POINTS:
        raise FitError(f"{len(C)} points; the log-linear claim needs at least {MIN_POINTS}")
    x = np.log10(C)
    if heldout is None:
        cut = x.max() - holdout * (x.max() - x.min())
        heldout = x > cut
    heldout = np.asarray(heldout, bool)
    fitpart = ~heldout
    if fitpart.sum() < 5 or heldout.sum() < 1:
        raise FitError(f"{fitpart.sum()} fit and {heldout.sum()} held-out points: need >= 5 and >= 1")
    rng = np.random.default_rng(seed)
    W, unit = _weights(None if runs is None else np.asarray(runs), len(C), n_boot, rng)
    xc = x - x.mean()
    lin = _poly_draws(xc, P, np.vstack([np.ones(len(C)), W]), 1)
    quad = _poly_draws(xc, P, np.vstack([np.ones(len(C)), W]), 2)
    full = registry.fit(line.name, C, y=P)
    sig_all = registry.fit(sigmoid.name, C, y=P, allow_unconverged=True)
    ll_fit = registry.fit(line.name, C[fitpart], y=P[fitpart])
    sig_fit = registry.fit(sigmoid.name, C[fitpart], y=P[fitpart], allow_unconverged=True)
    rmse_ll = _rmse(line.predict(ll_fit.params, C[heldout]), P[heldout])
    sp = sig_fit.params
    rmse_sig = _rmse(sigmoid.predict(sp, C[heldout]), P[heldout])
    curv = _interval(quad[1:, 0])
    s = sig_all.params
    with np.errstate(over="ignore"):
        c90 = float(np.float64(s["C_mid"]) * np.power(9.0, 1.0 / s["B"])) if s["B"] > 0 else float("nan")
    # In-sample scatter of the log-linear fit: the held-out error it would have if the line held.
    scatter = _rmse(line.predict(ll_fit.params, C[fitpart]), P[fitpart])
    resid = P[heldout] - line.predict(ll_fit.params, C[heldout])
    # Held-out points leave the line when their mean residual is beyond 3 standard errors of the
    # in-sample scatter (3, not 2: residuals along a smooth curve are correlated).
    z = float(resid.mean() / (scatter / np.sqrt(heldout.sum()))) if scatter > 0 else float("nan")
    misses = abs(z) > 3
    # a bend of practical size: the slope changes by a quarter of itself across the data's span
    span = float(x.max() - x.min())
    tol = 0.25 * abs(float(full.params["b"])) / (2 * span) if span > 0 else float("inf")
    flat = -tol <= curv[0] and curv[1] <= tol
    verdict = rules.decide(flat and not misses, (curv[1] < 0 or misses) and rmse_sig < rmse_ll, refuted_first=True)
    return {
        "n_points": int(len(C)), "n_heldout": int(heldout.sum()), "bootstrap_unit": unit, "n_boot": n_boot,
        "slope_per_decade": float(full.params["b"]), "slope_interval": _interval(lin[1:, 0]),
        "curvature": float(quad[0, 0]), "curvature_interval": curv, "curvature_tolerance": tol,
        "heldout_rmse": {"loglinear": rmse_ll, "sigmoid": rmse_sig}, "fit_scatter": scatter,
        "heldout_mean_residual": float(resid.mean()), "heldout_z": z,
        "sigmoid": {k: float(v) for k, v in s.items()}, "sigmoid_converged": bool(sig_all.converged),
        "sigmoid_fit_part": {k: float(v) for k, v in sp.items()},
        "loglinear_fit_part": {k: float(v) for k, v in ll_fit.params.items()},
        "compute_at_90pct": float(c90), "verdict": verdict,
    }


def loglinear_claim(df: pd.DataFrame, x: str, ys: list[str], *, group: str | None = None,
                    split_col: str | None = None, holdout: float = 1 / 3, run_col: str | None = None,
                    n_boot: int = 1000, seed: int = 0) -> dict:
    """`analyse` for every metric in `ys` (and every value of `group`).

    split_col: a column whose value "heldout" marks the held-out points (as in the ScaleRL data);
    otherwise the last `holdout` fraction of the log-compute range is held out. Rows with zero
    compute (an RL run's starting evaluation) are left out; negative compute is an error.
    """
    for col in [x, *ys, *(c for c in (group, split_col, run_col) if c)]:
        if col not in df.columns:
            raise DataError(f"column {col!r} not found (columns: {', '.join(map(str, df.columns))})")
    if not ys:
        raise DataError("name at least one metric with --y")
    options.resamples(n_boot)
    if run_col is None:
        run_col = next((c for c in ("run_id", "run") if c in df.columns and c != group), None)
    out = {}
    groups = df.groupby(group, sort=True) if group else [("all", df)]
    for gname, g in groups:
        for y in ys:
            sub = g[[c for c in dict.fromkeys([x, y, split_col, run_col]) if c]]
            # the starting point (no compute yet) has no place on a log axis; every other row must be usable
            sub = sub[pd.to_numeric(sub[x], errors="coerce") != 0]
            C = check_values(x, sub[x], positive=True, labels=sub.index)
            P = check_values(y, sub[y], labels=sub.index)
            held = (sub[split_col].astype(str) == "heldout").to_numpy() if split_col else None
            runs = sub[run_col].to_numpy() if run_col else None
            try:
                out[f"{gname}/{y}"] = analyse(C, P, heldout=held, holdout=holdout, runs=runs,
                                              n_boot=n_boot, seed=seed)
            except FitError as err:
                raise FitError(f"{gname}/{y}: {err}") from None
    combined, rule = rules.combined(COMBINE, [m["verdict"] for m in out.values()])
    return {"x": x, "metrics": out, "combined": combined, "combined_rule": rule,
            "test": "test: 95% bootstrap intervals (2.5th-97.5th percentiles) of the slope and curvature; "
                    "held-out departure at |z| > 3"}


def judge(df: pd.DataFrame, *, x: str, y: list[str], group: str | None = None, split_col: str | None = None,
          holdout: float = 1 / 3, run_col: str | None = None, n_boot: int = 1000, seed: int = 0) -> ClaimResult:
    """:func:`loglinear_claim` as a :class:`scaling.claims.base.ClaimResult`: per metric, the slope
    per decade and the curvature with their 95% intervals, and its verdict."""
    r = loglinear_claim(df, x, list(y), group=group, split_col=split_col, holdout=holdout, run_col=run_col,
                        n_boot=n_boot, seed=seed)
    ms = r["metrics"]
    estimates = [e for name, m in ms.items() for e in (
        interval(f"{name}: slope per decade", m["slope_per_decade"], m["slope_interval"]),
        interval(f"{name}: curvature", m["curvature"], m["curvature_interval"]))]
    warnings = [f"{name}: the sigmoid fitted on all points did not converge" for name, m in ms.items()
                if not m["sigmoid_converged"]]
    return ClaimResult("loglinear", QUESTION, r["test"], units(m["bootstrap_unit"] for m in ms.values()),
                       {name: m["verdict"] for name, m in ms.items()}, r["combined"], r["combined_rule"],
                       estimates, warnings, (), r, loglinear_lines(r))
