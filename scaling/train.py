"""Train one run into its run directory: jitted steps, log-spaced evaluations, NaN guard, resume.

Every training step sees the same mixture (a fixed number of examples per split), so tokens and
FLOPs per step are constants and the compute at any step is exact. Randomness: parameters from
`seed`, batches from (seed, step), validation sets from `data.seed`.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from scaling import checkpoint, flops, records
from scaling.config import RunConfig, run_id, to_dict
from scaling.errors import ConfigError
from scaling.data import SPLITS, split_counts, train_batch, val_batch
from scaling.models import build, loss_sums
from scaling.data import layout
from scaling.optim import apply, moments, schedule


def eval_steps(steps: int, points: int) -> list[int]:
    """`points` log-spaced step counts ending at `steps` (fewer when the run is too short)."""
    first = max(1.0, steps / 2 ** (points - 1)) if points > 1 else steps
    grid = np.geomspace(first, steps, points) if points > 1 else np.array([steps])
    return sorted({int(round(s)) for s in grid} | {steps})


# Splits with the same stream layout (caption and qa) share one compiled graph.
LAYOUT_KEY = {s: next(t for t in SPLITS if layout(t) == layout(s)) for s in SPLITS}


def layout_groups(splits: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Training splits grouped by layout: ((representative, (splits...)), ...), in SPLITS order."""
    groups: dict[str, list[str]] = {}
    for s in splits:
        groups.setdefault(LAYOUT_KEY[s], []).append(s)
    return tuple((k, tuple(v)) for k, v in groups.items())


def init_params(cfg: RunConfig):
    """(graphdef, parameters) of a fresh model, initialised in one compiled call."""
    abstract = nnx.eval_shape(lambda: build(cfg, cfg.seed))
    graphdef, _ = nnx.split(abstract, nnx.Param)
    params = jax.jit(lambda: nnx.split(build(cfg, cfg.seed), nnx.Param)[1])()
    return graphdef, params


def enable_compilation_cache() -> None:
    """Reuse compiled steps across processes (the runs of a sweep share shapes).

    $SCALING_JAX_CACHE names the folder (default ~/.cache/scaling/jax); "off" disables it. A cache
    the user configured already is left alone.
    """
    import os

    where = os.environ.get("SCALING_JAX_CACHE", os.path.expanduser("~/.cache/scaling/jax"))
    if where == "off" or jax.config.jax_compilation_cache_dir:
        return
    jax.config.update("jax_compilation_cache_dir", where)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


class Trainer:
    """The jitted pieces of one run: init, train step, evaluation."""

    def __init__(self, cfg: RunConfig):
        enable_compilation_cache()
        self.cfg = cfg
        self.steps = flops.num_steps(cfg)
        self.groups = layout_groups(tuple(split_counts(cfg.data, cfg.train.batch_size)))
        self.graphdef, params = init_params(cfg)
        self.tx = moments(cfg.optim)
        self.lr = schedule(cfg.optim, max(self.steps, 1))
        self.state = (params, self.tx.init(params))
        self._step = jax.jit(self._train_step)
        self._eval = jax.jit(self._eval_sums, static_argnums=2)
        self._val = {}

    def _loss(self, params, batch):
        model = nnx.merge(self.graphdef, params)
        total = count = 0.0
        for split, b in batch.items():
            s, c = loss_sums(model(split, b["images"], b["text"]), b["text"])
            total, count = total + s, count + c
        return total / count

    def _train_step(self, state, batch, lr, weight_decay):
        params, opt_state = state
        loss, grads = jax.value_and_grad(self._loss)(params, batch)
        direction, opt_state = self.tx.update(grads, opt_state)
        return (apply(params, direction, lr, weight_decay), opt_state), loss, optax.tree.norm(grads)

    def _eval_sums(self, params, batch, split: str):
        model = nnx.merge(self.graphdef, params)
        return loss_sums(model(split, batch["images"], batch["text"]), batch["text"])

    def step(self, step: int) -> tuple[float, float]:
        """Train on batch `step` (0-based); returns (loss, grad norm)."""
        raw = train_batch(self.cfg.data, self.cfg.seed, step, self.cfg.train.batch_size)
        batch = {first: {k: jnp.asarray(np.concatenate([raw[s][k] for s in group])) for k in ("images", "text")}
                 for first, group in self.groups}
        lr = jnp.float32(self.lr(step))
        self.state, loss, gnorm = self._step(self.state, batch, lr, jnp.float32(self.cfg.optim.weight_decay))
        return float(loss), float(gnorm)

    def evaluate(self) -> dict[str, float]:
        """Mean next-token loss (nats) on every validation split."""
        out, size = {}, self.cfg.train.eval_batch_size
        for split in SPLITS:
            if split not in self._val:
                self._val[split] = val_batch(self.cfg.data, split)
            val = self._val[split]
            total = count = 0.0
            for i in range(0, len(val["text"]), size):
                chunk = {k: jnp.asarray(v[i:i + size]) for k, v in val.items()}
                s, c = self._eval(self.state[0], chunk, LAYOUT_KEY[split])
                total, count = total + float(s), count + float(c)
            out[f"eval/loss/{split}"] = total / count
        return out


def _record(cfg: RunConfig, rid: str, step: int, cost: flops.StepCost, p: dict, extra: dict) -> dict:
    rec = {
        "run_id": rid, "recipe": cfg.recipe, "step": step,
        "tokens/total": step * cost.tokens, "tokens/image": step * cost.tokens_image,
        "tokens/text": step * cost.tokens_text,
        "compute/flops": step * cost.flops, "compute/flops_causal": step * cost.flops_causal,
        "compute/flops_6nd": step * cost.flops_6nd,
        "params/total": p["total"], "params/embed": p["embed"], "params/vision": p["vision"],
        "params/decoder_nonembed": p["decoder_nonembed"], "params/head": p["head"],
    }
    rec.update(extra)
    return rec


def train(cfg: RunConfig, run_dir: str | Path, *, progress=None) -> dict:
    """Train `cfg` into `run_dir` and return its summary (at once if the run is committed).

    `progress(step, steps, record)` is called after every evaluation, if given.
    Raises ConfigError, touching nothing, if `run_dir` holds a run of another config.
    """
    run_dir = Path(run_dir)
    rid = run_id(cfg)
    per_step = flops.step_cost(cfg).tokens
    if cfg.train.tokens < per_step:
        raise ConfigError(f"train.tokens: {cfg.train.tokens} is less than one step "
                          f"({per_step} tokens at train.batch_size={cfg.train.batch_size})")
    state = records.prepare_run_dir(run_dir, to_dict(cfg), rid)
    if state == "done":
        return records.read_summary(run_dir)
    trainer = Trainer(cfg)
    cost, p = flops.step_cost(cfg), flops.params(cfg)
    schedule_at = set(eval_steps(trainer.steps, cfg.train.eval_points))
    start, meta = 0, {"loss_sum": 0.0, "loss_count": 0.0, "wall_s": 0.0, "train_s": 0.0, "timed_steps": 0.0}
    ckpt = checkpoint.latest(run_dir) if state == "resume" else None
    if ckpt is not None:
        trainer.state, meta = checkpoint.restore(run_dir, ckpt, trainer.state)
        start = ckpt
    # Records past the checkpoint are re-made by the resumed run, so (run_id, step) stays unique.
    kept = [r for r in records.read_metrics(run_dir) if r["step"] <= start]
    records.rewrite_metrics(run_dir, kept)
    if ckpt is None:
        checkpoint.clear(run_dir)

    t0 = time.perf_counter() - meta["wall_s"]
    summary = {"run_id": rid, "recipe": cfg.recipe, "steps_planned": trainer.steps}
    last = kept[-1] if kept else None
    gnorm = float("nan")
    for step in range(start, trainer.steps):
        ts = time.perf_counter()
        loss, gnorm = trainer.step(step)
        if step > start:  # the first step of a process includes compilation
            meta["train_s"] += time.perf_counter() - ts
            meta["timed_steps"] += 1
        if not (math.isfinite(loss) and math.isfinite(gnorm)):
            summary.update(status="diverged", diverged_step=step + 1, step=step, final=last,
                           wall_s=time.perf_counter() - t0)
            records.write_summary(run_dir, summary)
            checkpoint.clear(run_dir)
            return summary
        meta["loss_sum"] += loss
        meta["loss_count"] += 1
        done = step + 1
        if done in schedule_at:
            rate = meta["timed_steps"] / meta["train_s"] if meta["train_s"] > 0 else float("nan")
            extra = {"train/loss": meta["loss_sum"] / meta["loss_count"], **trainer.evaluate(),
                     "opt/lr": trainer.lr(done - 1), "opt/grad_norm": gnorm,
                     "time/wall_s": time.perf_counter() - t0,
                     "throughput/tokens_per_s": rate * cost.tokens, "throughput/flops_per_s": rate * cost.flops}
            last = _record(cfg, rid, done, cost, p, extra)
            records.append_metrics(run_dir, last)
            meta["loss_sum"] = meta["loss_count"] = 0.0
            if progress is not None:
                progress(done, trainer.steps, last)
        if done in schedule_at or done % cfg.train.checkpoint_every == 0:
            if done < trainer.steps:
                meta["wall_s"] = time.perf_counter() - t0
                checkpoint.save(run_dir, done, trainer.state, meta)
    checkpoint.save_final(run_dir, trainer.state[0])
    summary.update(status="done", step=trainer.steps, final=last, wall_s=time.perf_counter() - t0)
    records.write_summary(run_dir, summary)
    checkpoint.clear(run_dir)
    return summary
