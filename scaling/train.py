"""Train runs into their run directories: one run, or a pack of runs that share every shape.

Every training step sees the same mixture (a fixed number of examples per split), so tokens and
FLOPs per step are constants and the compute at any step is exact. Randomness: parameters from
`seed`, batches from (seed, step), validation sets from `data.seed`.

A pack (`train_pack`) trains its members in one jitted step (`scaling.trainer`); packing is an
execution detail: every member keeps its own run folder, records, checkpoint, resume and summary
(`scaling.lifecycle`), and a lone run (`train`) is a pack of one. A member that diverges is
committed `diverged` at its step and stops updating; the others go on.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import jax
import numpy as np

from scaling import checkpoint, flops, lifecycle, preemption, records, tracking
from scaling.config import RunConfig, config_id, run_id, to_dict
from scaling.data import SPLITS, entropy_floor
from scaling.errors import ConfigError
from scaling.schedule import Branch, branch_lr, branches, eval_steps
from scaling.trainer import CHUNK, Trainer, check_pack

__all__ = ["train", "train_pack", "eval_steps"]


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


def _check(cfg: RunConfig) -> None:
    """Refuse, before anything is written, a budget under one step or branches that do not fit."""
    cost = flops.step_cost(cfg)
    if cfg.train.tokens < cost.tokens:
        raise ConfigError(f"train.tokens: {cfg.train.tokens} is less than one step "
                          f"({cost.tokens} tokens at train.batch_size={cfg.train.batch_size})")
    branches(cfg.optim, cfg.train, flops.num_steps(cfg))


def train(cfg: RunConfig, run_dir: str | Path, *, progress=None) -> dict:
    """Train `cfg` into `run_dir` and return its summary (at once if the run is committed).

    Records: `mid` points at the log-spaced evaluations of the main line, `finished` points at the
    end of every cooldown branch (`scaling.schedule`) and at the run's end. `progress(step, steps,
    record)` is called after every evaluation, if given. Raises ConfigError, touching nothing, if
    `run_dir` holds a run of another config or the branches do not fit the run.
    """
    return train_pack([cfg], [run_dir], progress=progress)[0]


def train_pack(cfgs, run_dirs, *, progress=None) -> list[dict]:
    """Train the runs `cfgs` (equal in every shape: `scaling.trainer.check_pack`) into `run_dirs`
    together; returns their summaries in order. Members already committed are skipped; members
    resumed from checkpoints at different steps train in sub-packs, one per starting step."""
    cfgs, run_dirs = list(cfgs), [Path(d) for d in run_dirs]
    if len(cfgs) != len(run_dirs) or len({d.resolve() for d in run_dirs}) != len(run_dirs):
        raise ConfigError("pack: needs one distinct run folder per run")
    check_pack(cfgs)
    for cfg in cfgs:
        _check(cfg)
    # A pack saves every member's checkpoint before pruning the older ones, so a kill mid-save leaves
    # a step they all have: resume from it, and the pack stays one pack (the same records).
    held = [set(checkpoint.steps(d)) for d in run_dirs if not records.is_committed(d) and checkpoint.steps(d)]
    common = max(set.intersection(*held)) if held and set.intersection(*held) else None
    folders = [lifecycle.open_run(d, to_dict(c), run_id(c), _line_step, at=common) for c, d in zip(cfgs, run_dirs)]
    out: list = [f.summary() if f.done else None for f in folders]
    starts = sorted({f.start for f in folders if not f.done})
    for start in starts:
        idx = [i for i, f in enumerate(folders) if not f.done and f.start == start]
        for i, summary in zip(idx, _train_group([cfgs[i] for i in idx], [folders[i] for i in idx], progress)):
            out[i] = summary
    return out


def _chunks(first: int, stop: int, acts=lambda done: False) -> list[tuple[int, int]]:
    """Steps first .. stop-1 as (first, count) chunks of one compiled call each: a chunk ends at a
    multiple of CHUNK (so a resumed run cuts the same chunks), at `stop`, or after a step at which
    the loop acts (`acts(done)`: evaluate, branch, checkpoint, log)."""
    out = []
    while first < stop:
        end = min(stop, (first // CHUNK + 1) * CHUNK)
        end = next((d for d in range(first + 1, end) if acts(d)), end)
        out.append((first, end - first))
        first = end
    return out


train.pack = train_pack  # the worker trains a pack of run folders with this (`scaling.sweep.worker`)


class _Member:
    """One run of a pack: its folder, counters, train log and latest finished record."""

    def __init__(self, cfg: RunConfig, folder: lifecycle.RunFolder, steps: int, pack: int):
        self.cfg, self.folder, self.rid = cfg, folder, folder.run_id
        self.cost, self.p = flops.step_cost(cfg), flops.params(cfg)
        self.meta = {"loss_sum": 0.0, "loss_count": 0.0, "wall_s": 0.0, "train_s": 0.0, "timed_steps": 0.0,
                     "branch_steps": 0.0}
        self.alive, self.gnorm = True, float("nan")
        kept = folder.kept
        self.last = next((r for r in reversed(kept) if r["point"] == "finished"), kept[-1] if kept else None)
        self.summary = {"run_id": self.rid, "recipe": cfg.recipe, "steps_planned": steps}
        if pack > 1:
            self.summary["pack"] = pack  # how it ran, not what it is: no record carries it
        self.log = None
        self.t0 = time.perf_counter()

    def start(self, restored_meta: dict) -> None:
        self.meta.update(restored_meta)
        self.t0 = time.perf_counter() - self.meta["wall_s"]
        self.log = tracking.TrainLog(self.folder.path, self.cfg.train.log_every, start=self.folder.start,
                                     wall_s=self.meta["wall_s"], tokens_per_step=self.cost.tokens,
                                     tensorboard=self.cfg.train.tensorboard)
        self.log.resume(self.meta)

    def wall(self) -> float:
        return time.perf_counter() - self.t0


def _train_group(cfgs, folders, progress) -> list[dict]:
    """Train members that all start at the same step; returns their summaries. A resumed group is
    padded with inert members (never updated, never recorded) to the size its pack had when it
    checkpointed: batched products' rounding depends on the pack's size, so a pack that lost a
    committed member on the way still trains its others exactly as before."""
    restored_meta = [f.restore_meta() for f in folders]
    size = max([len(cfgs)] + [int(m.get("pack_size", 0)) for m in restored_meta])
    trainer = Trainer(cfgs + [cfgs[0]] * (size - len(cfgs)))
    steps, cfg = trainer.steps, cfgs[0]
    start = folders[0].start
    plan = {b.start: b for b in branches(cfg.optim, cfg.train, steps)}
    mids = set(eval_steps(steps, cfg.train.eval_points)) - {steps}
    members = [_Member(c, f, steps, len(cfgs)) for c, f in zip(cfgs, folders)]
    restored = [f.restore(trainer.member_state(k)) for k, f in enumerate(folders)]
    if start:
        trainer.set_member_states([s for s, _ in restored] + [trainer.member_state(k) for k in range(len(cfgs), size)])
    trainer.alive = trainer.alive & (np.arange(size) < len(cfgs))
    for m, (_, meta) in zip(members, restored):
        m.start(meta)
    line = _Losses([m.meta for m in members], start)  # the main line's losses since its last record
    every = sorted({c.train.log_every for c in cfgs if c.train.log_every})
    # SIGTERM / SIGUSR2 (a scheduler's notice): checkpoint at the step and exit to be requeued
    guard = preemption.install() if threading.current_thread() is threading.main_thread() else preemption.Guard()

    def alive() -> list[tuple[int, _Member]]:
        return [(k, m) for k, m in enumerate(members) if m.alive]

    def diverge(k: int, step: int) -> None:
        m = members[k]
        m.alive = False
        m.summary.update(status="diverged", diverged_step=step + 1, step=step, final=m.last, wall_s=m.wall())
        m.summary = m.folder.commit(m.summary)
        m.log.close()

    def emit(step: int, point: str, train_loss, rates, spent: list, **more) -> None:
        evals = trainer.evaluate()
        for k, m in alive():
            rate = m.meta["timed_steps"] / m.meta["train_s"] if m.meta["train_s"] > 0 else float("nan")
            extra = {"train/loss": train_loss[k], **evals[k], "opt/lr": rates[k], "opt/grad_norm": m.gnorm,
                     "time/wall_s": m.wall(), "throughput/tokens_per_s": rate * m.cost.tokens,
                     "throughput/flops_per_s": rate * m.cost.flops, **more}
            rec = _record(m.cfg, m.rid, step, point, spent[k], m.cost, m.p, extra)
            records.append_metrics(m.folder.path, rec)
            m.log.evaluation(rec)
            m.last = rec
            if progress is not None:
                progress(step, steps, rec)
        line.restart()  # evaluation time is not training time

    def branch(b: Branch, after: tuple[int, int] | None) -> None:
        """Cool down from the stable line at b.start, evaluate at b.end, return to the stable line
        (whose next chunk, `after`, is prefetched during the branch's last one)."""
        stable, stable_alive = trainer.state, trainer.alive
        rate = [branch_lr(c.optim, b.length) for c in trainer.cfgs]
        losses = _Losses([m.meta for m in members])
        parts = _chunks(b.start, b.end)
        for j, (first, count) in enumerate(parts):
            rates = [[r(first - b.start + i) for r in rate] for i in range(count)]
            then = parts[j + 1] if j + 1 < len(parts) else after
            losses.add(range(first, first + count), *trainer.run(first, count, rates, then=then))
        total, count, gnorm, bad = losses.sync()
        for k, step in bad.items():
            if members[k].alive:
                diverge(k, step)
        for k, m in alive():
            m.gnorm = float(gnorm[k])
            m.meta["branch_steps"] += b.length
        emit(b.end, "finished", total / max(count, 1), [r(b.length - 1) for r in rate],
             [b.start + int(m.meta["branch_steps"]) for m in members], **{"branch/start_step": b.start})
        trainer.state = stable
        trainer.alive = stable_alive & np.array([m.alive for m in members] + [False] * (size - len(members)))

    def settle(done: int) -> None:
        total, count, gnorm, bad = line.sync()
        for k, step in bad.items():
            if members[k].alive:
                diverge(k, step)
        for k, m in alive():
            m.meta["loss_sum"] += float(total[k])
            m.meta["loss_count"] += count
            m.gnorm = float(gnorm[k]) if count else m.gnorm
            m.log.add(done, float(total[k]), count, lr=trainer.lrs[k](done - 1), grad_norm=m.gnorm)

    def save(done: int) -> None:
        for k, m in alive():
            m.meta["wall_s"] = m.wall()
            m.log.sync()
            m.folder.save(done, trainer.member_state(k), {**m.meta, **m.log.window(), "pack_size": size},
                          prune_older=False)
        for _, m in alive():  # only once every member holds the new one
            m.folder.prune(done)
        line.restart()

    def acts(done: int) -> bool:
        return (done in mids or done in plan or done % cfg.train.checkpoint_every == 0
                or any(done % e == 0 for e in every))

    chunks = _chunks(start, steps, acts)
    try:
        for j, (first, count) in enumerate(chunks):
            done = first + count
            after = chunks[j + 1] if j + 1 < len(chunks) else None
            then = _chunks(done, plan[done].end)[0] if done in plan else after
            line.add(range(first, done), *trainer.run(first, count, then=then))
            if any(done % e == 0 for e in every):
                settle(done)
            if done in mids or done == steps:
                settle(done)
                emit(done, "finished" if done == steps else "mid",
                     [m.meta["loss_sum"] / m.meta["loss_count"] if m.meta["loss_count"] else float("nan")
                      for m in members], trainer.rates(done - 1),
                     [done + int(m.meta["branch_steps"]) for m in members])
                for m in members:
                    m.meta["loss_sum"] = m.meta["loss_count"] = 0.0
            if done in plan:
                settle(done)
                branch(plan[done], after)
            if not any(m.alive for m in members):
                break
            # A branch is costly to redo, an evaluation is not: checkpoint after every branch.
            if (done in plan or done % cfg.train.checkpoint_every == 0) and done < steps:
                settle(done)
                save(done)
            if guard.requested and done < steps:
                settle(done)
                save(done)
                raise preemption.Preempted(done, guard.signal_name)
        for k, m in alive():
            m.summary.update(status="done", step=steps, final=m.last, wall_s=m.wall(),
                             steps_spent=steps + int(m.meta["branch_steps"]))
            m.log.close()
            m.summary = m.folder.commit(m.summary, final_params=trainer.member_state(k)[0])
            m.alive = False
    finally:
        guard.uninstall()
        trainer.close()
        for m in members:
            if m.alive:
                m.log.close()
    return [m.summary for m in members]


class _Losses:
    """Per-step (ok, loss, grad norm) of every member, left on the device until a sync point, so
    the host never waits on a step. `sync` finds each member's first non-finite step (the NaN
    guard) and adds the interval's steps and seconds to every meta's throughput counters (except
    the interval holding a process's first step, which includes compilation)."""

    def __init__(self, metas: list, first: int | None = None):
        self.metas, self.first, self.items = metas, first, []
        self.restart()

    def restart(self) -> None:
        self.t = time.perf_counter()

    def add(self, steps: range, ok, loss, gnorm) -> None:
        """A chunk's `steps` and its [CHUNK, members] flags, losses and grad norms (first rows)."""
        self.items.append((steps, ok, loss, gnorm))

    def sync(self):
        """(loss sums per member, steps, last grad norm per member, {member: first bad step})."""
        n = len(self.metas)
        if not self.items:
            return np.zeros(n), 0.0, np.full(n, np.nan), {}
        steps = [s for r, _, _, _ in self.items for s in r]
        got = jax.device_get([(o, x, g) for _, o, x, g in self.items])
        ok, loss, gnorm = (np.concatenate([np.asarray(v[i])[:len(r)] for (r, _, _, _), v in zip(self.items, got)])
                           for i in range(3))
        loss, gnorm = loss.astype(np.float64), gnorm.astype(np.float64)
        bad = {}
        for k in range(n):
            first = lifecycle.first_bad(np.where(ok[:, k], 0.0, np.nan))
            if first is not None:
                bad[k] = steps[first]
        if self.first not in steps:
            for meta in self.metas:
                meta["train_s"] += time.perf_counter() - self.t
                meta["timed_steps"] += len(steps)
        self.items = []
        self.restart()
        return loss.sum(axis=0), float(len(steps)), gnorm[-1], bad
