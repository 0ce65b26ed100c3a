"""Training-throughput benchmark: achieved FLOP/s over a matmul reference timed in the same process.

A ratio is reported rather than a time, because machines here are noisy and shared.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp

from scaling import config as cfgmod
from scaling import flops
from scaling.train import Trainer


def matmul_rate(n: int = 1024, repeats: int = 10) -> float:
    """FLOP/s of a jitted n x n x n float32 matmul (best of `repeats`)."""
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    mm = jax.jit(jnp.matmul)
    mm(a, b).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        mm(a, b).block_until_ready()
        best = min(best, time.perf_counter() - t)
    return 2.0 * n**3 / best


def bench_train(widths, family: str = "early", batch_size: int = 32, steps: int = 20, matmul_n: int = 1024) -> dict:
    """Per width: exact training FLOPs per step over the median step time, and its ratio to the matmul rate."""
    ref = matmul_rate(matmul_n)
    rows = []
    for width in widths:
        cfg = cfgmod.load(None, {"model.family": family, "model.width": width,
                                 "train.batch_size": batch_size, "train.tokens": 10**12})
        trainer = Trainer(cfg)
        cost = flops.step_cost(cfg)
        for s in range(2):  # compile and warm up
            trainer.step(s)
        times = []
        for s in range(2, 2 + steps):
            t = time.perf_counter()
            trainer.step(s)  # returns host floats, so the step has finished
            times.append(time.perf_counter() - t)
        step_s = sorted(times)[len(times) // 2]
        rate = cost.flops / step_s
        rows.append({"width": width, "params": flops.params(cfg)["total"], "tokens_per_step": cost.tokens,
                     "flops_per_step": cost.flops, "step_s": step_s, "flops_per_s": rate, "ratio": rate / ref})
    return {"device": jax.devices()[0].platform, "matmul_n": matmul_n, "matmul_flops_per_s": ref, "rows": rows}
