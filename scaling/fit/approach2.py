"""Chinchilla Approach 2: a parabola in log N per isoFLOP budget, then N*(C) ∝ C^a.

A diagnostic, not an estimator of the loss surface: it recovers the exponent a, but when
alpha != beta the parabola's vertex is biased (the isoFLOP profile is not symmetric in log N), so
the intercept of N*(C), hence D*(C) and tokens per parameter, is biased, and the bias grows with
the width of the sampled grid (Open-Athena, "Problems with Chinchilla Approach 2").
"""

from __future__ import annotations

import numpy as np

from scaling.errors import FitError
from scaling.fit.io import check_values

DIAGNOSTIC_NOTE = ("Approach 2 is a diagnostic: the exponent is reliable, the intercept (and so "
                   "D*, tokens/param) is biased when alpha != beta")


def isoflop_optima(budget, N, L, D=None, *, k=6.0, min_points=3, window=None):
    """Vertex of L = p0 + p1·x + p2·x², x = log10 N, for each distinct budget.

    budget: compute of each run (FLOPs); N: parameters; L: loss; D: tokens (optional; else
    D* = C/(k N*)). Returns arrays (C, N_opt, D_opt, L_opt) over budgets with >= min_points
    runs and positive curvature; raises FitError when fewer than two budgets qualify.
    window: fit only the lowest-loss run and ``window`` runs on each side of it in N (a local
    parabola, for wide grids whose profile is not a parabola); None: all runs of the budget.
    """
    C = check_values("budget", budget, positive=True)
    N = check_values("params", N, positive=True)
    L = check_values("loss", L)
    rows = []
    for c in np.unique(C):
        m = C == c
        if window is not None:
            idx = np.flatnonzero(m)
            idx = idx[np.argsort(N[idx])]
            j = int(np.argmin(L[idx]))
            m = np.zeros_like(m)
            m[idx[max(0, j - window): j + window + 1]] = True
        if m.sum() < min_points:
            continue
        x = np.log10(N[m])
        p2, p1, p0 = np.polyfit(x, L[m], 2)
        if p2 <= 0:
            continue
        xv = -p1 / (2 * p2)
        if D is not None:
            xd = np.log10(np.asarray(D, float)[m])
            q2, q1, _ = np.polyfit(xd, L[m], 2)
            d_opt = 10 ** (-q1 / (2 * q2)) if q2 > 0 else c / (k * 10**xv)
        else:
            d_opt = c / (k * 10**xv)
        rows.append((c, 10**xv, d_opt, p0 + p1 * xv + p2 * xv * xv))
    if len(rows) < 2:
        raise FitError("Approach 2 needs at least two isoFLOP budgets with >= "
                       f"{min_points} runs and a convex loss profile; found {len(rows)}")
    return tuple(np.array(col) for col in zip(*rows))


def power_fit(C, Y, weights=None):
    """Weighted least squares of log10 Y = log10 k0 + a·log10 C; returns (a, k0)."""
    x, y = np.log10(C), np.log10(Y)
    w = np.ones_like(x) if weights is None else np.asarray(weights, float)
    A = np.stack([np.ones_like(x), x], axis=1) * np.sqrt(w)[:, None]
    coef, *_ = np.linalg.lstsq(A, y * np.sqrt(w), rcond=None)
    return float(coef[1]), float(10 ** coef[0])


def approach2(budget, N, L, D=None, *, k=6.0, min_points=3, window=None) -> dict:
    """Exponents and intercepts of N*(C) = n0·C^a and D*(C) = d0·C^b from isoFLOP parabolas."""
    C, n_opt, d_opt, l_opt = isoflop_optima(budget, N, L, D, k=k, min_points=min_points,
                                          window=window)
    a, n0 = power_fit(C, n_opt)
    b, d0 = power_fit(C, d_opt)
    return {"a": a, "n0": n0, "b": b, "d0": d0, "budgets": C, "N_opt": n_opt, "D_opt": d_opt,
            "L_opt": l_opt, "note": DIAGNOSTIC_NOTE}
