"""Launching a sweep: prepare run directories, run what is not committed, keep the books.

    <sweep_dir>/sweep.yaml          the sweep file as last launched
    <sweep_dir>/sweep.json          launch history: planned and measured times, counts
    <sweep_dir>/state/<run_id>.json the launcher's view of a run: attempts, times, last failure
    <sweep_dir>/runs/<run_id>/      the run itself (config.json, metrics.jsonl, summary.json,
                                    spec.json: how the sweep made it, log.txt: every attempt's output)
    <sweep_dir>/pretrained/         RL sweeps (`stage: rl`): the pretraining runs they start from, a
                                    sweep folder itself (runs/<run_id>/, state/); run first

An RL sweep runs in two stages through the same engines: its pretraining runs (trainer
`scaling.train:train`), then, once those are committed, its RL runs (`scaling.rl.run:train`, which
finds its pretrained run through `spec.json`). An RL run whose pretrained run did not end `done`
is not started; it is listed as failed and tried again by the next launch.

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
RL_TRAINER = "scaling.rl.run:train"
PRETRAINED = "pretrained"  # <sweep_dir>/pretrained/: an RL sweep's pretraining runs


@dataclass
class Job:
    spec: RunSpec
    run_dir: Path
    attempt: int = 0
    fresh: bool = True  # no records yet when this launch began (its time measures a whole run)
    pretrained_dir: Path | None = None  # RL runs: the pretraining run they start from

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


def settle(job, kind: str, detail: str, seconds: float, retries: int, queue, on_event) -> None:
    """Report a finished attempt: committed -> done; an infrastructure failure with retries left ->
    retry (the job goes back on `queue`); anything else -> failed. Shared by the engines."""
    if kind == "committed":
        on_event(Event("done", job, detail, seconds))
    elif kind == "infra" and job.attempt <= retries:
        on_event(Event("retry", job, detail, seconds))
        queue.append(job)
    else:
        if kind == "infra":
            detail += f" ({job.attempt} attempts)"
        on_event(Event("failed", job, detail, seconds))


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


def stage_dir(sweep_dir: str | Path, spec: RunSpec, sweep: Sweep) -> Path:
    """The sweep folder a run belongs to: `<sweep_dir>/pretrained` for an RL sweep's pretraining runs."""
    return Path(sweep_dir) / PRETRAINED if sweep.stage == "rl" and spec.stage == "pretrain" else Path(sweep_dir)


def spec_run_dir(sweep: Sweep, sweep_dir: str | Path, spec: RunSpec) -> Path:
    return run_dir_of(stage_dir(sweep_dir, spec, sweep), spec.run_id)


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
    """Create the sweep folder and every run directory (config.json, spec.json); no training.
    The jobs come in launch order (an RL sweep's pretraining runs first)."""
    sweep_dir = Path(sweep_dir)
    try:
        (sweep_dir / "runs").mkdir(parents=True, exist_ok=True)
        if sweep.stage == "rl":
            (sweep_dir / PRETRAINED / "runs").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"{sweep_dir}: output folder is not writable ({err.strerror or err})") from None
    src = Path(sweep.source)
    if src.is_file():
        records.atomic_write_text(sweep_dir / "sweep.yaml", src.read_text())
    jobs = []
    for spec in sweep.all_runs:
        run_dir = spec_run_dir(sweep, sweep_dir, spec)
        records.prepare_run_dir(run_dir, spec.config_dict(), spec.run_id)
        meta = {**spec.meta(), "sweep": sweep.name, "cost": spec.cost}
        pre_dir = None
        if spec.pretrained is not None:
            pre_dir = spec_run_dir(sweep, sweep_dir, spec.pretrained)
            meta["pretrained_dir"] = os.path.relpath(pre_dir, run_dir)  # relative: the folder may move
        path = run_dir / SPEC
        if not path.exists() or json.loads(path.read_text() or "{}") != json.loads(json.dumps(meta)):
            records.atomic_write_json(path, meta)
        jobs.append(Job(spec, run_dir, pretrained_dir=pre_dir))
    return jobs


def plan_rows(sweep: Sweep, sweep_dir: str | Path | None, rate) -> list[dict]:
    """One row per run (an RL sweep's pretraining runs first): id, stage, label, params, tokens,
    FLOPs (RL runs: the RL training FLOPs), estimated seconds, current status; RL runs also name
    their pretrained run. `rate`: one `estimate.Rate`, or {stage: Rate} (`rates_for`)."""
    rows = []
    for spec in sweep.all_runs:
        status = "pending"
        if sweep_dir is not None:
            run_dir = spec_run_dir(sweep, sweep_dir, spec)
            summary = records.read_summary(run_dir) if run_dir.is_dir() else None
            status = summary.get("status", "done") if summary else "pending"
        rl = spec.stage == "rl"
        flops = spec.cost.get("rl/flops" if rl else "compute/flops")
        rows.append({
            "run_id": spec.run_id, "stage": spec.stage, "label": spec.label, "recipe": spec.recipe,
            "budget": spec.budget, "pretrained": spec.pretrained.run_id if spec.pretrained else None,
            "params": spec.cost.get("params/total"),
            "tokens": None if rl else spec.cost.get("tokens/total", spec.cfg.train.tokens),
            "steps": spec.cost.get("steps"), "flops": flops, "flops_6nd": spec.cost.get("compute/flops_6nd"),
            "seconds": _rate(rate, spec.stage).seconds(spec.cost.get("compute/flops")), "status": status,
        })
    return rows


def _samples(sweep_dir: Path, stage: str) -> list:
    return estimate.measured_runs(sweep_dir, stage) + estimate.measured_runs(sweep_dir / PRETRAINED, stage)


def rate_for(sweep_dir: str | Path | None, flops_per_s: float | None = None,
             overhead_s: float | None = None, stage: str = "pretrain") -> estimate.Rate:
    """The rate to plan runs of `stage` with: given values win, else measured from the finished runs
    of that stage in `sweep_dir` (or, before it has any, in the sweep folders beside it), else the
    defaults."""
    rate = estimate.default_rate(stage)
    if sweep_dir is not None:
        sweep_dir = Path(sweep_dir)
        samples = _samples(sweep_dir, stage)
        if not samples and sweep_dir.parent.is_dir():
            for sibling in sorted(sweep_dir.parent.iterdir()):
                samples += _samples(sibling, stage) if sibling.is_dir() else []
        rate = estimate.calibrate(samples, rate)
    if flops_per_s is not None or overhead_s is not None:
        rate = estimate.Rate(flops_per_s or rate.flops_per_s,
                             rate.overhead_s if overhead_s is None else overhead_s, "given")
    return rate


def rates_for(sweep: Sweep, sweep_dir: str | Path | None, flops_per_s: float | None = None,
              overhead_s: float | None = None) -> dict[str, estimate.Rate]:
    """{stage: Rate} for every stage the sweep runs (`rate_for` each)."""
    stages = ["pretrain", "rl"] if sweep.stage == "rl" else ["pretrain"]
    return {s: rate_for(sweep_dir, flops_per_s, overhead_s, stage=s) for s in stages}


def _rate(rate, stage: str) -> estimate.Rate:
    if isinstance(rate, estimate.Rate):
        return rate
    return (rate or {}).get(stage) or estimate.default_rate(stage)


def planned_seconds(sweep: Sweep, rate) -> dict[str, float]:
    """run_id -> estimated seconds (`rate`: a Rate or {stage: Rate})."""
    return {r.run_id: _rate(rate, r.stage).seconds(r.cost.get("compute/flops")) for r in sweep.all_runs}


# ---------------------------------------------------------------- launching


def run_sweep(sweep: Sweep, sweep_dir: str | Path, *, backend: str = "local", workers: int = 1,
              retries: int | None = None, trainer: str = DEFAULT_TRAINER, rl_trainer: str = RL_TRAINER,
              rate=None,
              on_event: Callable[[Event], None] | None = None,
              on_start: Callable[[Result], None] | None = None) -> Result:
    """Run every run of `sweep` that is not committed under `sweep_dir`; see the module doc.
    `trainer` trains the pretraining runs, `rl_trainer` the RL runs of an RL sweep; `rate` is a
    Rate or {stage: Rate} (default: `rates_for`)."""
    if backend not in BACKENDS:
        raise ConfigError(f"--backend: unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    if workers < 1:
        raise ConfigError(f"--workers: must be at least 1, got {workers}")
    retries = int(sweep.resources["retries"] if retries is None else retries)
    if retries < 0:
        raise ConfigError(f"--retries: must be non-negative, got {retries}")
    trainers = {"pretrain": _absolute(trainer), "rl": _absolute(rl_trainer)}
    sweep_dir = Path(sweep_dir)
    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"{sweep_dir}: output folder is not writable ({err.strerror or err})") from None
    lock = _lock_sweep(sweep_dir)
    try:
        stage_dirs = {"pretrain": sweep_dir / PRETRAINED, "rl": sweep_dir} if sweep.stage == "rl" \
            else {"pretrain": sweep_dir}
        for folder in stage_dirs.values():
            folder.mkdir(parents=True, exist_ok=True)
            _clean_temporaries(folder)
        jobs = prepare(sweep, sweep_dir)
        books = {stage: StateBook(folder) for stage, folder in stage_dirs.items()}
        rate = rate or rates_for(sweep, sweep_dir)
        todo = [j for j in jobs if not records.is_committed(j.run_dir)]
        for job in todo:
            job.fresh = not (job.run_dir / records.METRICS).exists()
        result = Result(total=len(jobs), skipped=len(jobs) - len(todo), todo=[j.spec.run_id for j in todo])
        pending = {j.spec.run_id for j in todo}
        for job in jobs:  # runs committed as failed earlier stay failed (final), and are listed
            if job.spec.run_id not in pending and (records.read_summary(job.run_dir) or {}).get("status") == "failed":
                result.failed.append((job, "failed (committed earlier)"))
        seconds = {j.spec.run_id: _rate(rate, j.stage).seconds(j.spec.cost.get("compute/flops")) for j in todo}
        result.planned_s = sum(estimate.makespan([seconds[j.spec.run_id] for j in todo if j.stage == stage], workers)
                               for stage in stage_dirs)
        history = _history(sweep_dir)
        launch = {"started": time.time(), "backend": backend, "workers": workers, "runs": len(todo),
                  "planned_s": result.planned_s,
                  "rate": {s: _rate(rate, s).__dict__ for s in stage_dirs} if sweep.stage == "rl"
                  else _rate(rate, "pretrain").__dict__}
        _write_history(sweep_dir, sweep, history + [launch])
        if sweep.stage == "rl":
            _write_pretrained_index(sweep_dir, sweep)
        if on_start:
            on_start(result)
        t0 = time.monotonic()

        def record(event: Event) -> None:
            job, now = event.job, time.time()
            book = books[job.stage]
            if event.kind == "start":
                book.update(job.spec.run_id, status="running", attempts=job.attempt, started=now,
                            log=str(job.log), label=job.spec.label, whole=job.fresh and job.attempt == 1,
                            flops=job.spec.cost.get("compute/flops"), stage=job.stage)
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

        for stage, folder in stage_dirs.items():  # pretraining first: RL runs start from its models
            batch = [j for j in todo if j.stage == stage]
            if stage == "rl":
                batch = [j for j in batch if _pretrained_ready(j, record)]
            if batch:
                execute = _backend(backend)
                execute(batch, workers=workers, retries=retries, trainer=trainers[stage],
                        resources=sweep.resources, sweep_dir=folder, on_event=record)
        result.measured_s = time.monotonic() - t0
        launch.update(finished=time.time(), measured_s=result.measured_s, counts=result.counts,
                      failed=len(result.failed))
        _write_history(sweep_dir, sweep, history + [launch])
        return result
    finally:
        lock.close()


def _absolute(trainer: str) -> str:
    module, sep, fn = trainer.rpartition(":")
    if module.endswith(".py"):  # a trainer file: absolute, so workers elsewhere find it
        return f"{Path(module).resolve()}{sep}{fn}"
    return trainer


def _pretrained_ready(job: Job, record: Callable[[Event], None]) -> bool:
    """True when the RL run's pretrained run is committed `done`; otherwise the RL run is listed as
    failed (not started, not committed: the next launch tries again)."""
    summary = records.read_summary(job.pretrained_dir) if job.pretrained_dir is not None else None
    if summary is not None and summary.get("status") == "done":
        return True
    state = "unfinished" if summary is None else f"ended {summary.get('status')!r}"
    record(Event("failed", job, f"not started: its pretrained run {job.spec.pretrained.run_id} is {state}"))
    return False


def _write_pretrained_index(sweep_dir: Path, sweep: Sweep) -> None:
    """`<sweep_dir>/pretrained/sweep.json`, so the folder reads as a sweep of its own (status, load)."""
    records.atomic_write_json(sweep_dir / PRETRAINED / "sweep.json", {
        "name": f"{sweep.name}/{PRETRAINED}", "source": os.path.abspath(sweep.source), "stage": "pretrain",
        "runs": [r.run_id for r in sweep.pretrained], "part_of": str(sweep_dir.resolve()),
    })


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
    info = {"name": sweep.name, "source": os.path.abspath(sweep.source), "runs": [r.run_id for r in sweep.runs],
            "launches": launches}
    if sweep.stage == "rl":
        info.update(stage="rl", pretrained=[r.run_id for r in sweep.pretrained])
    records.atomic_write_json(sweep_dir / "sweep.json", info)
