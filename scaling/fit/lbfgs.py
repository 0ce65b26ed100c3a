"""Batched L-BFGS in JAX: many starts and many bootstrap resamples minimised as one computation.

Every *problem* is one (start, data set) pair. Problems run in a fixed number of *slots* inside
one jitted loop; each tick evaluates the objective and gradient of every slot at once (one
batched computation, no Python loop over starts), advances each slot by one step of its own
state machine, and hands slots whose problem has finished to the next waiting problem (a work
queue). A problem in its line search never waits for another one, and one compile serves any
number of starts.

Per problem the algorithm is L-BFGS (two-loop recursion, ``history`` pairs) with a weak-Wolfe
line search (Lewis & Overton bracketing: halve on an Armijo failure, grow x4 on a curvature
failure); pairs with s·y <= 0 are skipped. Arithmetic runs on the CPU with float64 enabled
(:func:`scaling.fit.device.cpu64`, context managers, so the global JAX configuration seen by other
modules is unchanged) in the requested dtype: float64 for final answers, float32 for screening.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from scaling.fit.device import cpu64

# status codes
RUNNING, CONV_F, CONV_G, STALLED, NONFINITE, MAX_ITER, FRESH, EMPTY = 0, 1, 2, 3, 4, 5, 6, -1
STATUS_NAMES = {0: "running", 1: "ftol", 2: "gtol", 3: "stalled", 4: "nonfinite", 5: "max_iter"}


@dataclass(frozen=True)
class BatchResult:
    """Outcome of :func:`minimize`, one entry per problem.

    x: (P, k) final parameters; fun: (P,) objective; grad_max: (P,) max |gradient|;
    n_iter: accepted steps; n_eval: objective evaluations; status: codes above;
    converged: ftol or gtol met, or a stall at machine precision with a negligible gradient.
    """

    x: np.ndarray
    fun: np.ndarray
    grad_max: np.ndarray
    n_iter: np.ndarray
    n_eval: np.ndarray
    status: np.ndarray
    converged: np.ndarray


def _two_loop(g, S, Y, rho, head, nhist, m):
    """L-BFGS direction -H·g from the circular history (newest pair at index head-1)."""
    q = g
    alphas = jnp.zeros(m, g.dtype)

    def back(i, carry):
        q, alphas = carry
        j = (head - 1 - i) % m
        valid = i < nhist
        a = jnp.where(valid, rho[j] * jnp.dot(S[j], q), 0.0)
        q = q - a * Y[j]
        return q, alphas.at[j].set(a)

    q, alphas = jax.lax.fori_loop(0, m, back, (q, alphas))
    jn = (head - 1) % m
    yy = jnp.dot(Y[jn], Y[jn])
    gamma = jnp.where(nhist > 0, jnp.dot(S[jn], Y[jn]) / jnp.where(yy > 0, yy, 1.0), 1.0)
    r = gamma * q

    def fwd(i, r):
        j = (head - nhist + i) % m
        valid = i < nhist
        b = rho[j] * jnp.dot(Y[j], r)
        return r + jnp.where(valid, alphas[j] - b, 0.0) * S[j]

    r = jax.lax.fori_loop(0, m, fwd, r)
    return -r


def _rows(data, did):
    """Per-problem data: arrays with one row are shared, others are gathered by data-set index."""
    return {k: (v if v.shape[0] == 1 else v[did]) for k, v in data.items()}


def _make_update(m, c1, c2, ftol, gtol, xtol, max_ls, max_iter):
    def update(st, xt, ft, gt):
        x, f, g, p, t = st["x"], st["f"], st["g"], st["p"], st["t"]
        finite = jnp.isfinite(ft) & jnp.all(jnp.isfinite(gt))
        gp = jnp.dot(g, p)
        armijo = finite & (ft <= f + c1 * t * gp)
        curv = jnp.dot(gt, p) >= c2 * gp
        # weak-Wolfe bracketing (Lewis & Overton): shrink on Armijo failure, grow on curvature failure
        lo, hi, nls = st["lo"], st["hi"], st["nls"] + 1
        wolfe = armijo & curv
        # a point that satisfies Armijo is remembered; if the bracket runs out we take the best one
        better = armijo & (ft < st["fb"])
        xb = jnp.where(better, xt, st["xb"])
        fb = jnp.where(better, ft, st["fb"])
        gb = jnp.where(better, gt, st["gb"])
        give_up = ~wolfe & (nls >= max_ls) & jnp.isfinite(st["fb"]) | (~wolfe & (nls >= max_ls) & better)
        accept = wolfe | give_up
        xa = jnp.where(wolfe, xt, xb)
        fa = jnp.where(wolfe, ft, fb)
        ga = jnp.where(wolfe, gt, gb)

        lo_n = jnp.where(armijo & ~curv, t, lo)
        hi_n = jnp.where(~armijo, t, hi)
        t_next = jnp.where(jnp.isfinite(hi_n), 0.5 * (lo_n + hi_n), 4.0 * t)

        # --- accepted step: history update, new direction, convergence tests
        s = xa - x
        y = ga - g
        sy = jnp.dot(s, y)
        good = sy > 1e-12 * jnp.linalg.norm(s) * jnp.linalg.norm(y)
        head, nhist = st["head"], st["nhist"]
        S = jnp.where(good, st["S"].at[head].set(s), st["S"])
        Y = jnp.where(good, st["Y"].at[head].set(y), st["Y"])
        rho = jnp.where(good, st["rho"].at[head].set(1.0 / jnp.where(good, sy, 1.0)), st["rho"])
        head_n = jnp.where(good, (head + 1) % m, head)
        nhist_n = jnp.where(good, jnp.minimum(nhist + 1, m), nhist)
        pn = _two_loop(ga, S, Y, rho, head_n, nhist_n, m)
        descent = jnp.dot(pn, ga) < 0
        pn = jnp.where(descent, pn, -ga)
        nhist_n = jnp.where(descent, nhist_n, 0)
        gmax = jnp.max(jnp.abs(ga))
        conv_f = (f - fa) <= ftol * jnp.maximum(jnp.maximum(jnp.abs(f), jnp.abs(fa)), jnp.finfo(f.dtype).tiny)
        conv_g = gmax <= gtol
        t_acc = jnp.where(descent & (nhist_n > 0), 1.0,
                          jnp.minimum(1.0, 1.0 / jnp.maximum(jnp.linalg.norm(ga), jnp.finfo(f.dtype).tiny)))

        stalled = ~accept & ((hi_n - lo_n) * jnp.max(jnp.abs(p)) <= xtol * (1.0 + jnp.max(jnp.abs(x))))
        stalled |= ~accept & (nls >= max_ls)
        # a quasi-Newton direction that cannot be followed: restart once from steepest descent
        restart = stalled & (nhist > 0)
        stalled = stalled & (nhist == 0)

        status = jnp.where(
            accept,
            jnp.where(conv_g, CONV_G, jnp.where(conv_f, CONV_F, RUNNING)),
            jnp.where(stalled, STALLED, RUNNING),
        )
        inf = jnp.full_like(f, jnp.inf)
        acc = dict(
            x=xa, f=fa, g=ga, p=pn, t=t_acc, S=S, Y=Y, rho=rho, head=head_n, nhist=nhist_n,
            lo=jnp.zeros_like(lo), hi=inf, nls=jnp.zeros_like(nls), xb=xa, fb=inf, gb=ga,
        )
        rej = dict(
            x=x, f=f, g=g, p=p, t=t_next, S=st["S"], Y=st["Y"], rho=st["rho"], head=head,
            nhist=nhist, lo=lo_n, hi=hi_n, nls=nls, xb=xb, fb=fb, gb=gb,
        )
        t_sd = jnp.minimum(1.0, 1.0 / jnp.maximum(jnp.linalg.norm(g), jnp.finfo(f.dtype).tiny))
        rej.update(p=jnp.where(restart, -g, p), t=jnp.where(restart, t_sd, t_next),
                   nhist=jnp.where(restart, 0, nhist), lo=jnp.where(restart, 0.0, lo_n),
                   hi=jnp.where(restart, jnp.inf, hi_n), nls=jnp.where(restart, 0, nls),
                   fb=jnp.where(restart, jnp.inf, fb))
        new = jax.tree_util.tree_map(lambda a, b: jnp.where(accept, a, b), acc, rej)
        status = status.astype(st["status"].dtype)
        new.update(it=st["it"] + accept.astype(st["it"].dtype), nev=st["nev"] + 1, status=status,
                   did=st["did"], pid=st["pid"])
        new["status"] = jnp.where((status == RUNNING) & (new["it"] >= max_iter), MAX_ITER,
                                  status).astype(status.dtype)
        # a fresh slot: this evaluation is its starting point
        fresh_ok = jnp.isfinite(ft) & jnp.all(jnp.isfinite(gt))
        t0 = jnp.minimum(1.0, 1.0 / jnp.maximum(jnp.linalg.norm(gt), jnp.finfo(f.dtype).tiny))
        init = dict(st, f=ft, g=gt, p=-gt, t=t0.astype(f.dtype), xb=xt, gb=gt, nev=st["nev"] + 1,
                    status=jnp.where(fresh_ok, jnp.where(jnp.max(jnp.abs(gt)) <= gtol, CONV_G, RUNNING),
                                     NONFINITE).astype(status.dtype))
        new = jax.tree_util.tree_map(lambda a, b: jnp.where(st["status"] == FRESH, a, b), init, new)
        done = (st["status"] != RUNNING) & (st["status"] != FRESH)
        return jax.tree_util.tree_map(lambda a, b: jnp.where(done, a, b), st, new)

    return update


@lru_cache(maxsize=None)
def _compiled(value_and_grad, m, c1, c2, ftol, gtol, xtol, max_iter, max_ls):
    vupdate = jax.vmap(_make_update(m, c1, c2, ftol, gtol, xtol, max_ls, max_iter))

    def refill(st, nxt, X0, D0, n_real):
        """Give every free slot the next waiting problem (or mark it empty)."""
        free = (st["status"] != RUNNING) & (st["status"] != FRESH)
        rank = jnp.cumsum(free) - 1
        pid = nxt + rank
        load = free & (pid < n_real)
        src = jnp.clip(pid, 0, X0.shape[0] - 1)
        S, k = st["x"].shape
        dt = st["x"].dtype
        blank = dict(
            x=X0[src], f=jnp.full(S, jnp.inf, dt), g=jnp.zeros((S, k), dt), p=jnp.zeros((S, k), dt),
            t=jnp.zeros(S, dt), S=jnp.zeros_like(st["S"]), Y=jnp.zeros_like(st["Y"]),
            rho=jnp.zeros_like(st["rho"]), head=jnp.zeros_like(st["head"]),
            nhist=jnp.zeros_like(st["nhist"]), lo=jnp.zeros(S, dt), hi=jnp.full(S, jnp.inf, dt),
            nls=jnp.zeros_like(st["nls"]), xb=X0[src], fb=jnp.full(S, jnp.inf, dt),
            gb=jnp.zeros((S, k), dt), it=jnp.zeros_like(st["it"]), nev=jnp.zeros_like(st["nev"]),
            status=jnp.where(load, FRESH, EMPTY).astype(st["status"].dtype), did=D0[src],
            pid=jnp.where(load, pid, -1).astype(st["pid"].dtype),
        )
        st = jax.tree_util.tree_map(
            lambda a, b: jnp.where(free.reshape((-1,) + (1,) * (a.ndim - 1)), a, b), blank, st)
        return st, nxt + jnp.sum(load).astype(nxt.dtype)

    def writeout(out, st):
        """Store results of slots whose problem has just finished."""
        fin = (st["status"] != RUNNING) & (st["status"] != FRESH) & (st["pid"] >= 0)
        idx = jnp.where(fin, st["pid"], out["status"].shape[0])  # out of range -> dropped
        return {key: out[key].at[idx].set(st[src], mode="drop") for key, src in
                (("x", "x"), ("f", "f"), ("g", "g"), ("it", "it"), ("nev", "nev"), ("status", "status"))}

    @jax.jit
    def run(X0, D0, n_real, slot_template, data):
        S = slot_template.shape[0]
        Pp, k = X0.shape
        dt = X0.dtype
        st = dict(
            x=jnp.zeros((S, k), dt), f=jnp.zeros(S, dt), g=jnp.zeros((S, k), dt),
            p=jnp.zeros((S, k), dt), t=jnp.zeros(S, dt), S=jnp.zeros((S, m, k), dt),
            Y=jnp.zeros((S, m, k), dt), rho=jnp.zeros((S, m), dt), head=jnp.zeros(S, jnp.int32),
            nhist=jnp.zeros(S, jnp.int32), lo=jnp.zeros(S, dt), hi=jnp.zeros(S, dt),
            nls=jnp.zeros(S, jnp.int32), xb=jnp.zeros((S, k), dt), fb=jnp.zeros(S, dt),
            gb=jnp.zeros((S, k), dt), it=jnp.zeros(S, jnp.int32), nev=jnp.zeros(S, jnp.int32),
            status=jnp.full(S, EMPTY, jnp.int32), did=jnp.zeros(S, jnp.int32),
            pid=jnp.full(S, -1, jnp.int32),
        )
        out = dict(x=X0, f=jnp.full(Pp, jnp.nan, dt), g=jnp.zeros((Pp, k), dt),
                   it=jnp.zeros(Pp, jnp.int32), nev=jnp.zeros(Pp, jnp.int32),
                   status=jnp.full(Pp, EMPTY, jnp.int32))
        st, nxt = refill(st, jnp.int32(0), X0, D0, n_real)

        def cond(c):
            st, _, _ = c
            return jnp.any((st["status"] == RUNNING) | (st["status"] == FRESH))

        def body(c):
            st, out, nxt = c
            xt = st["x"] + st["t"][:, None] * st["p"]
            ft, gt = value_and_grad(xt, _rows(data, st["did"]))
            st = vupdate(st, xt, ft, gt)
            out = writeout(out, st)
            st, nxt = refill(st, nxt, X0, D0, n_real)
            return st, out, nxt

        return jax.lax.while_loop(cond, body, (st, out, nxt))[1]

    return run


def _pow2(n: int, lo: int = 16) -> int:
    size = lo
    while size < n:
        size *= 2
    return size


@lru_cache(maxsize=None)
def autodiff(objective):
    """Batched value-and-gradient from a per-problem scalar ``objective(theta, row)``."""
    vg = jax.value_and_grad(objective)

    def batched(X, rows):
        axes = {k: (None if v.shape[0] == 1 else 0) for k, v in rows.items()}
        rows = {k: (v[0] if v.shape[0] == 1 else v) for k, v in rows.items()}
        return jax.vmap(vg, in_axes=(0, axes))(X, rows)

    return batched


def minimize(value_and_grad, x0, data, dataset=None, *, history=10, max_iter=2000, ftol=1e-13,
             gtol=1e-12, xtol=1e-15, c1=1e-4, c2=0.9, max_ls=40, slots=None,
             dtype=np.float64) -> BatchResult:
    """Minimise from every row of ``x0`` (P, k), all problems batched.

    value_and_grad(X, rows) -> (f (S,), g (S, k)) evaluates every slot at once; ``rows`` holds
    the data arrays, each (1, n) when shared by all problems or (S, n) otherwise
    (:func:`autodiff` builds one from a per-problem scalar objective). data: dict of arrays
    (n_sets, n_points); dataset: (P,) index of the data set each problem uses (default 0).
    ``ftol`` is relative (stop when an accepted step lowers f by less than ftol·|f|), ``gtol``
    bounds max |grad|. ``dtype`` float32 gives a fast screening pass (polish in float64).
    ``value_and_grad`` must be hashable and long-lived: it keys the compile cache.
    """
    x0 = np.atleast_2d(np.asarray(x0, dtype))
    P, k = x0.shape
    Pp = _pow2(P)
    S = slots or min(Pp, max(64, _pow2(P // 16)), 1024)
    X0 = np.zeros((Pp, k), dtype)
    X0[:P] = x0
    D0 = np.zeros(Pp, np.int32)
    if dataset is not None:
        D0[:P] = np.asarray(dataset, np.int32)
    with cpu64():
        run = _compiled(value_and_grad, history, c1, c2, ftol, gtol, xtol, max_iter, max_ls)
        data_dev = {key: jnp.asarray(np.asarray(v, dtype)) for key, v in data.items()}
        out = jax.device_get(run(jnp.asarray(X0), jnp.asarray(D0), jnp.int32(P),
                                 jnp.zeros(S, jnp.int8), data_dev))
    status = np.asarray(out["status"][:P])
    f = np.asarray(out["f"][:P], np.float64)
    gmax = np.max(np.abs(np.asarray(out["g"][:P], np.float64)), axis=1)
    converged = (status == CONV_F) | (status == CONV_G)
    # A stall is declared only after a steepest-descent restart also failed: no step down to
    # xtol along -g met Armijo. For a C1 objective that means the possible decrease
    # |g|²/(2·curvature) is below the resolution of f, i.e. f is minimal to machine precision,
    # whatever |g| is in the parameters' units. A large gradient would point at a broken
    # objective instead, so it is still required to be modest.
    converged |= (status == STALLED) & (gmax <= 1e-3 * np.maximum(1.0, np.abs(f)))
    return BatchResult(x=np.asarray(out["x"][:P], np.float64), fun=f, grad_max=gmax,
                       n_iter=np.asarray(out["it"][:P]), n_eval=np.asarray(out["nev"][:P]),
                       status=status, converged=converged)
