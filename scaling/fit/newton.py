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
finite objective, gradient finite, Hessian positive semi-definite to rounding, and a possible
decrease lambda^2 / 2 at most ``NOISE`` x |f| + ``EXACT`` (float64 noise of a sum of n terms).
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
        _, dec, psd = direction(hessians(X, rows), g)
        return X, f, g, dec, psd

    return run


def polish(value_and_grad, x, data, dataset=None, *, n_iter: int = 12):
    """Newton-polish rows of ``x`` (P, k) on their data sets; returns (x, f, converged).

    data/dataset as for :func:`scaling.fit.lbfgs.minimize`. Points where Newton finds no
    decrease stay where they are; every output point is tested for optimality afresh.
    """
    x = np.atleast_2d(np.asarray(x, np.float64))
    P = x.shape[0]
    did = np.zeros(P, np.int64) if dataset is None else np.asarray(dataset, np.int64)
    with cpu64():
        rows = {key: (np.asarray(v, np.float64) if np.shape(v)[0] == 1 else np.asarray(v, np.float64)[did])
                for key, v in data.items()}
        run = _compiled(value_and_grad, n_iter)
        X, f, g, dec, psd = jax.device_get(run(jnp.asarray(x), {k: jnp.asarray(v) for k, v in rows.items()}))
    X, f, g, dec = (np.asarray(a, np.float64) for a in (X, f, g, dec))
    ok = np.isfinite(f) & np.all(np.isfinite(g), axis=1) & np.asarray(psd)
    ok &= 0.5 * dec <= NOISE * np.abs(f) + EXACT
    return X, f, ok
