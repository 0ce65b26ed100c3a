"""Pack throughput: runs per hour and training FLOP/s for packs of 1, 2, 4, ... runs of one shape.

Two measurements per (width, pack size), both against references taken in the same run:
- **runs per hour**: a fresh process (`python -m scaling.bench.pack`) trains a whole pack from
  scratch, exactly as a sweep worker does (interpreter and JAX start, compilation with the
  persistent cache off, the training loop with its evaluations, cooldown branches, checkpoints and
  commits), single-threaded like the demo's workers (`resources.cpus: 1`). Runs per hour =
  members x 3600 / wall seconds; the gain is over the pack of one at the same width. The process
  reports its peak resident memory.
- **FLOP/s**: in this process, the pack's jitted chunk of steps on prepared batches, members x
  exact training FLOPs per step (`scaling.flops`) over the best time per step, as a ratio to a float32 matmul
  (`scaling.bench.MatmulReference`) re-timed before every timed step.
The runs are the demo's recipe (`sweeps/demo.yaml`, early fusion) at a smaller token budget
(`tokens`), so each measurement takes seconds, not minutes; a real demo run is ~8x longer, so its
overhead share, and the gain from packing it, are smaller than here.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEMO = {"model.family": "early", "data.world": "kinds", "data.text_len": 10, "data.val_examples": 256,
        "data.mix_caption": 0.5, "data.mix_qa": 0.2, "data.mix_text": 0.2, "data.mix_interleaved": 0.1,
        "optim.lr": 5e-3, "optim.schedule": "wsd", "optim.decay": 0.2, "optim.warmup": 0.005,
        "train.batch_size": 20, "train.eval_points": 3, "train.eval_batch_size": 256, "train.branches": 3,
        "train.checkpoint_every": 5000}
DEFAULT_WIDTHS = (16, 24, 32, 48, 128)
DEFAULT_SIZES = (1, 2, 4, 8, 16)
DEFAULT_TOKENS = 150_000


def configs(width: int, size: int, tokens: int) -> list:
    from scaling import config as C

    return [C.load(None, {**DEMO, "model.width": width, "train.tokens": tokens, "seed": s}) for s in range(size)]


def _child(width: int, size: int, tokens: int) -> dict:
    """Train one pack from scratch in this (fresh) process; wall seconds and peak memory."""
    t0 = time.perf_counter()
    from scaling.train import train_pack

    with tempfile.TemporaryDirectory() as tmp:
        summaries = train_pack(configs(width, size, tokens), [Path(tmp) / f"m{i}" for i in range(size)])
    return {"wall_s": time.perf_counter() - t0, "status": [s["status"] for s in summaries],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def whole_pack(width: int, size: int, tokens: int) -> dict:
    """Process start to exit, for one pack (see the module doc)."""
    env = {**os.environ, "SCALING_JAX_CACHE": "off", "PYTHONUNBUFFERED": "1",
           "XLA_FLAGS": os.environ.get("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "scaling.bench.pack", str(width), str(size), str(tokens)],
                         capture_output=True, text=True, env=env, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["process_s"] = time.perf_counter() - t0
    res["runs_per_hour"] = size * 3600.0 / res["process_s"]
    return res


def step_rate(width: int, size: int, ref, steps: int = 8, mode: str = "vmap") -> dict:
    """Best time per step of the pack's jitted chunk (`Trainer.run`, CHUNK steps per call, batches
    prepared), and its FLOP/s over the matmul's."""
    import jax

    from scaling import flops
    from scaling.trainer import CHUNK, Trainer

    cfgs = configs(width, size, 10**9)
    trainer = Trainer(cfgs, mode=mode)
    cost = flops.step_cost(cfgs[0])
    jax.block_until_ready(trainer.run(0, CHUNK))
    best, refs = float("inf"), []
    for first in range(CHUNK, CHUNK * (1 + max(1, steps // CHUNK)), CHUNK):
        trainer.batches.get((first, CHUNK))  # built before the clock starts, kept as the latest
        refs.append(ref.rate())
        t = time.perf_counter()
        jax.block_until_ready(trainer.run(first, CHUNK))
        best = min(best, (time.perf_counter() - t) / CHUNK)
    trainer.close()
    return {"step_s": best, "flops_per_s": size * cost.flops / best, "matmul_flops_per_s": max(refs),
            "params": flops.params(cfgs[0])["total"]}


def bench_pack(widths=DEFAULT_WIDTHS, sizes=DEFAULT_SIZES, tokens: int = DEFAULT_TOKENS, whole: bool = True,
               mode: str = "vmap", log=None) -> dict:
    from scaling.bench.train import MatmulReference

    ref = MatmulReference()
    rows = []
    for width in widths:
        base = None
        for size in sizes:
            row = {"width": width, "pack": size, **step_rate(width, size, ref, mode=mode)}
            if whole:
                row.update(whole_pack(width, size, tokens))
                base = base or row["runs_per_hour"] / size * (1 if size == 1 else float("nan"))
                row["gain"] = row["runs_per_hour"] / base if base else float("nan")
            rows.append(row)
            if log:
                log(row)
    best_ref = max(r["matmul_flops_per_s"] for r in rows)
    for row in rows:
        row["ratio"] = row["flops_per_s"] / best_ref
    import jax

    return {"device": jax.devices()[0].platform, "tokens": tokens, "mode": mode, "matmul_flops_per_s": best_ref,
            "rows": rows}


if __name__ == "__main__":  # the fresh process of `whole_pack`
    w, p, t = (int(a) for a in sys.argv[1:4])
    print(json.dumps(_child(w, p, t)))
