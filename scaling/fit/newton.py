"""Newton polish in float64: drive each optimum until the optimality conditions hold.

L-BFGS stops when a step lowers the objective by less than a relative ``ftol``; along a flat
valley (the Chinchilla objective is flat along A and B) a stalled line search satisfies that
test early, and where it stops depends on rounding, so on the machine. This pass takes each
L-BFGS end point and applies modified Newton steps with the exact Hessian (forward-mode
derivative of the batched gradient), eigenvalues floored at a tiny fraction of the largest,
with a batched backtracking line search, until the Newton decrement lambda^2 = g·H^-1·g is
below float64 noise of the objective. Near a strict minimum Newton converges quadratically,
so the result is the optimum to about eps x cond(H) whatever the start, i.e. machine-independent.

``converged`` is then a statement about the point, not about the optimiser's history: a
finite objective, gradient finite, Hessian positive semi-definite to rounding, and one of
(a) the possible decrease lambda^2 / 2 is within the float64 noise of f, (b) f itself is at the
noise floor of an exact fit, (c) the Newton step changes no parameter beyond ``XTOL`` relative.
The noise of f is *of its computation*, not a fraction of f: rounding moves every residual by
about eps x (1 + |y|), so f moves by eps x sum |df/dy_i| (1 + |y_i|) to first order, plus the
second-order term eps^2 x sum w_i (1 + |y_i|)^2 that is all that is left of an exact fit. A relative
tolerance alone (``NOISE`` x |f|) asks for more digits than float64 holds when f is near zero
(clean data), and would refuse the best fits.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from scaling.fit.device import cpu64

#: possible decrease below which f is minimal to float64 noise (relative to |f|)
NOISE = 1e-13
#: absolute floor: an objective of squared log residuals below (1e-13)^2 is an exact fit
EXACT = 1e-26
#: rounding steps per residual allowed for in the noise of f (log, exp, sums: a few each)
ROUNDING = 8.0
#: a Newton step below this relative change of every parameter moves nothing float64 resolves
XTOL = 1e-10
_EPS = float(np.finfo(np.float64).eps)
_STEPS = 2.0 ** -np.arange(0, 30)  # backtracking step lengths, evaluated in one batch


@lru_cache(maxsize=None)
def _compiled(value_and_grad, n_iter: int):
    steps = jnp.asarray(_STEPS)

    def hess_one(x, row):
        return jax.jacfwd(lambda z: value_and_grad(z[None], {k: v[None] for k, v in row.items()})[1][0])(x)

    def hessians(X, rows):
        axes = {k: (None if v.shape[0] == 1 else 0) for k, v in rows.items()}
        rows1 = {k: (v[0] if v.shape[0] == 1 else v) for k, v in rows.items()}
        return jax.vmap(hess_one, in_axes=(0, axes))(X, rows1)

    def direction(H, g):
        lam, V = jnp.linalg.eigh(0.5 * (H + jnp.swapaxes(H, 1, 2)))
        top = jnp.max(jnp.abs(lam), axis=1, keepdims=True)
        floor = jnp.maximum(top * 1e-14, 1e-300)
        lam_m = jnp.maximum(jnp.abs(lam), floor)
        gv = jnp.einsum("ski,sk->si", V, g)
        d = -jnp.einsum("ski,si->sk", V, gv / lam_m)
        dec = jnp.sum(gv * gv / lam_m, axis=1)  # Newton decrement squared
        psd = jnp.min(lam, axis=1) >= -1e-8 * top[:, 0]
        return d, dec, psd

    @jax.jit
    def run(X, rows):
        S, k = X.shape
        T = steps.shape[0]
        rows_t = {key: (v if v.shape[0] == 1 else jnp.repeat(v, T, axis=0)) for key, v in rows.items()}

        def body(_, carry):
            X, f = carry
            _, g = value_and_grad(X, rows)
            d, _, _ = direction(hessians(X, rows), g)
            cand = (X[:, None, :] + steps[None, :, None] * d[:, None, :]).reshape(S * T, k)
            fc, _ = value_and_grad(cand, rows_t)
            fc = jnp.where(jnp.isfinite(fc), fc, jnp.inf).reshape(S, T)
            j = jnp.argmin(fc, axis=1)
            fbest = fc[jnp.arange(S), j]
            take = fbest < f
            Xn = jnp.where(take[:, None], cand.reshape(S, T, k)[jnp.arange(S), j], X)
            return Xn, jnp.where(take, fbest, f)

        f0, _ = value_and_grad(X, rows)
        X, f = jax.lax.fori_loop(0, n_iter, body, (X, jnp.where(jnp.isfinite(f0), f0, jnp.inf)))
        f, g = value_and_grad(X, rows)
        d, dec, psd = direction(hessians(X, rows), g)
        step = jnp.max(jnp.abs(d) / (1.0 + jnp.abs(X)), axis=1)
        return X, f, g, dec, psd, step, noise(X, rows)

    def noise(X, rows):
        """Float64 noise of f at X: first-order in the residuals' rounding, plus the second-order
        floor of an exact fit (objectives without a ``y`` row get the second-order term only)."""
        S = X.shape[0]
        w = jnp.broadcast_to(rows["w"], (S, rows["w"].shape[1]))
        if "y" not in rows:
            return jnp.zeros(S)
        y = jnp.broadcast_to(rows["y"], (S, rows["y"].shape[1]))
        dfdy = jax.grad(lambda yy: jnp.sum(value_and_grad(X, {**rows, "y": yy})[0]))(y)
        scale = ROUNDING * _EPS * (1.0 + jnp.abs(y))
        return jnp.sum(jnp.abs(dfdy) * scale, axis=1) + jnp.sum(w * scale * scale, axis=1)

    return run


def polish(value_and_grad, x, data, dataset=None, *, n_iter: int = 12):
    """Newton-polish rows of ``x`` (P, k) on their data sets; returns (x, f, converged, noise).

    data/dataset as for :func:`scaling.fit.lbfgs.minimize`. Points where Newton finds no
    decrease stay where they are; every output point is tested for optimality afresh (module
    docstring); ``noise`` (P,) is the float64 noise of each f, for comparing objectives.
    """
    x = np.atleast_2d(np.asarray(x, np.float64))
    P = x.shape[0]
    did = np.zeros(P, np.int64) if dataset is None else np.asarray(dataset, np.int64)
    with cpu64():
        rows = {key: (np.asarray(v, np.float64) if np.shape(v)[0] == 1 else np.asarray(v, np.float64)[did])
                for key, v in data.items()}
        run = _compiled(value_and_grad, n_iter)
        out = jax.device_get(run(jnp.asarray(x), {k: jnp.asarray(v) for k, v in rows.items()}))
    X, f, g, dec, psd, step, noise = (np.asarray(a, np.float64) for a in out)
    noise = noise + NOISE * np.abs(f) + EXACT
    ok = np.isfinite(f) & np.all(np.isfinite(g), axis=1) & psd.astype(bool)
    ok &= (0.5 * dec <= noise) | (np.abs(f) <= 2.0 * noise) | (step <= XTOL)
    return X, f, ok, noise
