"""One fit function per law: validate, build the :class:`Problem`, estimate.

Units follow :mod:`scaling.fit.laws`. Every function returns a :class:`scaling.fit.estimate.Fit`
(point estimate, convergence flag, start statistics); pass ``bootstrap=`` to any of them through
:func:`scaling.fit.bootstrap.bootstrap` for intervals.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from scaling.fit import laws, objectives
from scaling.fit.estimate import Fit, Problem, fit_problem, pad_rows
from scaling.errors import FitError
from scaling.fit.io import check_count, check_spread, check_values

#: Epoch AI's start grid for the Chinchilla fit: a, b in {0,5,...,25}, e in {-1,-0.5,...,1},
#: alpha, beta in {0,0.5,...,2} (4,500 starts), in the order (a, b, e, alpha, beta).
EPOCH_GRID = np.array(list(itertools.product(
    np.arange(0, 30, 5.0), np.arange(0, 30, 5.0), np.arange(-1, 1.5, 0.5),
    np.arange(0, 2.5, 0.5), np.arange(0, 2.5, 0.5))))


def chinchilla_problem(N, D, L, *, delta="auto", grid=None, k=6.0, at=None, names=None) -> Problem:
    """Problem for L(N, D) = E + A/N^alpha + B/D^beta, Huber(delta) on log residuals.

    delta: a number, ``inf`` (least squares) or "auto" (from the data, :func:`robust_delta`).
    N: parameters; D: tokens; L: loss (nats/token). k: FLOPs per parameter per token for the
    compute-optimal allocation; at: compute (FLOPs) for the derived quantities (default: the
    largest k·N·D in the data).
    """
    nm = {"N": "N", "D": "D", "L": "loss", **(names or {})}
    N = check_values(nm["N"], N, positive=True)
    D = check_values(nm["D"], D, positive=True)
    L = check_values(nm["L"], L, positive=True)
    check_count(N.size, 5, "the Chinchilla law")
    check_spread(nm["N"], N)
    check_spread(nm["D"], D)
    at = float(np.max(k * N * D)) if at is None else float(at)
    if isinstance(delta, str):
        return _auto_delta(chinchilla_problem, (N, D, L), dict(grid=grid, k=k, at=at, names=names), delta)
    data = pad_rows({"lN": np.log(N), "lD": np.log(D), "y": np.log(L)}, N.size)
    data["delta"] = np.array([[min(float(delta), 1e30)]])

    def to_params(theta, W=None):
        return {"E": np.exp(theta[:, 2]), "A": np.exp(theta[:, 0]), "B": np.exp(theta[:, 1]),
                "alpha": theta[:, 3], "beta": theta[:, 4]}

    def derived(p):
        a, b = laws.optimal_allocation_exponents(p["alpha"], p["beta"])
        n_opt, d_opt = laws.compute_optimal(at, p["A"], p["B"], p["alpha"], p["beta"], k)
        return {"a": a, "b": b, "N_opt": n_opt, "D_opt": d_opt, "tokens_per_param": d_opt / n_opt,
                "loss_at_C": laws.chinchilla_loss(n_opt, d_opt, p["E"], p["A"], p["B"],
                                                  p["alpha"], p["beta"])}

    def residual(theta):
        p = to_params(np.atleast_2d(theta))
        pred = laws.chinchilla_loss(N, D, *(p[q][0] for q in ("E", "A", "B", "alpha", "beta")))
        return np.log(pred) - np.log(L)

    return Problem(law="chinchilla", vg=objectives.chinchilla_vg, data=data, n=N.size,
                   starts=EPOCH_GRID if grid is None else np.asarray(grid, float),
                   theta_names=("a", "b", "e", "alpha", "beta"), to_params=to_params,
                   derived=derived, meta={"delta": float(delta), "k": k, "at": at},
                   residual=residual)


def power_problem(C, L, *, delta="auto", grid=None, at=None, names=None) -> Problem:
    """Problem for L(C) = E + A·C^(-alpha), Huber(delta) on log residuals.

    delta: a number, ``inf`` (least squares) or "auto" (from the data, :func:`robust_delta`).
    C: compute (FLOPs); L: loss. The default start grid is scaled to the data: alpha in
    {0.02, ..., 1}, the reducible term at the median C in {0.03, ..., 3}·min(L), E in
    {0.3, 0.6, 0.9}·min(L). at: compute for ``loss_at_C`` (default: largest C).
    """
    nm = {"C": "compute", "L": "loss", **(names or {})}
    C = check_values(nm["C"], C, positive=True)
    L = check_values(nm["L"], L, positive=True)
    check_count(C.size, 3, "the power law")
    check_spread(nm["C"], C)
    lC = np.log(C)
    if grid is None:
        lm, lmin = np.median(lC), np.log(L.min())
        grid = [(u + lmin + al * lm, e + lmin, al) for u, e, al in itertools.product(
            np.log([0.03, 0.1, 0.3, 1.0, 3.0]), np.log([0.3, 0.6, 0.9]),
            [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0])]
    at = float(C.max()) if at is None else float(at)
    if isinstance(delta, str):
        return _auto_delta(power_problem, (C, L), dict(grid=grid, at=at, names=names), delta)
    data = pad_rows({"lC": lC, "y": np.log(L)}, C.size)
    data["delta"] = np.array([[min(float(delta), 1e30)]])

    def to_params(theta, W=None):
        return {"E": np.exp(theta[:, 1]), "A": np.exp(theta[:, 0]), "alpha": theta[:, 2]}

    def derived(p):
        return {"loss_at_C": laws.power_law(at, p["E"], p["A"], p["alpha"])}

    def residual(theta):
        p = to_params(np.atleast_2d(theta))
        return np.log(laws.power_law(C, p["E"][0], p["A"][0], p["alpha"][0])) - np.log(L)

    return Problem(law="power", vg=objectives.power_vg, data=data, n=C.size,
                   starts=np.asarray(grid, float), theta_names=("a", "e", "alpha"),
                   to_params=to_params, derived=derived, meta={"delta": float(delta), "at": at},
                   residual=residual)


#: Huber's tuning constant: 95% efficiency under Gaussian residuals
HUBER_K = 1.345


def robust_delta(residuals) -> float:
    """Huber delta from residuals: 1.345 x (1.4826 x median absolute deviation), i.e. 1.345
    robust standard deviations of the log residuals (floored at 1e-9 for an exact fit)."""
    r = np.asarray(residuals, float)
    mad = 1.4826 * np.median(np.abs(r - np.median(r)))
    return float(max(HUBER_K * mad, 1e-9))


def _auto_delta(build, args, kw, how) -> Problem:
    """Least-squares fit, then delta from its residuals; re-fitted residuals refine it once."""
    if how != "auto":
        raise FitError(f"delta {how!r}: expected a number, inf or 'auto'")
    prob = build(*args, delta=np.inf, **kw)
    for _ in range(2):
        fit = fit_problem(prob, allow_unconverged=True)
        delta = robust_delta(prob.residual(fit.theta))
        prob = build(*args, delta=delta, **kw)
    return dataclasses.replace(prob, meta={**prob.meta, "delta_source": "1.345 x MAD scale of residuals"})


def sigmoid_problem(C, P, *, names=None) -> Problem:
    """Problem for the ScaleRL curve R(C) = R0 + (A - R0)/(1 + (C_mid/C)^B), least squares on R.

    (R0, A) are projected out (variable projection); the search is over (log C_mid, B) from a
    grid of C_mid across and beyond the data and B in {0.5, ..., 4}.
    """
    nm = {"C": "compute", "P": "metric", **(names or {})}
    C = check_values(nm["C"], C, positive=True)
    P = check_values(nm["P"], P)
    check_count(C.size, 4, "the sigmoid law")
    check_spread(nm["C"], C)
    lC = np.log(C)
    mids = np.linspace(lC.min(), lC.max() + np.log(10.0), 8)
    grid = np.array(list(itertools.product(mids, [0.5, 1.0, 1.5, 2.0, 3.0, 4.0])))
    data = pad_rows({"lC": lC, "y": P}, C.size)

    def to_params(theta, W):
        lin = np.array([objectives.sigmoid_linear_params(t, lC, P, w) for t, w in zip(theta, W)])
        # (R0, A, B) and (A, R0, -B) are one curve: report the rising form, B > 0
        flip = theta[:, 1] < 0
        return {"R0": np.where(flip, lin[:, 1], lin[:, 0]), "A": np.where(flip, lin[:, 0], lin[:, 1]),
                "C_mid": np.exp(theta[:, 0]), "B": np.abs(theta[:, 1])}

    return Problem(law="sigmoid", vg=objectives.sigmoid_vg, data=data, n=C.size, starts=grid,
                   theta_names=("log_C_mid", "B"), to_params=to_params, screen=False)


def coverage_problem(k, c, *, names=None) -> Problem:
    """Problem for coverage c(k) = exp(a·k^b): least squares on log c (points with c > 0 only,
    as in Brown et al.), with a projected out; the search is over b."""
    nm = {"k": "k", "c": "coverage", **(names or {})}
    k = check_values(nm["k"], k, positive=True)
    c = check_values(nm["c"], c)
    keep = c > 0
    k, c = k[keep], c[keep]
    check_count(k.size, 2, "the coverage law")
    check_spread(nm["k"], k)
    lk, y = np.log(k), np.log(c)
    data = pad_rows({"lk": lk, "y": y}, k.size)

    def to_params(theta, W):
        x = np.exp(theta[:, :1] * lk[None, :])
        a = (W * x * y).sum(1) / (W * x * x).sum(1)
        return {"a": a, "b": theta[:, 0]}

    return Problem(law="coverage", vg=objectives.coverage_vg, data=data, n=k.size,
                   starts=np.array([[-1.0], [-0.5], [-0.3], [-0.2], [-0.1], [-0.05], [-0.02]]),
                   theta_names=("b",), to_params=to_params, screen=False)


def coverage_ceiling_problem(k, c, *, names=None) -> Problem:
    """Problem for coverage with a ceiling, c(k) = c_max·exp(a·k^b), c_max <= 1, a <= 0, b < 0
    (rising to c_max): least squares on log c (points with c > 0), (log c_max, a) projected out
    under their bounds, the search over log(-b). A fit on a bound (c_max = 1 or a = 0) has not
    identified a ceiling. Why this form:
    problems the sampler can never solve (success probability 0) cap coverage at the share of the
    others, c_max; among those, exp(a·k^b) is Brown et al.'s curve, which the law reduces to at
    c_max = 1. Needs 3 distinct k with c > 0."""
    nm = {"k": "k", "c": "coverage", **(names or {})}
    k = check_values(nm["k"], k, positive=True)
    c = check_values(nm["c"], c)
    keep = c > 0
    k, c = k[keep], c[keep]
    check_count(k.size, 3, "the coverage law with a ceiling")
    check_spread(nm["k"], k)
    lk, y = np.log(k), np.log(c)
    data = pad_rows({"lk": lk, "y": y}, k.size)

    def to_params(theta, W):
        b = -np.exp(theta[:, 0])  # b < 0 by construction: the search is over log(-b)
        x = np.exp(b[:, None] * lk[None, :])
        lc, a = objectives.coverage_ceiling_linear(x, y[None, :], W)
        return {"c_max": np.exp(lc), "a": a, "b": b}

    return Problem(law="coverage_ceiling", vg=objectives.coverage_ceiling_vg, data=data, n=k.size,
                   starts=np.log([[2.0], [1.0], [0.5], [0.3], [0.2], [0.1], [0.05]]),
                   theta_names=("log_neg_b",), to_params=to_params, screen=False)


def fit_chinchilla(N, D, L, **kw) -> Fit:
    """Fit the Chinchilla law (see :func:`chinchilla_problem`); ``allow_unconverged`` optional."""
    allow = kw.pop("allow_unconverged", False)
    return fit_problem(chinchilla_problem(N, D, L, **kw), allow_unconverged=allow)


def fit_power(C, L, **kw) -> Fit:
    """Fit the saturating power law (see :func:`power_problem`)."""
    allow = kw.pop("allow_unconverged", False)
    return fit_problem(power_problem(C, L, **kw), allow_unconverged=allow)


def fit_sigmoid(C, P, **kw) -> Fit:
    """Fit the ScaleRL sigmoid (see :func:`sigmoid_problem`)."""
    allow = kw.pop("allow_unconverged", False)
    return fit_problem(sigmoid_problem(C, P, **kw), allow_unconverged=allow)


def fit_coverage(k, c, **kw) -> Fit:
    """Fit coverage c(k) = exp(a·k^b) (see :func:`coverage_problem`)."""
    allow = kw.pop("allow_unconverged", False)
    return fit_problem(coverage_problem(k, c, **kw), allow_unconverged=allow)


def fit_coverage_ceiling(k, c, **kw) -> Fit:
    """Fit coverage with a ceiling c(k) = c_max·exp(a·k^b) (see :func:`coverage_ceiling_problem`)."""
    allow = kw.pop("allow_unconverged", False)
    return fit_problem(coverage_ceiling_problem(k, c, **kw), allow_unconverged=allow)


def loglinear_solve(C, P, W):
    """Weighted least squares of P = a + b·log10(C) for every weight row of W (R, n) at once."""
    x = np.log10(np.asarray(C, float))[None, :]
    P = np.asarray(P, float)[None, :]
    sw, sx, sy = W.sum(1), (W * x).sum(1), (W * P).sum(1)
    sxx, sxy = (W * x * x).sum(1), (W * x * P).sum(1)
    det = sw * sxx - sx * sx
    b = (sw * sxy - sx * sy) / det
    a = (sy - b * sx) / sw
    return a, b


def fit_loglinear(C, P, *, names=None) -> Fit:
    """Fit P = a + b·log10(C) by ordinary least squares (closed form)."""
    nm = {"C": "compute", "P": "metric", **(names or {})}
    C = check_values(nm["C"], C, positive=True)
    P = check_values(nm["P"], P)
    check_count(C.size, 2, "the log-linear law")
    check_spread(nm["C"], C)
    a, b = loglinear_solve(C, P, np.ones((1, C.size)))
    rss = float(np.sum((P - laws.loglinear(C, a[0], b[0])) ** 2))
    return Fit(law="loglinear", params={"a": float(a[0]), "b": float(b[0])}, derived={},
               objective=rss, converged=True, n_points=C.size, n_starts=1, n_starts_converged=1,
               theta=np.array([a[0], b[0]]))
