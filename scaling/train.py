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

import threading

from scaling import checkpoint, flops, preemption, records, tracking
from scaling.config import RunConfig, config_id, run_id, to_dict
from scaling.data import SPLITS, entropy_floor, layout, split_counts, train_batch, val_batch
from scaling.data.kinds import syllable_ids
from scaling.errors import ConfigError
from scaling.models import build, loss_sums
from scaling.models.model import example_loss_sums
from scaling.optim import apply, moments
from scaling.schedule import Branch, branch_lr, branches, eval_steps, lr_schedule


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
        self.lr = lr_schedule(cfg.optim, max(self.steps, 1))
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
        logits = model(split, batch["images"], batch["text"])
        if "soft" not in batch:
            return example_loss_sums(logits, batch["text"])
        return example_loss_sums(logits, batch["text"], soft=batch["soft"], noise=self.cfg.data.noise,
                                 noise_ids=syllable_ids())

    def step(self, step: int, lr: float | None = None):
        """Train on batch `step` (0-based) at rate `lr` (default: the main line's schedule);
        returns (loss, grad norm) as device scalars (no host sync: `float()` them to wait)."""
        raw = train_batch(self.cfg.data, self.cfg.seed, step, self.cfg.train.batch_size)
        batch = {first: {k: jnp.asarray(np.concatenate([raw[s][k] for s in group])) for k in ("images", "text")}
                 for first, group in self.groups}
        rate = jnp.float32(self.lr(step) if lr is None else lr)
        self.state, loss, gnorm = self._step(self.state, batch, rate, jnp.float32(self.cfg.optim.weight_decay))
        return loss, gnorm

    def evaluate(self) -> dict[str, float]:
        """Mean next-token loss (nats per loss token) on every validation split; a weighted mean
        where the validation set carries weights (the kinds world's stratified sample)."""
        out, size = {}, self.cfg.train.eval_batch_size
        for split in SPLITS:
            if split not in self._val:
                self._val[split] = val_batch(self.cfg.data, split)
            val = self._val[split]
            weight = val.get("weight")
            total = count = 0.0
            for i in range(0, len(val["text"]), size):
                chunk = {k: jnp.asarray(val[k][i:i + size]) for k in ("images", "text", "soft") if k in val}
                s, c = (np.asarray(a, np.float64) for a in self._eval(self.state[0], chunk, LAYOUT_KEY[split]))
                w = 1.0 if weight is None else weight[i:i + size]
                total, count = total + float((w * s).sum()), count + float((w * c).sum())
            out[f"eval/loss/{split}"] = total / count
        return out


def _line_step(rec: dict) -> int:
    """Where on the main line a record was made: a branch's record at the branch's start."""
    return rec.get("branch/start_step", rec["step"])


def _record(cfg: RunConfig, rid: str, step: int, point: str, spent: int, cost: flops.StepCost, p: dict,
            extra: dict) -> dict:
    """One evaluation record. `step`: steps of training the evaluated parameters had (a branch's
    stable prefix plus its cooldown); `spent`: every step the run trained so far, branches included."""
    rec = {
        "run_id": rid, "config_id": config_id(cfg), "recipe": cfg.recipe, "seed": cfg.seed, "step": step,
        "point": point,
        "tokens/total": step * cost.tokens, "tokens/image": step * cost.tokens_image,
        "tokens/text": step * cost.tokens_text,
        "compute/flops": step * cost.flops, "compute/flops_causal": step * cost.flops_causal,
        "compute/flops_6nd": step * cost.flops_6nd, "compute/flops_spent": spent * cost.flops,
        "params/total": p["total"], "params/embed": p["embed"], "params/vision": p["vision"],
        "params/decoder_nonembed": p["decoder_nonembed"], "params/head": p["head"],
    }
    for split in SPLITS:
        floor = entropy_floor(cfg.data, split)
        if floor is not None:
            rec[f"data/entropy_floor/{split}"] = floor
    rec.update(extra)
    return rec


class _Diverged(Exception):
    def __init__(self, step: int):
        self.step = step


def train(cfg: RunConfig, run_dir: str | Path, *, progress=None) -> dict:
    """Train `cfg` into `run_dir` and return its summary (at once if the run is committed).

    Records: `mid` points at the log-spaced evaluations of the main line, `finished` points at the
    end of every cooldown branch (`scaling.schedule`) and at the run's end. `progress(step, steps,
    record)` is called after every evaluation, if given. Raises ConfigError, touching nothing, if
    `run_dir` holds a run of another config or the branches do not fit the run.
    """
    run_dir = Path(run_dir)
    rid = run_id(cfg)
    cost, p = flops.step_cost(cfg), flops.params(cfg)
    if cfg.train.tokens < cost.tokens:
        raise ConfigError(f"train.tokens: {cfg.train.tokens} is less than one step "
                          f"({cost.tokens} tokens at train.batch_size={cfg.train.batch_size})")
    steps = flops.num_steps(cfg)
    plan = {b.start: b for b in branches(cfg.optim, cfg.train, steps)}
    state = records.prepare_run_dir(run_dir, to_dict(cfg), rid)
    if state == "done":
        return records.read_summary(run_dir)
    trainer = Trainer(cfg)
    mids = set(eval_steps(steps, cfg.train.eval_points)) - {steps}
    start = 0
    meta = {"loss_sum": 0.0, "loss_count": 0.0, "wall_s": 0.0, "train_s": 0.0, "timed_steps": 0.0,
            "branch_steps": 0.0}
    ckpt = checkpoint.latest(run_dir) if state == "resume" else None
    if ckpt is not None:
        trainer.state, restored = checkpoint.restore(run_dir, ckpt, trainer.state)
        meta.update(restored)
        start = ckpt
    # Records past the checkpoint are re-made by the resumed run, so (run_id, step, point) stays unique.
    kept = [r for r in records.read_metrics(run_dir) if _line_step(r) <= start]
    records.rewrite_metrics(run_dir, kept)
    if ckpt is None:
        checkpoint.clear(run_dir)

    t0 = time.perf_counter() - meta["wall_s"]
    summary = {"run_id": rid, "recipe": cfg.recipe, "steps_planned": steps}
    last = next((r for r in reversed(kept) if r["point"] == "finished"), kept[-1] if kept else None)
    line = _Losses(meta, start)  # the main line's losses since its last record
    state = {"gnorm": float("nan")}
    log = tracking.TrainLog(run_dir, cfg.train.log_every, start=start, wall_s=meta["wall_s"],
                            tokens_per_step=cost.tokens, tensorboard=cfg.train.tensorboard)
    log.resume(meta)
    # SIGTERM / SIGUSR2 (a scheduler's notice): checkpoint at the step and exit to be requeued
    guard = preemption.install() if threading.current_thread() is threading.main_thread() else preemption.Guard()

    def emit(step: int, point: str, train_loss: float, lr: float, spent: int, **more) -> dict:
        rate = meta["timed_steps"] / meta["train_s"] if meta["train_s"] > 0 else float("nan")
        extra = {"train/loss": train_loss, **trainer.evaluate(), "opt/lr": lr, "opt/grad_norm": state["gnorm"],
                 "time/wall_s": time.perf_counter() - t0,
                 "throughput/tokens_per_s": rate * cost.tokens, "throughput/flops_per_s": rate * cost.flops, **more}
        rec = _record(cfg, rid, step, point, spent, cost, p, extra)
        records.append_metrics(run_dir, rec)
        log.evaluation(rec)
        if progress is not None:
            progress(step, steps, rec)
        line.restart()  # evaluation time is not training time
        return rec

    def branch(b: Branch) -> dict:
        """Cool down from the stable line at b.start, evaluate at b.end, return to the stable line."""
        stable, rate, losses = trainer.state, branch_lr(cfg.optim, b.length), _Losses(meta)
        for i in range(b.length):
            losses.add(b.start + i, *trainer.step(b.start + i, rate(i)))
        total, count, state["gnorm"] = losses.sync()
        meta["branch_steps"] += b.length
        rec = emit(b.end, "finished", total / count, rate(b.length - 1), b.start + int(meta["branch_steps"]),
                   **{"branch/start_step": b.start})
        trainer.state = stable
        return rec

    def settle(done: int) -> None:
        total, count, gnorm = line.sync()
        meta["loss_sum"] += total
        meta["loss_count"] += count
        state["gnorm"] = gnorm if count else state["gnorm"]
        log.add(done, total, count, lr=trainer.lr(done - 1), grad_norm=state["gnorm"])

    def save(done: int) -> None:
        meta["wall_s"] = time.perf_counter() - t0
        log.sync()
        checkpoint.save(run_dir, done, trainer.state, {**meta, **log.window()})
        line.restart()

    try:
        for step in range(start, steps):
            line.add(step, *trainer.step(step))
            done = step + 1
            if cfg.train.log_every and done % cfg.train.log_every == 0:
                settle(done)
            if done in mids or done == steps:
                settle(done)
                last = emit(done, "finished" if done == steps else "mid", meta["loss_sum"] / meta["loss_count"],
                            trainer.lr(done - 1), done + int(meta["branch_steps"]))
                meta["loss_sum"] = meta["loss_count"] = 0.0
            if done in plan:
                settle(done)
                last = branch(plan[done])
            # A branch is costly to redo, an evaluation is not: checkpoint after every branch.
            if (done in plan or done % cfg.train.checkpoint_every == 0) and done < steps:
                settle(done)
                save(done)
            if guard.requested and done < steps:
                settle(done)
                save(done)
                raise preemption.Preempted(done, guard.signal_name)
    except _Diverged as err:
        summary.update(status="diverged", diverged_step=err.step + 1, step=err.step, final=last,
                       wall_s=time.perf_counter() - t0)
        return _commit(run_dir, summary)
    finally:
        guard.uninstall()
        log.close()
    checkpoint.save_final(run_dir, trainer.state[0])
    summary.update(status="done", step=steps, final=last, wall_s=time.perf_counter() - t0,
                   steps_spent=steps + int(meta["branch_steps"]))
    return _commit(run_dir, summary)


class _Losses:
    """Per-step losses and gradient norms left on the device until a sync point, so the host never
    waits on a step (the next batch is built while the device computes). `sync` raises _Diverged
    at the first non-finite step and adds the interval's steps and seconds to meta's throughput
    counters (except the interval holding a process's first step, which includes compilation)."""

    def __init__(self, meta: dict, first: int | None = None):
        self.meta, self.first, self.items = meta, first, []
        self.restart()

    def restart(self) -> None:
        self.t = time.perf_counter()

    def add(self, step: int, loss, gnorm) -> None:
        self.items.append((step, loss, gnorm))

    def sync(self) -> tuple[float, float, float]:
        """(sum of the losses, their count, the last gradient norm) since the last sync."""
        if not self.items:
            return 0.0, 0.0, float("nan")
        steps = [s for s, _, _ in self.items]
        loss, gnorm = (np.asarray(v, np.float64) for v in jax.device_get(
            ([x for _, x, _ in self.items], [g for _, _, g in self.items])))
        bad = ~(np.isfinite(loss) & np.isfinite(gnorm))
        if bad.any():
            raise _Diverged(steps[int(np.argmax(bad))])
        if self.first not in steps:
            self.meta["train_s"] += time.perf_counter() - self.t
            self.meta["timed_steps"] += len(steps)
        self.items = []
        self.restart()
        return float(loss.sum()), float(len(loss)), float(gnorm[-1])


def _commit(run_dir: Path, summary: dict) -> dict:
    """Write the summary (the commit marker), drop the checkpoint, return the summary as written."""
    records.write_summary(run_dir, summary)
    checkpoint.clear(run_dir)
    return records.read_summary(run_dir)
