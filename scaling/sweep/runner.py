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

from scaling import records
from scaling.errors import ConfigError
from scaling.sweep import books, engines, timing
from scaling.pack import check_pack_size, pack_key
from scaling.sweep.engine import Event, Job, pack_jobs, pack_planned_s
from scaling.sweep.spec import RunSpec, Sweep
from scaling.sweep.worker import DEFAULT_TRAINER

SPEC = "spec.json"
RL_TRAINER = "scaling.rl.run:train"
PRETRAINED = "pretrained"  # <sweep_dir>/pretrained/: an RL sweep's pretraining runs


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



def _spent(cost: dict) -> float | None:
    """All the FLOPs a run trains (its cooldown branches included): what its time is planned on."""
    return cost.get("compute/flops_spent", cost.get("compute/flops"))

def run_dir_of(sweep_dir: str | Path, run_id: str) -> Path:
    return Path(sweep_dir) / "runs" / run_id


def stage_dir(sweep_dir: str | Path, spec: RunSpec, sweep: Sweep) -> Path:
    """The sweep folder a run belongs to: `<sweep_dir>/pretrained` for an RL sweep's pretraining runs."""
    return Path(sweep_dir) / PRETRAINED if sweep.stage == "rl" and spec.stage == "pretrain" else Path(sweep_dir)


def spec_run_dir(sweep: Sweep, sweep_dir: str | Path, spec: RunSpec) -> Path:
    return run_dir_of(stage_dir(sweep_dir, spec, sweep), spec.run_id)


def default_out(sweep_file: str | Path) -> Path:
    return Path("runs") / Path(sweep_file).stem


# ---------------------------------------------------------------- preparing


def _lock_sweep(sweep_dir: Path):
    try:
        handle = open(sweep_dir / ".launcher.lock", "a+")
    except OSError as err:
        raise ConfigError(f"{sweep_dir}: output folder is not writable ({err.strerror or err})") from None
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
    jobs = _jobs(sweep, sweep_dir)
    for job in jobs:
        spec, run_dir = job.spec, job.run_dir
        records.prepare_run_dir(run_dir, spec.config_dict(), spec.run_id)
        meta = {**spec.meta(), "sweep": sweep.name, "cost": spec.cost}
        if job.pretrained_dir is not None:
            meta["pretrained_dir"] = os.path.relpath(job.pretrained_dir, run_dir)  # relative: the folder may move
        path = run_dir / SPEC
        try:
            same = path.exists() and records.read_json(path) == json.loads(json.dumps(meta))
        except records.DataError:
            same = False  # the launcher's own derived file: made again from the sweep
        if not same:
            records.atomic_write_json(path, meta)
    return jobs


def _jobs(sweep: Sweep, sweep_dir: Path) -> list[Job]:
    """One Job per run of the sweep, in launch order; writes nothing."""
    return [Job(spec, spec_run_dir(sweep, sweep_dir, spec),
                pretrained_dir=spec_run_dir(sweep, sweep_dir, spec.pretrained) if spec.pretrained else None)
            for spec in sweep.all_runs]


def stage_dirs(sweep: Sweep, sweep_dir: Path) -> dict[str, Path]:
    """{stage: the folder its runs and books live in}, in launch order."""
    if sweep.stage == "rl":
        return {"pretrain": sweep_dir / PRETRAINED, "rl": sweep_dir}
    return {"pretrain": sweep_dir}


def plan_rows(sweep: Sweep, sweep_dir: str | Path | None, rate) -> list[dict]:
    """One row per run (an RL sweep's pretraining runs first): id, stage, label, params, tokens,
    FLOPs (RL runs: the RL training FLOPs), estimated seconds, current status (as `sweep run` and
    `scaling.load` see it: a damaged run folder is `damaged`); RL runs also name their pretrained
    run. `rate`: one `timing.Rate`, or {stage: Rate} (`rates_for`). A damaged book in
    `sweep_dir` is a DataError naming the file, as for `sweep run`."""
    if sweep_dir is not None:
        books.check_books(stage_dirs(sweep, Path(sweep_dir)), _jobs(sweep, Path(sweep_dir)))
    rows = []
    for spec in sweep.all_runs:
        status = "pending"
        if sweep_dir is not None:
            run_dir = spec_run_dir(sweep, sweep_dir, spec)
            if (run_dir / records.CONFIG).exists() and records.run_problem(run_dir):
                status = "damaged"
            elif (run_dir / records.SUMMARY).exists():
                status = records.read_summary(run_dir)["status"]
        rl = spec.stage == "rl"
        flops = spec.cost.get("rl/flops" if rl else "compute/flops")
        rows.append({
            "run_id": spec.run_id, "stage": spec.stage, "label": spec.label, "recipe": spec.recipe,
            "budget": spec.budget, "pretrained": spec.pretrained.run_id if spec.pretrained else None,
            "params": spec.cost.get("params/total"),
            "tokens": None if rl else spec.cost.get("tokens/total", spec.cfg.train.tokens),
            "steps": spec.cost.get("steps"), "flops": flops, "flops_6nd": spec.cost.get("compute/flops_6nd"),
            "seconds": _rate(rate, spec.stage).seconds(_spent(spec.cost)), "status": status,
        })
    return rows


def _samples(sweep_dir: Path, stage: str) -> list:
    return timing.measured_runs(sweep_dir, stage) + timing.measured_runs(sweep_dir / PRETRAINED, stage)


def rate_for(sweep_dir: str | Path | None, flops_per_s: float | None = None,
             overhead_s: float | None = None, stage: str = "pretrain") -> timing.Rate:
    """The rate to plan runs of `stage` with: given values win, else measured from the finished runs
    of that stage in `sweep_dir` (or, before it has any, in the sweep folders beside it), else the
    defaults."""
    rate = timing.default_rate(stage)
    if sweep_dir is not None:
        sweep_dir = Path(sweep_dir)
        samples = _samples(sweep_dir, stage)
        if not samples and sweep_dir.parent.is_dir():
            for sibling in sorted(sweep_dir.parent.iterdir()):
                samples += _samples(sibling, stage) if sibling.is_dir() else []
        rate = timing.calibrate(samples, rate)
    if flops_per_s is not None or overhead_s is not None:
        rate = timing.Rate(flops_per_s or rate.flops_per_s,
                             rate.overhead_s if overhead_s is None else overhead_s, "given")
    return rate


def rates_for(sweep: Sweep, sweep_dir: str | Path | None, flops_per_s: float | None = None,
              overhead_s: float | None = None) -> dict[str, timing.Rate]:
    """{stage: Rate} for every stage the sweep runs (`rate_for` each)."""
    stages = ["pretrain", "rl"] if sweep.stage == "rl" else ["pretrain"]
    return {s: rate_for(sweep_dir, flops_per_s, overhead_s, stage=s) for s in stages}


def _rate(rate, stage: str) -> timing.Rate:
    if isinstance(rate, timing.Rate):
        return rate
    return (rate or {}).get(stage) or timing.default_rate(stage)


def planned_seconds(sweep: Sweep, rate) -> dict[str, float]:
    """run_id -> estimated seconds (`rate`: a Rate or {stage: Rate})."""
    return {r.run_id: _rate(rate, r.stage).seconds(_spent(r.cost)) for r in sweep.all_runs}


# ---------------------------------------------------------------- launching


def run_sweep(sweep: Sweep, sweep_dir: str | Path, *, backend: str = "local", workers: int = 1,
              retries: int | None = None, trainer: str = DEFAULT_TRAINER, rl_trainer: str = RL_TRAINER,
              rate=None, extend: bool = False, accept_code: bool = False, pack: int | None = None,
              on_event: Callable[[Event], None] | None = None,
              on_start: Callable[[Result], None] | None = None) -> Result:
    """Run every run of `sweep` that is not committed under `sweep_dir`; see the module doc.
    `trainer` trains the pretraining runs, `rl_trainer` the RL runs of an RL sweep; `rate` is a
    Rate or {stage: Rate} (default: `rates_for`). `pack`: at most this many pretraining runs of
    equal shape train together in one worker (default `resources.pack`; 1: every run alone; RL
    runs are never packed). Refused, before anything is written: a folder
    of another sweep (unless `extend`), a damaged run folder or book, committed runs of another
    code version (unless `accept_code`)."""
    engine = engines.get(backend)  # ConfigError naming the choices
    if workers < 1:
        raise ConfigError(f"--workers: must be at least 1, got {workers}")
    size = check_pack_size(sweep.resources.get("pack", 1) if pack is None else pack)
    retries = int(sweep.resources["retries"] if retries is None else retries)
    if retries < 0:
        raise ConfigError(f"--retries: must be non-negative, got {retries}")
    engine.check(sweep.resources)  # its option schema, before anything is written
    trainers = {"pretrain": _absolute(trainer), "rl": _absolute(rl_trainer)}
    sweep_dir = Path(sweep_dir)
    if sweep_dir.exists() and not sweep_dir.is_dir():
        raise ConfigError(f"{sweep_dir}: output path exists and is not a folder")
    if not sweep_dir.exists():
        try:
            sweep_dir.mkdir(parents=True)
        except OSError as err:
            raise ConfigError(f"{sweep_dir}: output folder is not writable ({err.strerror or err})") from None
    lock = _lock_sweep(sweep_dir)
    try:
        folders = stage_dirs(sweep, sweep_dir)
        jobs = _jobs(sweep, sweep_dir)
        books.check_books(folders, jobs)  # a damaged book is an error, before any write
        info = books.check_owner(sweep_dir, sweep, extend)
        books.check_runs(jobs, accept_code)
        for folder in folders.values():
            _clean_temporaries(folder)
        prepare(sweep, sweep_dir)
        state_books = {stage: books.StateBook(folder) for stage, folder in folders.items()}
        rate = rate or rates_for(sweep, sweep_dir)
        todo = [j for j in jobs if not records.is_committed(j.run_dir)]
        for job in todo:
            job.fresh = not (job.run_dir / records.METRICS).exists()
            job.planned_s = _rate(rate, job.stage).seconds(_spent(job.spec.cost))
            job.job_id = state_books[job.stage].read(job.spec.run_id).get("job_id")  # a live one is not resubmitted
        result = Result(total=len(jobs), skipped=len(jobs) - len(todo), todo=[j.spec.run_id for j in todo])
        pending = {j.spec.run_id for j in todo}
        for job in jobs:  # runs committed as failed earlier stay failed (final), and are listed
            if job.spec.run_id not in pending and (records.read_summary(job.run_dir) or {}).get("status") == "failed":
                result.failed.append((job, "failed (committed earlier)"))
        packs = make_packs(todo, size, list(folders))
        result.planned_s = makespan_s(packs, rate, workers)
        history = list(info.get("launches", []))
        launch = books.launch_entry(backend, workers, len(todo), result.planned_s,
                                    {s: _rate(rate, s).__dict__ for s in folders} if sweep.stage == "rl"
                                    else _rate(rate, "pretrain").__dict__)
        number = len(history) + 1
        books.write_index(sweep_dir, sweep, info, history + [launch], extend)
        if sweep.stage == "rl":
            _write_pretrained_index(sweep_dir, sweep)
        if on_start:
            on_start(result)
        t0 = time.monotonic()

        def record(event: Event) -> None:
            job, now = event.job, time.time()
            book, rid = state_books[job.stage], job.spec.run_id
            if event.kind == "start":
                book.update(rid, status="running", attempts=job.attempt, started=now, log=str(job.log),
                            label=job.spec.label, whole=job.fresh and job.attempt == 1, job_id=job.job_id,
                            flops=_spent(job.spec.cost), stage=job.stage, pack=job.pack_id,
                            pack_flops=job.pack_flops)
                book.attempt(rid, launch=number, number=job.attempt, job_id=job.job_id, started=now)
                return _forward(event)
            book.attempt(rid, launch=number, number=job.attempt, ended=now, outcome=event.kind, detail=event.detail)
            if event.kind == "done":
                book.update(rid, status="committed", ended=now, detail=event.detail,
                            whole=job.fresh and job.attempt == 1 and not job.preemptions)
                result.counts[event.detail] = result.counts.get(event.detail, 0) + 1
                if event.detail == "failed":
                    result.failed.append((job, "failed (summary.json says so)"))
            elif event.kind == "retry":
                book.update(rid, status="retrying", ended=now, detail=event.detail, whole=False)
            elif event.kind == "failed":
                book.update(rid, status="failed", ended=now, detail=event.detail, whole=False)
                result.counts["failed"] = result.counts.get("failed", 0) + 1
                result.failed.append((job, event.detail))
            _forward(event)

        def _forward(event: Event) -> None:
            if on_event:
                on_event(event)

        for stage, folder in folders.items():  # pretraining first: RL runs start from its models
            # longest first, as the plan assumes: a long pack started last would run alone at the end
            over = _rate(rate, stage).overhead_s
            batch = sorted(packs[stage], key=lambda p: -pack_planned_s(p, over))
            if stage == "rl":
                batch = [p for p in batch if _pretrained_ready(p[0], record)]
            if batch:
                execute = _backend(backend)
                execute(batch, workers=workers, retries=retries, trainer=trainers[stage],
                        resources=sweep.resources, sweep_dir=folder, on_event=record)
        result.measured_s = time.monotonic() - t0
        launch.update(finished=time.time(), measured_s=result.measured_s, counts=result.counts,
                      failed=len(result.failed))
        books.write_index(sweep_dir, sweep, info, history + [launch], extend)
        return result
    finally:
        lock.close()


def make_packs(jobs: list[Job], size: int, stages: list[str]) -> dict[str, list[list[Job]]]:
    """{stage: packs of at most `size` jobs of equal shape}, in launch order; sets each job's
    pack_id and pack_flops (for the books and the time calibration)."""
    packs = {stage: pack_jobs([j for j in jobs if j.stage == stage], size, _packable) for stage in stages}
    for stage_packs in packs.values():
        for p in stage_packs:
            flops = sum(_spent(j.spec.cost) or 0.0 for j in p)
            for j in p:
                j.pack_id, j.pack_flops = p[0].spec.run_id, flops
    return packs


def makespan_s(packs: dict, rate, workers: int) -> float:
    """Planned wall seconds of running `packs` (`make_packs`) on `workers`, stage after stage."""
    for stage, stage_packs in packs.items():
        for p in stage_packs:
            for j in p:
                j.planned_s = j.planned_s or _rate(rate, stage).seconds(_spent(j.spec.cost))
    return sum(timing.makespan([pack_planned_s(p, _rate(rate, stage).overhead_s) for p in stage_packs], workers)
               for stage, stage_packs in packs.items())


def plan_seconds(sweep: Sweep, sweep_dir: str | Path, run_ids: set, rate, workers: int, pack: int | None) -> float:
    """Planned wall seconds of the runs `run_ids` of `sweep`, packed as `run_sweep` would pack them."""
    size = check_pack_size(sweep.resources.get("pack", 1) if pack is None else pack)
    jobs = [j for j in _jobs(sweep, Path(sweep_dir)) if j.spec.run_id in run_ids]
    return makespan_s(make_packs(jobs, size, list(stage_dirs(sweep, Path(sweep_dir)))), rate, workers)


def _packable(job: Job):
    """What a pretraining run must share with others to train in their pack; RL runs: None (alone)."""
    return pack_key(job.spec.cfg) if job.stage == "pretrain" else None


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
    return engines.get(name).execute()
