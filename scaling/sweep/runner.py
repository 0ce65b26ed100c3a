"""Launching a sweep: prepare run directories, run what is not committed, keep the books.

    <sweep_dir>/sweep.yaml          the sweep file as last launched
    <sweep_dir>/sweep.json          launch history: planned and measured times, counts
    <sweep_dir>/state/<run_id>.json the launcher's view of a run: attempts, times, last failure
    <sweep_dir>/runs/<run_id>/      the run itself (config.json, metrics.jsonl, summary.json,
                                    spec.json: how the sweep made it, log.txt: every attempt's output)

Idempotent: a committed run (summary.json present) is never run again; anything else is (re)started
and the trainer resumes it from its own checkpoint. Every file here is written atomically, and the
run records are written only by the worker that holds the run's lock, so a launcher killed at any
moment and started again ends with the same records as one never interrupted.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from scaling import config as C
from scaling import records
from scaling.errors import ConfigError
from scaling.sweep import estimate
from scaling.sweep.spec import RunSpec, Sweep
from scaling.sweep.worker import DEFAULT_TRAINER, LOG

BACKENDS = ("local", "ray", "slurm")
SPEC = "spec.json"


@dataclass
class Job:
    spec: RunSpec
    run_dir: Path
    attempt: int = 0
    fresh: bool = True  # no records yet when this launch began (its time measures a whole run)

    @property
    def log(self) -> Path:
        return self.run_dir / LOG


@dataclass
class Event:
    kind: str  # start | done | retry | failed
    job: Job
    detail: str = ""  # done: the run's status; retry/failed: why
    seconds: float = 0.0


@dataclass
class Result:
    total: int
    skipped: int  # committed before this launch
    todo: list = field(default_factory=list)  # run ids this launch runs
    counts: dict = field(default_factory=dict)  # status -> runs, this launch
    failed: list = field(default_factory=list)  # (Job, detail)
    planned_s: float = 0.0
    measured_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def run_dir_of(sweep_dir: str | Path, run_id: str) -> Path:
    return Path(sweep_dir) / "runs" / run_id


def default_out(sweep_file: str | Path) -> Path:
    return Path("runs") / Path(sweep_file).stem


# ---------------------------------------------------------------- books


class StateBook:
    """`<sweep_dir>/state/<run_id>.json`, merged and rewritten atomically on every change."""

    def __init__(self, sweep_dir: str | Path):
        self.dir = Path(sweep_dir) / "state"
        self.dir.mkdir(parents=True, exist_ok=True)

    def read(self, run_id: str) -> dict:
        path = self.dir / f"{run_id}.json"
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    def update(self, run_id: str, **fields) -> None:
        state = {**self.read(run_id), **fields, "run_id": run_id}
        records.atomic_write_json(self.dir / f"{run_id}.json", state)


def _lock_sweep(sweep_dir: Path):
    handle = open(sweep_dir / ".launcher.lock", "a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConfigError(f"{sweep_dir}: another launcher is running this sweep; wait for it or stop it") from None
    return handle


def _clean_temporaries(sweep_dir: Path) -> None:
    for folder in (sweep_dir, sweep_dir / "state"):
        for path in folder.glob(".*.tmp"):
            path.unlink(missing_ok=True)


def prepare(sweep: Sweep, sweep_dir: str | Path) -> list[Job]:
    """Create the sweep folder and every run directory (config.json, spec.json); no training."""
    sweep_dir = Path(sweep_dir)
    try:
        (sweep_dir / "runs").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"{sweep_dir}: output folder is not writable ({err.strerror or err})") from None
    src = Path(sweep.source)
    if src.is_file():
        records.atomic_write_text(sweep_dir / "sweep.yaml", src.read_text())
    jobs = []
    for spec in sweep.runs:
        run_dir = run_dir_of(sweep_dir, spec.run_id)
        records.prepare_run_dir(run_dir, C.to_dict(spec.cfg), spec.run_id)
        meta = {**spec.meta(), "sweep": sweep.name, "cost": spec.cost}
        path = run_dir / SPEC
        if not path.exists() or json.loads(path.read_text() or "{}") != json.loads(json.dumps(meta)):
            records.atomic_write_json(path, meta)
        jobs.append(Job(spec, run_dir))
    return jobs


def plan_rows(sweep: Sweep, sweep_dir: str | Path | None, rate: estimate.Rate) -> list[dict]:
    """One row per run: id, label, params, tokens, FLOPs, estimated seconds, current status."""
    rows = []
    for spec in sweep.runs:
        status = "pending"
        if sweep_dir is not None:
            summary = records.read_summary(run_dir_of(sweep_dir, spec.run_id)) if \
                run_dir_of(sweep_dir, spec.run_id).is_dir() else None
            status = summary.get("status", "done") if summary else "pending"
        flops = spec.cost.get("compute/flops")
        rows.append({
            "run_id": spec.run_id, "label": spec.label, "recipe": spec.recipe, "budget": spec.budget,
            "params": spec.cost.get("params/total"), "tokens": spec.cost.get("tokens/total", spec.cfg.train.tokens),
            "steps": spec.cost.get("steps"), "flops": flops, "flops_6nd": spec.cost.get("compute/flops_6nd"),
            "seconds": rate.seconds(flops), "status": status,
        })
    return rows


def rate_for(sweep_dir: str | Path | None, flops_per_s: float | None = None,
             overhead_s: float | None = None) -> estimate.Rate:
    """The rate to plan with: given values win, else measured from the finished runs of `sweep_dir`
    (or, before it has any, of the sweep folders beside it), else the defaults."""
    rate = estimate.Rate()
    if sweep_dir is not None:
        sweep_dir = Path(sweep_dir)
        samples = estimate.measured_runs(sweep_dir)
        if not samples and sweep_dir.parent.is_dir():
            for sibling in sorted(sweep_dir.parent.iterdir()):
                samples += estimate.measured_runs(sibling) if sibling.is_dir() else []
        rate = estimate.calibrate(samples)
    if flops_per_s is not None or overhead_s is not None:
        rate = estimate.Rate(flops_per_s or rate.flops_per_s,
                             rate.overhead_s if overhead_s is None else overhead_s, "given")
    return rate


# ---------------------------------------------------------------- launching


def run_sweep(sweep: Sweep, sweep_dir: str | Path, *, backend: str = "local", workers: int = 1,
              retries: int | None = None, trainer: str = DEFAULT_TRAINER,
              rate: estimate.Rate | None = None,
              on_event: Callable[[Event], None] | None = None,
              on_start: Callable[[Result], None] | None = None) -> Result:
    """Run every run of `sweep` that is not committed under `sweep_dir`; see the module doc."""
    if backend not in BACKENDS:
        raise ConfigError(f"--backend: unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    if workers < 1:
        raise ConfigError(f"--workers: must be at least 1, got {workers}")
    retries = int(sweep.resources["retries"] if retries is None else retries)
    if retries < 0:
        raise ConfigError(f"--retries: must be non-negative, got {retries}")
    module, sep, fn = trainer.rpartition(":")
    if module.endswith(".py"):  # a trainer file: absolute, so workers elsewhere find it
        trainer = f"{Path(module).resolve()}{sep}{fn}"
    sweep_dir = Path(sweep_dir)
    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"{sweep_dir}: output folder is not writable ({err.strerror or err})") from None
    lock = _lock_sweep(sweep_dir)
    try:
        _clean_temporaries(sweep_dir)
        jobs = prepare(sweep, sweep_dir)
        book = StateBook(sweep_dir)
        rate = rate or rate_for(sweep_dir)
        todo = [j for j in jobs if not records.is_committed(j.run_dir)]
        for job in todo:
            job.fresh = not (job.run_dir / records.METRICS).exists()
        result = Result(total=len(jobs), skipped=len(jobs) - len(todo), todo=[j.spec.run_id for j in todo])
        pending = {j.spec.run_id for j in todo}
        for job in jobs:  # runs committed as failed earlier stay failed (final), and are listed
            if job.spec.run_id not in pending and (records.read_summary(job.run_dir) or {}).get("status") == "failed":
                result.failed.append((job, "failed (committed earlier)"))
        result.planned_s = estimate.makespan([rate.seconds(j.spec.cost.get("compute/flops")) for j in todo],
                                             workers)
        history = _history(sweep_dir)
        launch = {"started": time.time(), "backend": backend, "workers": workers, "runs": len(todo),
                  "planned_s": result.planned_s, "rate": rate.__dict__}
        _write_history(sweep_dir, sweep, history + [launch])
        if on_start:
            on_start(result)
        t0 = time.monotonic()

        def record(event: Event) -> None:
            job, now = event.job, time.time()
            if event.kind == "start":
                book.update(job.spec.run_id, status="running", attempts=job.attempt, started=now,
                            log=str(job.log), label=job.spec.label, whole=job.fresh and job.attempt == 1,
                            flops=job.spec.cost.get("compute/flops"))
            elif event.kind == "done":
                book.update(job.spec.run_id, status="committed", ended=now, detail=event.detail)
                result.counts[event.detail] = result.counts.get(event.detail, 0) + 1
                if event.detail == "failed":
                    result.failed.append((job, "failed (summary.json says so)"))
            elif event.kind == "retry":
                book.update(job.spec.run_id, status="retrying", ended=now, detail=event.detail)
            elif event.kind == "failed":
                book.update(job.spec.run_id, status="failed", ended=now, detail=event.detail)
                result.counts["failed"] = result.counts.get("failed", 0) + 1
                result.failed.append((job, event.detail))
            if on_event:
                on_event(event)

        if todo:
            execute = _backend(backend)
            execute(todo, workers=workers, retries=retries, trainer=trainer, resources=sweep.resources,
                    sweep_dir=sweep_dir, on_event=record)
        result.measured_s = time.monotonic() - t0
        launch.update(finished=time.time(), measured_s=result.measured_s, counts=result.counts,
                      failed=len(result.failed))
        _write_history(sweep_dir, sweep, history + [launch])
        return result
    finally:
        lock.close()


def _backend(name: str) -> Callable:
    if name == "local":
        from scaling.sweep.local import execute
    elif name == "ray":
        from scaling.sweep.ray_backend import execute
    else:
        from scaling.sweep.slurm_backend import execute
    return execute


def _history(sweep_dir: Path) -> list:
    path = sweep_dir / "sweep.json"
    try:
        return list(json.loads(path.read_text()).get("launches", []))
    except (OSError, json.JSONDecodeError):
        return []


def _write_history(sweep_dir: Path, sweep: Sweep, launches: list) -> None:
    records.atomic_write_json(sweep_dir / "sweep.json", {
        "name": sweep.name, "source": os.path.abspath(sweep.source), "runs": [r.run_id for r in sweep.runs],
        "launches": launches,
    })
