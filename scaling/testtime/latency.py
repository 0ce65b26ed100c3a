"""Latency that means something: the device's decode-step time per batch size, and where it stops
being flat.

A parallel scheme answers one query with a batch of its M rows (one problem's samples). Whether
that batch costs the device no more time per step than a single row is a property of the device
(its spare parallelism), not of the scheme. So the scheme is judged on critical-path decoding steps
(device-free; `scaling.claims.parallel`), and the device separately, on

    tau(B)   the wall time of one jitted decode step (`scaling.rl.generate.decode_step`) for a batch
             of B rows of one problem, after warm-up, over >= MIN_REPEATS timed repeats: median
             and spread (the 10th and 90th percentiles);
    knee     the largest measured B up to which tau stays within a factor `flat` of tau at the
             smallest B (every B up to it, by the median).

On a device whose tau is not flat over the batch sizes a study used (knee below the largest M),
a latency verdict would describe the device's busy cores, not the scheme: it is "not testable on
this device".
"""

from __future__ import annotations

import time

import numpy as np

from scaling.errors import DataError

MIN_REPEATS = 10
WARMUP = 2


def check_repeats(repeats: int) -> int:
    """--repeats: timed repeats per batch size, at least :data:`MIN_REPEATS`."""
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < MIN_REPEATS:
        raise DataError(f"--repeats: at least {MIN_REPEATS} timed repeats per batch size, got {repeats}")
    return int(repeats)


def summarise(batch: int, times) -> dict:
    """{"B", "tau_s" (median), "lo_s", "hi_s" (10th and 90th percentiles), "repeats"} of one batch size."""
    t = np.asarray(times, float)
    if t.size < MIN_REPEATS or not np.all(np.isfinite(t)) or (t <= 0).any():
        raise DataError(f"decode-step times at B={batch}: need >= {MIN_REPEATS} positive finite repeats")
    return {"B": int(batch), "tau_s": float(np.median(t)), "lo_s": float(np.percentile(t, 10)),
            "hi_s": float(np.percentile(t, 90)), "repeats": int(t.size)}


def knee(batches, tau, flat: float) -> int:
    """The largest batch size B such that tau(B') <= flat * tau(B_min) for every measured B' <= B
    (batches ascending or not; tau positive). The smallest B when even the next one is slower."""
    b = np.asarray(batches, float)
    t = np.asarray(tau, float)
    if b.size == 0 or b.size != t.size or not np.all(t > 0):
        raise DataError("knee: one positive decode-step time per batch size is needed")
    order = np.argsort(b)
    b, t = b[order], t[order]
    ok = np.cumprod(t <= flat * t[0]).astype(bool)
    return int(b[ok][-1])


def flat_over(table: list[dict], batches, flat: float) -> dict:
    """Is tau flat over `batches` (the ones a study used)? {"knee", "flat" (bool), "ratio" (tau at the
    largest over the smallest), "B_max"} from a table of :func:`summarise` rows."""
    by = {r["B"]: r["tau_s"] for r in table}
    missing = [b for b in batches if b not in by]
    if missing:
        raise DataError(f"no measured decode-step time at B={missing[0]}")
    bs = sorted(set(int(b) for b in batches))
    tau = [by[b] for b in bs]
    k = knee(bs, tau, flat)
    return {"knee": k, "flat": k >= bs[-1], "ratio": tau[-1] / tau[0], "B_max": bs[-1], "B_min": bs[0]}


def measure(loaded, problems, batches, *, repeats: int = MIN_REPEATS, warmup: int = WARMUP,
            problem: int = 0) -> list[dict]:
    """tau(B) for each B in `batches`: one problem's prompt prefilled once, its cache repeated B
    times, then one jitted decode step timed `repeats` times after `warmup` untimed calls."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from scaling.rl import generate

    repeats = check_repeats(repeats)
    model = nnx.merge(loaded.graphdef, loaded.params)
    sl = slice(problem, problem + 1)
    logits, (keys, values) = generate.prefill(model, jnp.asarray(problems.images[sl]),
                                              jnp.asarray(problems.prompt[sl]), jnp.asarray(problems.prompt_len[sl]))
    pos = generate.text_start(loaded.model_cfg) + int(problems.prompt_len[problem])
    token = jnp.argmax(logits, -1).astype(jnp.int32)

    @jax.jit
    def step(params, cache, token, pos):
        return generate.decode_step(nnx.merge(loaded.graphdef, params), cache, token, pos)

    out = []
    for b in sorted(set(int(b) for b in batches)):
        cache = (jnp.repeat(keys, b, axis=1), jnp.repeat(values, b, axis=1))
        tok, p = jnp.repeat(token, b), jnp.full((b,), pos, jnp.int32)
        for _ in range(warmup):
            jax.block_until_ready(step(loaded.params, cache, tok, p))
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(step(loaded.params, cache, tok, p))
            times.append(time.perf_counter() - t0)
        out.append(summarise(b, times))
    return out
