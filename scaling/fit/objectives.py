"""Batched objectives (value and gradient) for :func:`scaling.fit.lbfgs.minimize`.

Each function maps (X (S, k), rows) -> (f (S,), g (S, k)); ``rows`` holds arrays of shape
(1, n) (shared) or (S, n) (per slot), always including the point weights ``w`` (0 for padding,
bootstrap counts when resampling) and, for Huber objectives, ``delta`` (shape (1, 1)).

Positive terms are parametrised in log form and combined with log-sum-exp, as in Hoffmann et
al. and Epoch: log L_hat = LSE(a - alpha log N, b - beta log D, e) with A = e^a, B = e^b, E = e^e.
The residual is log L_hat - log L and the loss is Huber_delta summed over points.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from scaling.fit.lbfgs import autodiff


def huber(r, delta):
    """Huber loss: r²/2 for |r| <= delta, delta·(|r| - delta/2) beyond."""
    ar = jnp.abs(r)
    return jnp.where(ar <= delta, 0.5 * r * r, delta * (ar - 0.5 * delta))


def _huber_tail(S, y, w, delta):
    """Value and d/d(log S) of sum_i w_i Huber(log S_i - y_i); S > 0 is the summed prediction."""
    r = jnp.log(S) - y
    f = jnp.sum(w * huber(r, delta), axis=1)
    q = w * jnp.clip(r, -delta, delta) / S  # dHuber/dS
    return f, q


def chinchilla_vg(X, rows):
    """Huber on log residuals of L = E + A N^-alpha + B D^-beta; X = (a, b, e, alpha, beta)."""
    lN, lD, y, w, delta = rows["lN"], rows["lD"], rows["y"], rows["w"], rows["delta"]
    a, b, e, al, be = (X[:, i : i + 1] for i in range(5))
    u1 = jnp.exp(a - al * lN)
    u2 = jnp.exp(b - be * lD)
    ue = jnp.exp(e)
    f, q = _huber_tail(u1 + u2 + ue, y, w, delta)
    q1 = q * u1
    q2 = q * u2
    g = jnp.stack([q1.sum(1), q2.sum(1), ue[:, 0] * q.sum(1), -(q1 * lN).sum(1),
                   -(q2 * lD).sum(1)], axis=1)
    return f, g


def power_vg(X, rows):
    """Huber on log residuals of L = E + A C^-alpha; X = (a, e, alpha) with A = e^a, E = e^e."""
    lC, y, w, delta = rows["lC"], rows["y"], rows["w"], rows["delta"]
    a, e, al = (X[:, i : i + 1] for i in range(3))
    u1 = jnp.exp(a - al * lC)
    ue = jnp.exp(e)
    f, q = _huber_tail(u1 + ue, y, w, delta)
    q1 = q * u1
    g = jnp.stack([q1.sum(1), ue[:, 0] * q.sum(1), -(q1 * lC).sum(1)], axis=1)
    return f, g


def _sigmoid_objective(theta, row):
    """Least squares of R = R0 + (A - R0) s, s = 1/(1 + (C_mid/C)^B), with (R0, A) projected out.

    theta = (log C_mid, B). Given s, R is linear in (R0, A): R = R0 (1 - s) + A s, so the inner
    weighted least squares is solved in closed form (variable projection).
    """
    lm, B = theta[0], theta[1]
    s = jax.nn.sigmoid(B * (row["lC"] - lm))
    w, y = row["w"], row["y"]
    u = 1.0 - s
    suu, sus, sss = jnp.sum(w * u * u), jnp.sum(w * u * s), jnp.sum(w * s * s)
    suy, ssy = jnp.sum(w * u * y), jnp.sum(w * s * y)
    det = suu * sss - sus * sus
    det = jnp.where(det > 1e-300, det, 1e-300)
    r0 = (sss * suy - sus * ssy) / det
    A = (suu * ssy - sus * suy) / det
    res = y - r0 * u - A * s
    return jnp.sum(w * res * res)


def sigmoid_linear_params(theta, lC, y, w):
    """(R0, A) of the projected sigmoid fit at theta = (log C_mid, B) (NumPy, float64)."""
    s = 1.0 / (1.0 + np.exp(-theta[1] * (lC - theta[0])))
    M = np.stack([1.0 - s, s], axis=1) * np.sqrt(w)[:, None]
    coef, *_ = np.linalg.lstsq(M, y * np.sqrt(w), rcond=None)
    return float(coef[0]), float(coef[1])


def _coverage_objective(theta, row):
    """Least squares of log c = a k^b on log coverage, with a projected out; theta = (b,)."""
    x = jnp.exp(theta[0] * row["lk"])
    w, y = row["w"], row["y"]
    a = jnp.sum(w * x * y) / jnp.maximum(jnp.sum(w * x * x), 1e-300)
    res = y - a * x
    return jnp.sum(w * res * res)


def coverage_ceiling_linear(x, y, w):
    """(log c_max, a) of the weighted least squares log c = log c_max + a·x with log c_max <= 0 (a
    ceiling at most 1) and a <= 0 (with x = k^b, b < 0: coverage rises with k). The unconstrained
    2x2 solution when feasible; otherwise the better of the two edges, log c_max = 0 (a = sxy/sxx,
    never positive since log c <= 0 and x > 0) and a = 0 (log c_max = the weighted mean of log c).
    Works on NumPy and JAX arrays alike (shapes broadcast over the last axis)."""
    xp = jnp if isinstance(x, jax.Array) else np
    sw, sx, sy = (w).sum(-1), (w * x).sum(-1), (w * y).sum(-1)
    sxx, sxy = (w * x * x).sum(-1), (w * x * y).sum(-1)
    syy = (w * y * y).sum(-1)
    det = xp.maximum(sw * sxx - sx * sx, 1e-300)
    a = (sw * sxy - sx * sy) / det
    lc = (sy - a * sx) / xp.maximum(sw, 1e-300)
    a_edge = xp.minimum(sxy / xp.maximum(sxx, 1e-300), 0.0)  # log c_max = 0
    lc_edge = xp.minimum(sy / xp.maximum(sw, 1e-300), 0.0)  # a = 0
    sse_a = syy - 2 * a_edge * sxy + a_edge * a_edge * sxx
    sse_lc = syy - 2 * lc_edge * sy + lc_edge * lc_edge * sw
    use_a = sse_a <= sse_lc
    feasible = (lc <= 0) & (a <= 0)
    return (xp.where(feasible, lc, xp.where(use_a, 0.0, lc_edge)),
            xp.where(feasible, a, xp.where(use_a, a_edge, 0.0)))


def _coverage_ceiling_objective(theta, row):
    """Least squares of log c = log c_max + a k^b, (log c_max, a) projected out; theta = (log(-b),)."""
    x = jnp.exp(-jnp.exp(theta[0]) * row["lk"])
    lc, a = coverage_ceiling_linear(x, row["y"], row["w"])
    res = row["y"] - lc - a * x
    return jnp.sum(row["w"] * res * res)


sigmoid_vg = autodiff(_sigmoid_objective)
coverage_vg = autodiff(_coverage_objective)
coverage_ceiling_vg = autodiff(_coverage_ceiling_objective)
