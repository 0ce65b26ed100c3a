"""Robust multi-start estimation: one law, many starts and many data weightings, batched.

:func:`solve` is the engine shared by every law: all (start, weighting) pairs go to the batched
L-BFGS of :mod:`scaling.fit.lbfgs` at once. With ``screen=True`` every start first runs a loose
float32 pass (relative ftol 1e-6); the best distinct end points of each weighting (``polish`` of
them) are then re-minimised in float64 to tight tolerance (relative ftol 1e-13), and the best
converged one is kept. Bootstrap resamples are weightings (whole-run counts), so a bootstrap is
one more call of the same batched computation. The best optimum of each weighting is finally
Newton-polished (:mod:`scaling.fit.newton`) and declared converged only when the optimality
conditions hold in float64, so the estimate does not depend on where L-BFGS happened to stop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from scaling.errors import FitError
from scaling.fit import lbfgs, newton


@dataclass(frozen=True)
class Problem:
    """A law bound to data: batched objective, padded data rows, starts and parameter maps.

    data: arrays of shape (1, n_pad) (``w`` holds 1 for real points, 0 for padding);
    theta_names: internal (optimisation) parameters; to_params(theta (R, k), W (R, n)) ->
    {name: (R,)} natural parameters (W: the point weights, for laws whose linear parameters are
    projected out); derived(params) -> {name: (R,)} derived quantities.
    """

    law: str
    vg: Callable
    data: dict
    n: int
    starts: np.ndarray
    theta_names: tuple
    to_params: Callable
    derived: Callable = lambda params: {}
    screen: bool = True
    meta: dict = field(default_factory=dict)
    residual: Callable | None = None  # theta (k,) -> log residuals (n,), for laws with a Huber loss


@dataclass(frozen=True)
class Solution:
    """Best optimum per weighting: theta (R, k), fun (R,), converged (R,), and for weighting 0
    the distinct optima found (candidates, sorted by objective) and start statistics."""

    theta: np.ndarray
    fun: np.ndarray
    converged: np.ndarray
    candidates: np.ndarray
    n_starts: int
    n_starts_converged: int


@dataclass
class Fit:
    """A fitted law. params/derived: point estimates; intervals: {name: (lo, hi)} 95% bootstrap
    percentile intervals (empty without bootstrap); se: bootstrap standard deviations."""

    law: str
    params: dict
    derived: dict
    objective: float
    converged: bool
    n_points: int
    n_starts: int
    n_starts_converged: int
    theta: np.ndarray
    intervals: dict = field(default_factory=dict)
    se: dict = field(default_factory=dict)
    n_bootstrap: int = 0
    n_bootstrap_failed: int = 0
    meta: dict = field(default_factory=dict)
    candidates: np.ndarray | None = None

    def to_dict(self) -> dict:
        """Plain-JSON view (floats, lists, strings)."""
        out = {
            "law": self.law, "converged": bool(self.converged), "objective": float(self.objective),
            "n_points": self.n_points, "n_starts": self.n_starts,
            "n_starts_converged": self.n_starts_converged,
            "params": {k: float(v) for k, v in self.params.items()},
            "derived": {k: float(v) for k, v in self.derived.items()},
            "intervals": {k: [float(a), float(b)] for k, (a, b) in self.intervals.items()},
            "se": {k: float(v) for k, v in self.se.items()},
            "n_bootstrap": self.n_bootstrap, "n_bootstrap_failed": self.n_bootstrap_failed,
        }
        out.update({k: v for k, v in self.meta.items() if isinstance(v, (int, float, str, bool))})
        return out


def pad_rows(arrays: dict, n: int) -> dict:
    """Pad 1-D arrays to a power-of-two length (few compiled shapes) as rows of shape (1, n_pad).

    Padding repeats the first point and gets weight 0, so it never changes the objective.
    """
    n_pad = lbfgs._pow2(n)
    out = {}
    for key, v in arrays.items():
        v = np.asarray(v, float)
        row = np.full(n_pad, v[0])
        row[:n] = v
        out[key] = row[None, :]
    w = np.zeros((1, n_pad))
    w[0, :n] = 1.0
    out["w"] = w if "w" not in arrays else out["w"] * (np.arange(n_pad) < n)
    return out


def _distinct_best(x, f, ok, limit, tol=1e-4):
    """Indices of up to ``limit`` lowest-objective rows of x that differ by more than tol."""
    order = np.argsort(np.where(ok & np.isfinite(f), f, np.inf))
    keep: list[int] = []
    for i in order:
        if not np.isfinite(f[i]):
            break
        if all(np.max(np.abs(x[i] - x[j]) / (1.0 + np.abs(x[j]))) > tol for j in keep):
            keep.append(int(i))
            if len(keep) == limit:
                break
    return keep


def solve(problem: Problem, weights=None, starts=None, *, polish: int = 8, rows=None) -> Solution:
    """Minimise ``problem`` from every start for every weighting (rows of ``weights``, (R, n)).

    rows: optional {data key: (R, n)} per-weighting data (e.g. a resample's seed-averaged
    losses in ``y``), replacing the problem's shared row. Returns the best optimum per
    weighting. Unconverged best optima are flagged, not hidden.
    """
    starts = problem.starts if starts is None else np.atleast_2d(np.asarray(starts, float))
    data = dict(problem.data)
    n_pad = data["w"].shape[1]
    for key, v in (rows or {}).items():
        v = np.atleast_2d(np.asarray(v, float))
        full = np.repeat(data[key], v.shape[0], axis=0)
        full[:, : problem.n] = v
        data[key] = full
    if weights is None:
        W = data["w"]
    else:
        weights = np.atleast_2d(np.asarray(weights, float))
        W = np.zeros((weights.shape[0], n_pad))
        W[:, : problem.n] = weights
    data["w"] = W
    R, S = W.shape[0], starts.shape[0]
    x0 = np.tile(starts, (R, 1))
    did = np.repeat(np.arange(R), S)
    if problem.screen:
        coarse = lbfgs.minimize(problem.vg, x0, data, did, dtype=np.float32, ftol=1e-6,
                                gtol=0.0, xtol=1e-7, max_iter=1000)
        picks = []
        for r in range(R):
            sl = slice(r * S, (r + 1) * S)
            ok = np.ones(S, bool)
            picks.extend(r * S + i for i in _distinct_best(coarse.x[sl], coarse.fun[sl], ok, polish))
        picks = np.asarray(picks, int)
        n_conv0 = int(coarse.converged[:S].sum())
        x1, d1 = coarse.x[picks], did[picks]
    else:
        x1, d1, n_conv0 = x0, did, None
    fine = lbfgs.minimize(problem.vg, x1, data, d1, dtype=np.float64)
    if n_conv0 is None:
        n_conv0 = int(fine.converged[d1 == 0].sum())
    theta = np.full((R, starts.shape[1]), np.nan)
    fun = np.full(R, np.inf)
    conv = np.zeros(R, bool)
    fvals = np.where(np.isfinite(fine.fun), fine.fun, np.inf)
    for r in range(R):
        idx = np.flatnonzero(d1 == r)
        if idx.size == 0:
            continue
        # prefer converged optima; among them the lowest objective
        ok = fine.converged[idx]
        pool = idx[ok] if ok.any() else idx
        best = pool[np.argmin(fvals[pool])]
        theta[r], fun[r], conv[r] = fine.x[best], fine.fun[best], fine.converged[best]
    # converge until the optimality conditions hold in float64 (machine-independent optima)
    live = np.flatnonzero(np.isfinite(fun))
    if live.size:
        x2, f2, ok2, noise = newton.polish(problem.vg, theta[live], data, live)
        # the polished point, unless it is worse beyond float64 noise (it is re-tested for optimality)
        better = np.isfinite(f2) & (f2 <= fun[live] + noise)
        theta[live] = np.where(better[:, None], x2, theta[live])
        fun[live] = np.where(better, f2, fun[live])
        conv[live] = ok2 & better
    idx0 = np.flatnonzero(d1 == 0)
    keep = _distinct_best(fine.x[idx0], fine.fun[idx0], fine.converged[idx0], 8, tol=1e-3)
    return Solution(theta=theta, fun=fun, converged=conv, candidates=fine.x[idx0][keep],
                    n_starts=S, n_starts_converged=n_conv0)


def fit_problem(problem: Problem, *, allow_unconverged: bool = False, polish: int = 8,
                weights=None) -> Fit:
    """Point estimate of ``problem``; raises FitError when the best optimum did not converge.

    weights: optional non-negative weight per point (n,), multiplying each point's loss.
    """
    if weights is not None:
        weights = np.asarray(weights, float).reshape(1, -1)
        if weights.shape[1] != problem.n or not np.all(np.isfinite(weights)) or (weights < 0).any():
            raise FitError(f"weights must be {problem.n} finite non-negative numbers")
    sol = solve(problem, weights, polish=polish)
    if not np.isfinite(sol.fun[0]):
        raise FitError(f"{problem.law} fit failed: no start gave a finite objective")
    nat = problem.to_params(sol.theta, np.ones((1, problem.n)) if weights is None else weights)
    params = {k: float(v[0]) for k, v in nat.items()}
    derived = {k: float(np.asarray(v).reshape(-1)[0]) for k, v in problem.derived(nat).items()}
    fit = Fit(law=problem.law, params=params, derived=derived, objective=float(sol.fun[0]),
              converged=bool(sol.converged[0]), n_points=problem.n, n_starts=sol.n_starts,
              n_starts_converged=sol.n_starts_converged, theta=sol.theta[0], meta=dict(problem.meta),
              candidates=sol.candidates)
    if not fit.converged and not allow_unconverged:
        raise FitError(
            f"{problem.law} fit did not converge (best objective {fit.objective:.6g} over "
            f"{sol.n_starts} starts); more data or other starts are needed")
    return fit
