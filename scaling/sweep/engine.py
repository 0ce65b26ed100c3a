"""What every engine (local, Ray, Slurm) shares: a Job, a pack of jobs, the Events, how an attempt settles.

An engine is `execute(packs, *, workers, retries, trainer, resources, sweep_dir, on_event)`: each
pack (a list of Jobs whose runs share every shape, `pack_jobs`) is one task: one worker process
(`scaling.sweep.worker`) trains its members together. The engine runs it until every member is
committed or given up, and reports every member's attempts as events: `start` (with the engine's
job id, if any), then `done`, `retry` or `failed`. Members to retry go back on the queue as a pack
of their own. The launcher's books (`scaling.sweep.books`) record each event, so every attempt is
visible whichever engine ran it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from scaling.sweep.runspec import RunSpec
from scaling.sweep.worker import LOG

MAX_PREEMPTIONS = 100  # requeues after a checkpoint-on-signal exit do not count against the retries


@dataclass
class Job:
    spec: RunSpec
    run_dir: Path
    attempt: int = 0
    fresh: bool = True  # no records yet when this launch began (its time measures a whole run)
    upstream_dirs: tuple[Path, ...] = ()  # the run folders it starts from (one per `spec.upstream`)
    planned_s: float = 0.0  # the plan's estimate of one whole attempt
    job_id: str | None = None  # the engine's id of the current attempt (Slurm job, Ray task)
    preemptions: int = 0
    pack_id: str | None = None  # the run id of its pack's first member, as packed by this launch
    pack_flops: float | None = None  # all the FLOPs its pack trains (what the pack's time is planned on)

    @property
    def log(self) -> Path:
        return self.run_dir / LOG

    @property
    def stage(self) -> str:
        return self.spec.stage


@dataclass
class Event:
    kind: str  # start | done | retry | failed
    job: Job
    detail: str = ""  # done: the run's status; retry/failed: why
    seconds: float = 0.0


def settle(job: Job, kind: str, detail: str, seconds: float, retries: int, queue, on_event) -> None:
    """Report a finished attempt: committed -> done; preempted (checkpointed on a signal) -> retry,
    not counted against `retries`; an infrastructure failure with retries left -> retry (the job
    goes back on `queue`); anything else -> failed."""
    if kind == "committed":
        on_event(Event("done", job, detail, seconds))
        return
    if kind == "preempted" and job.preemptions < MAX_PREEMPTIONS:
        job.preemptions += 1
        on_event(Event("retry", job, detail, seconds))
        queue.append(job)
    elif kind == "infra" and job.attempt - job.preemptions <= retries:
        on_event(Event("retry", job, detail, seconds))
        queue.append(job)
    else:
        if kind == "infra":
            detail += f" ({job.attempt} attempts)"
        on_event(Event("failed", job, detail, seconds))


def pack_jobs(jobs: list[Job], size: int, key: Callable[[Job], object]) -> list[list[Job]]:
    """Group jobs into packs of at most `size` members with equal `key(job)` (None: never packed),
    in launch order (a pack starts where its first member was)."""
    if size < 1:
        raise ValueError(f"pack size must be at least 1, got {size}")
    packs: list[list[Job]] = []
    open_packs: dict = {}
    for job in jobs:
        k = key(job)
        pack = open_packs.get(k) if k is not None else None
        if pack is None or len(pack) >= size:
            pack = []
            packs.append(pack)
            if k is not None:
                open_packs[k] = pack
        pack.append(job)
    return packs


def settle_pack(pack: list[Job], outcomes: dict, seconds: float, retries: int, queue, on_event) -> None:
    """Settle every member of a finished pack (`outcomes`: {run folder name: (kind, detail)}); the
    members to retry go back on `queue` together, as one pack."""
    again: list[Job] = []
    for job in pack:
        kind, detail = outcomes.get(job.run_dir.name, ("infra", "no outcome reported for this run"))
        settle(job, kind, detail, seconds, retries, again, on_event)
    if again:
        queue.append(again)


def pack_planned_s(pack: list[Job], overhead_s: float) -> float:
    """A pack's planned seconds: one overhead, plus every member's work."""
    return overhead_s + sum(max(j.planned_s - overhead_s, 0.0) for j in pack)
