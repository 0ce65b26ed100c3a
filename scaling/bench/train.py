"""Training-throughput benchmark: achieved FLOP/s over a matmul reference timed in the same process.

A ratio is reported rather than a time, because machines here are noisy and shared. The
reference (a jitted n x n x n float32 matmul) is re-timed just before every timed training step,
so it is sampled across the same load as the steps. Both sides use the same statistic, the best
sample: ratio = (exact training FLOPs / fastest step) / (fastest matmul of the whole run). A
1-second step is more exposed to other processes than a 10 ms matmul, so under load this is
conservative; the median step time is reported beside it.

A timed step is `Trainer.step` (a chunk of one step; training runs chunks of `CHUNK`): the batch
is generated on the host, transferred, and the jitted step (forward, backward, AdamW update) runs to completion (it returns
host floats). FLOPs are `scaling.flops.step_cost` (exact convention: matrix products only).
"""

from __future__ import annotations

import statistics
import time

import jax
import jax.numpy as jnp

from scaling import config as cfgmod
from scaling import flops
from scaling.trainer import Trainer

DEFAULT_WIDTHS = (128, 192, 256)  # 0.83M, 2.7M and 6.4M parameters (early family)
DEFAULT_BATCH = 128


class MatmulReference:
    """A jitted n^3 float32 matmul whose rate can be re-measured cheaply between steps."""

    def __init__(self, n: int = 1024):
        self.n = n
        self.a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
        self.b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
        self._mm = jax.jit(jnp.matmul)
        self._mm(self.a, self.b).block_until_ready()

    def rate(self, repeats: int = 3) -> float:
        """FLOP/s of the best of `repeats` back-to-back matmuls."""
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            self._mm(self.a, self.b).block_until_ready()
            best = min(best, time.perf_counter() - t)
        return 2.0 * self.n**3 / best


def matmul_rate(n: int = 1024, repeats: int = 10) -> float:
    """FLOP/s of a jitted n x n x n float32 matmul (best of `repeats`)."""
    return MatmulReference(n).rate(repeats)


def bench_train(widths=DEFAULT_WIDTHS, family: str = "early", batch_size: int = DEFAULT_BATCH, steps: int = 10,
                matmul_n: int = 1024, warmup: int = 2) -> dict:
    """Per width: exact training FLOPs per step over the step time, and its ratio to the matmul rate."""
    ref = MatmulReference(matmul_n)
    refs_all = []
    rows = []
    for width in widths:
        cfg = cfgmod.load(None, {"model.family": family, "model.width": width,
                                 "train.batch_size": batch_size, "train.tokens": 10**12})
        trainer = Trainer(cfg)
        cost = flops.step_cost(cfg)
        for s in range(warmup):  # compile and warm up
            float(trainer.step(s)[1][0])
        times = []
        for s in range(warmup, warmup + steps):
            refs_all.append(ref.rate())
            t = time.perf_counter()
            float(trainer.step(s)[1][0])  # waits for the step to finish
            times.append(time.perf_counter() - t)
        rows.append({"width": width, "depth": cfg.model.depth, "params": flops.params(cfg)["total"],
                     "batch_size": batch_size, "tokens_per_step": cost.tokens, "flops_per_step": cost.flops,
                     "step_s": min(times), "step_s_median": statistics.median(times),
                     "flops_per_s": cost.flops / min(times)})
    best_ref = max(refs_all)
    for row in rows:
        row["ratio"] = row["flops_per_s"] / best_ref
        row["ratio_median_step"] = row["flops_per_step"] / row["step_s_median"] / best_ref
    return {"device": jax.devices()[0].platform, "family": family, "batch_size": batch_size, "steps": steps,
            "matmul_n": matmul_n, "matmul_flops_per_s": best_ref,
            "matmul_flops_per_s_median": statistics.median(refs_all), "rows": rows}
