"""Bootstrap over runs: whole runs are resampled (never single points of one run).

A resample is a weight vector (how many times each run was drawn, copied to all of its points),
so all resamples are fitted in one batched call of :func:`scaling.fit.estimate.solve`, each
started from the distinct optima of the full-data fit.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from scaling.errors import FitError
from scaling.fit.estimate import Fit, Problem, solve


def resample_weights(groups, n_boot: int, seed: int = 0, n: int | None = None) -> np.ndarray:
    """(n_boot, n_points) weights: each row draws len(unique groups) runs with replacement.

    groups: one run label per point (None: every one of the ``n`` points is its own run).
    """
    labels = np.arange(n) if groups is None else np.asarray(groups)
    _, inv = np.unique(labels, return_inverse=True)
    n_runs = inv.max() + 1
    if n_runs < 3:
        raise FitError(f"a bootstrap over runs needs at least 3 runs; got {n_runs}")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_runs, size=(n_boot, n_runs))
    counts = np.zeros((n_boot, n_runs))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    return counts[:, inv]


def summarize(samples: dict, level: float = 0.95):
    """Percentile intervals and standard deviations of each entry of ``samples`` ({name: (R,)})."""
    lo_q, hi_q = 50 * (1 - level), 50 * (1 + level)
    intervals, se = {}, {}
    for key, v in samples.items():
        v = np.asarray(v, float)
        v = v[np.isfinite(v)]
        if v.size:
            intervals[key] = (float(np.percentile(v, lo_q)), float(np.percentile(v, hi_q)))
            se[key] = float(np.std(v, ddof=1)) if v.size > 1 else float("nan")
    return intervals, se


def bootstrap(problem: Problem | None, fit: Fit, groups=None, *, n_boot: int = 1000, seed: int = 0,
              level: float = 0.95, n_starts: int = 4, weights=None, loglinear_data=None):
    """Return (fit with intervals/se filled, samples {name: (n_boot,)}).

    Each resample is fitted from the ``n_starts`` best distinct optima of the full-data fit.
    Resamples whose best optimum did not converge are dropped and counted in
    ``n_bootstrap_failed``; if more than 5% fail, FitError is raised. ``loglinear_data``
    = (C, P) for the closed-form log-linear law (``problem`` is then None).
    """
    n = fit.n_points
    W = resample_weights(groups, n_boot, seed, n) if weights is None else np.asarray(weights, float)
    if W.shape[1] != n:
        raise FitError(f"bootstrap groups have {W.shape[1]} entries for {n} points")
    if fit.law == "loglinear":
        from scaling.fit.fits import loglinear_solve

        a, b = loglinear_solve(*loglinear_data, W)
        samples = {"a": a, "b": b}
        failed = 0
    else:
        starts = fit.candidates[:n_starts] if fit.candidates is not None and len(fit.candidates) \
            else fit.theta[None, :]
        sol = solve(problem, W, starts=starts)
        ok = sol.converged & np.isfinite(sol.fun)
        failed = int((~ok).sum())
        if failed > 0.05 * n_boot:
            raise FitError(f"{failed} of {n_boot} bootstrap fits did not converge")
        nat = problem.to_params(sol.theta[ok], W[ok])
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            samples = {**nat, **problem.derived(nat)}  # wild resamples may overflow: dropped
    intervals, se = summarize(samples, level)
    out = dataclasses.replace(fit, intervals=intervals, se=se, n_bootstrap=int(n_boot),
                              n_bootstrap_failed=failed, meta={**fit.meta, "level": level})
    return out, samples
