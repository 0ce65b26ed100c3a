"""Bootstrap of a fitted law: hierarchical resamples (:mod:`scaling.fit.resample`) of whole runs.

A resample is a weight vector (how many times each run was drawn, copied to all of its points),
so all resamples are fitted in one batched call of :func:`scaling.fit.estimate.solve`, each
started from the distinct optima of the full-data fit.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from scaling.errors import FitError
from scaling.fit import registry, resample
from scaling.fit.estimate import Fit, Problem, solve


def point_units(groups=None, configs=None, n: int | None = None):
    """(units over runs, run index of each point) from per-point run and configuration labels.

    groups: one run label per point (None: every point is its own run, which is honest only for
    independent points); configs: one configuration label per point (None: one seed per
    configuration, i.e. configurations are the runs).
    """
    labels = np.arange(n) if groups is None else np.asarray(groups)
    runs, run_of_point = np.unique(labels.astype(str), return_inverse=True)
    if configs is None:
        run_config = runs
    else:
        cfg = np.asarray(configs).astype(str)
        run_config = np.empty(runs.size, dtype=object)
        run_config[run_of_point] = cfg
        split = {r: set(cfg[run_of_point == i]) for i, r in enumerate(runs)}
        bad = [r for r, c in split.items() if len(c) > 1]
        if bad:
            raise FitError(f"run {bad[0]!r} has points of several configurations")
    return resample.units(run_config), run_of_point


def resample_weights(groups, n_boot: int, seed: int = 0, n: int | None = None,
                     configs=None) -> np.ndarray:
    """(n_boot, n_points) weights of a hierarchical resample (configurations, then seeds), each
    run's count copied to all of its points. Needs at least 3 configurations."""
    u, run_of_point = point_units(groups, configs, n)
    if u.n_configs < 3:
        raise FitError(f"a bootstrap needs at least 3 independent configurations; got {u.n_configs}")
    counts = resample.draw(u, n_boot, np.random.default_rng(seed))
    return counts[:, run_of_point]


def percentile_intervals(samples: dict, level: float = 0.95):
    """Percentile intervals (order statistics, :func:`scaling.fit.resample.interval`) and
    standard deviations of each entry of ``samples`` ({name: (R,)}); non-finite draws are
    excluded from the standard deviation only."""
    intervals, se = {}, {}
    for key, v in samples.items():
        v = np.asarray(v, float)
        if v.size and np.isfinite(v).any():
            lo, hi = resample.interval(v, level)
            intervals[key] = (float(lo), float(hi))
            f = v[np.isfinite(v)]
            se[key] = float(np.std(f, ddof=1)) if f.size > 1 else float("nan")
    return intervals, se


def bootstrap(problem: Problem | None, fit: Fit, groups=None, *, n_boot: int = 1000, seed: int = 0,
              level: float = 0.95, n_starts: int = 4, weights=None, data=None,
              configs=None):
    """Return (fit with intervals/se filled, samples {name: (n_boot,)}).

    Each resample is fitted from the ``n_starts`` best distinct optima of the full-data fit.
    Resamples whose best optimum did not converge are dropped and counted in
    ``n_bootstrap_failed``; if more than 5% fail, FitError is raised. ``data`` = the inputs and
    output, e.g. (C, P), for a closed-form law of :mod:`scaling.fit.registry` (``problem`` is
    then None).
    """
    n = fit.n_points
    if weights is None:  # the batched fit holds weights, residuals and solver state per resample and point
        resample.check_memory(n_boot, 8 * 64 * n)
    W = resample_weights(groups, n_boot, seed, n, configs) if weights is None else np.asarray(weights, float)
    if W.shape[1] != n:
        raise FitError(f"bootstrap groups have {W.shape[1]} entries for {n} points")
    law = registry.LAWS.get(fit.law)
    if law is not None and law.closed_draws is not None:
        if data is None:
            raise FitError(f"{fit.law}: a closed-form bootstrap needs its data (inputs and output)")
        samples = dict(zip(law.params, law.closed_draws(*data, W)))
        failed = 0
    else:
        starts = fit.candidates[:n_starts] if fit.candidates is not None and len(fit.candidates) \
            else fit.theta[None, :]
        sol = solve(problem, W, starts=starts)
        ok = sol.converged & np.isfinite(sol.fun)
        failed = resample.check_failures(ok, f"{fit.law} fit")
        nat = problem.to_params(sol.theta[ok], W[ok])
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            samples = {**nat, **problem.derived(nat)}  # wild resamples may overflow: dropped
    intervals, se = percentile_intervals(samples, level)
    out = dataclasses.replace(fit, intervals=intervals, se=se, n_bootstrap=int(n_boot),
                              n_bootstrap_failed=failed, meta={**fit.meta, "level": level})
    return out, samples
