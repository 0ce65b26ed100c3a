"""What every engine (local, Ray, Slurm) shares: a Job, the Events it reports, how an attempt settles.

An engine is `execute(jobs, *, workers, retries, trainer, resources, sweep_dir, on_event)`: it runs
each job's worker process (`scaling.sweep.worker`) until the job is committed or given up, and
reports every attempt as events: `start` (with the engine's job id, if any), then `done`, `retry`
or `failed`. The launcher's books (`scaling.sweep.books`) record each event, so every attempt is
visible whichever engine ran it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scaling.sweep.spec import RunSpec
from scaling.sweep.worker import LOG

MAX_PREEMPTIONS = 100  # requeues after a checkpoint-on-signal exit do not count against the retries


@dataclass
class Job:
    spec: RunSpec
    run_dir: Path
    attempt: int = 0
    fresh: bool = True  # no records yet when this launch began (its time measures a whole run)
    pretrained_dir: Path | None = None  # RL runs: the pretraining run they start from
    planned_s: float = 0.0  # the plan's estimate of one whole attempt
    job_id: str | None = None  # the engine's id of the current attempt (Slurm job, Ray task)
    preemptions: int = 0

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
