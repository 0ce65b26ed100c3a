"""Power laws on a recipe's frontier, for every resample at once; the shared-exponent test.

One implementation serves ``compare`` and the report: :func:`recipe_fit` fits
L(C) = E + A C^-alpha (Huber on log residuals, delta from the data unless given) to the frontier
of the full data and to the frontier of every resample (seed-averaged losses of the drawn
configurations, weighted by how often each configuration was drawn), in one batched call.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.optimize import least_squares

from scaling.claims.recipes import envelope, seed_weights
from scaling.errors import FitError
from scaling.fit import registry, resample
from scaling.fit.estimate import fit_problem, solve
from scaling.fit.fits import robust_delta
from scaling.fit.frontier import envelope_index


def _resample_rows(rd, counts, once: bool = False):
    """(W, Y): per resample, frontier weights and log seed-averaged losses over all points
    (``once``: a drawn configuration weighs 1 whatever its count, as in a leave-one-seed-out row)."""
    sizes = [L.shape[1] for L in rd.loss]
    c_all = np.concatenate(rd.compute)
    y_full = np.log(rd.points()[1])
    W = np.zeros((len(counts), c_all.size))
    Y = np.tile(y_full, (len(counts), 1))
    start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    for b, cnt in enumerate(counts):
        sw = seed_weights(rd, cnt)
        lb = Y[b].copy()
        drawn = np.zeros(c_all.size, bool)
        mult = np.zeros(c_all.size)
        for j, w in enumerate(sw):
            if w.sum() > 0:
                sl = slice(start[j], start[j] + sizes[j])
                lb[sl] = np.log(rd.mean(j, w))
                drawn[sl] = True
                mult[sl] = 1.0 if once else w.sum() / rd.loss[j].shape[0]  # times the configuration was drawn
        idx = np.flatnonzero(drawn)
        on = idx[envelope_index(c_all[idx], np.exp(lb[idx]))]
        W[b, on] = mult[on]
        Y[b] = lb
    return W, Y


def recipe_fit(rd, counts, delta="auto", jackknife=None) -> dict:
    """Power law on the full-data frontier and on each resample's frontier (batched).

    Returns {"fit": Fit, "E"/"A"/"alpha": (B,) draws (NaN where failed), "ok": (B,) converged,
    "n_failed", "delta"}. More than 5% failed fits is a FitError naming the recipe.
    ``jackknife``: leave-one-seed-out count rows (:func:`scaling.fit.resample.jackknife`) fitted in
    the same batch; their parameters come back as "jackknife" {"E"/"A"/"alpha": (J,)}.
    """
    fc, fl = envelope(rd)
    if fc.size < 4:
        raise FitError(f"recipe {rd.name!r}: {fc.size} frontier points; a power law (3 parameters) needs >= 4")
    fit = fit_problem(registry.problem("power", fc, y=fl, delta=delta))
    d = fit.meta["delta"]
    c_all, l_all = rd.points()
    problem = registry.problem("power", c_all, y=l_all, delta=d)
    W, Y = _resample_rows(rd, counts)
    B = W.shape[0]
    if jackknife is not None and len(jackknife):
        Wj, Yj = _resample_rows(rd, jackknife, once=True)
        W, Y = np.vstack([W, Wj]), np.vstack([Y, Yj])
    sol = solve(problem, W, starts=fit.candidates[:4], rows={"y": Y})
    ok_all = sol.converged & np.isfinite(sol.fun)
    ok = ok_all[:B]
    failed = resample.check_failures(ok, f"recipe {rd.name!r}: power-law fit")
    nat = {k: np.where(ok_all, np.asarray(v, float), np.nan) for k, v in problem.to_params(sol.theta).items()}
    draws = {k: v[:B] for k, v in nat.items()}
    return {"fit": fit, **draws, "ok": ok, "n_failed": failed, "delta": d,
            "jackknife": {k: v[B:] for k, v in nat.items()}}


def compute_for_loss(E, A, alpha, target) -> np.ndarray:
    """Inverse of the power law (the registry's), C = (A / (L - E))^(1/alpha), for parameters of
    shape (...,) and targets (T,): shape (..., T); +inf where L <= E (never reached)."""
    p = {k: np.asarray(v, float)[..., None] for k, v in (("E", E), ("A", A), ("alpha", alpha))}
    return registry.get("power").inverse(p, np.asarray(target, float))


def _lsq(resid, x0s):
    """Best least-squares solution over starts (scipy; small problems, no compilation)."""
    best = None
    for x0 in x0s:
        with np.errstate(all="ignore"):
            r = least_squares(resid, x0, method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=20000)
        if np.all(np.isfinite(r.fun)) and (best is None or r.cost < best.cost):
            best = r
    if best is None:
        raise FitError("the shared-exponent fit failed from every start")
    return best


def shared_exponent_test(base, cand, fit_b, fit_c) -> dict:
    """Do the recipes share one exponent? L = E_r + A_r C^-alpha (5 parameters: E and A per
    recipe, one alpha) against separate alphas (6 parameters), both by least squares on the log
    frontier losses; F test on the residual sums of squares (1 and n - 6 degrees of freedom).
    Returns {"F", "p", "alpha_shared", "alpha" (baseline, candidate), "rss_shared",
    "rss_separate", "n"}; p < 0.05 means the multiplier depends on scale."""
    (cb, lb), (cc, lc) = envelope(base), envelope(cand)
    n = cb.size + cc.size
    if n <= 6:
        raise FitError(f"{n} frontier points in all; the shared-exponent test needs more than 6")

    def law(c, a, e, al):  # log of E + A C^-alpha in log-parameters, scaled at the median compute
        return np.logaddexp(a - al * (np.log(c) - m), e)

    m = float(np.median(np.log(np.concatenate([cb, cc]))))
    th = []
    for f in (fit_b, fit_c):
        p = f.params
        th.append([np.log(p["A"]) - p["alpha"] * m, np.log(p["E"]), p["alpha"]])
    sep = [_lsq(lambda t, c=c, l=l: law(c, *t) - np.log(l), [t0]) for (c, l), t0 in zip(((cb, lb), (cc, lc)), th)]
    rss_sep = float(sum(2 * r.cost for r in sep))

    def shared(t):
        return np.concatenate([law(cb, t[0], t[1], t[4]) - np.log(lb), law(cc, t[2], t[3], t[4]) - np.log(lc)])

    s0, s1 = sep[0].x, sep[1].x
    starts = [np.r_[s0[:2], s1[:2], al] for al in (s0[2], s1[2], 0.5 * (s0[2] + s1[2]))]
    sh = _lsq(shared, starts)
    rss_sh = float(2 * sh.cost)
    F = max(rss_sh - rss_sep, 0.0) / max(rss_sep / (n - 6), 1e-300)
    return {"F": F, "p": float(stats.f.sf(F, 1, n - 6)), "alpha_shared": float(sh.x[4]),
            "alpha": [float(s0[2]), float(s1[2])], "rss_shared": rss_sh, "rss_separate": rss_sep, "n": n}


def delta_sensitivity(rd, deltas=(1e-3, "auto", np.inf)) -> list[dict]:
    """The recipe's frontier fit under each Huber delta (1e-3, data-driven, least squares)."""
    fc, fl = envelope(rd)
    out = []
    for d in deltas:
        f = registry.fit("power", fc, y=fl, delta=d, allow_unconverged=True)
        out.append({"delta": ("auto" if isinstance(d, str) else float(d)), "delta_value": f.meta["delta"],
                    **{k: f.params[k] for k in ("E", "A", "alpha")}, "converged": bool(f.converged)})
    return out


__all__ = ["recipe_fit", "compute_for_loss", "shared_exponent_test", "delta_sensitivity", "robust_delta"]
