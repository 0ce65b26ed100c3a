"""Launching a sweep: prepare run directories, run what is not committed, keep the books.

    <sweep_dir>/sweep.yaml          the sweep file as last launched
    <sweep_dir>/sweep.json          launch history: planned and measured times, counts
    <sweep_dir>/state/<run_id>.json the launcher's view of a run: attempts, times, last failure
    <sweep_dir>/runs/<run_id>/      the run itself (config.json, metrics.jsonl, summary.json,
                                    spec.json: how the sweep made it, log.txt: every attempt's output)
    <sweep_dir>/<folder>/           each stage the sweep's runs start from (`stages.Stage.folder`, e.g.
                                    pretrained/ for an RL sweep's pretraining runs), a sweep folder
                                    itself (runs/<run_id>/, state/); run first

A sweep of a stage that starts from other stages (`stages.Stage.starts_from`, e.g. `stage: rl`)
runs stage after stage in dependency order (`stages.lineage`) through the same engines, each with
its stage's trainer (an RL sweep: its pretraining runs with `scaling.train:train`, then its RL runs
with `scaling.rl.run:train`, which finds its pretrained run through `spec.json`). A run whose
upstream run did not end `done` is not started; it is listed as failed and tried again by the next
launch.

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

from scaling import reading, records
from scaling.errors import ConfigError
from scaling.pack import check_pack_size
from scaling.sweep import books, engines, layout, stages, timing
from scaling.sweep.engine import Event, Job, pack_jobs, pack_planned_s
from scaling.sweep.runspec import DEFAULT_STAGE, RunSpec, Sweep

SPEC = "spec.json"
RL_TRAINER = stages.RL_TRAINER  # the CLI's default --rl-trainer


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

def spec_run_dir(sweep: Sweep, sweep_dir: str | Path, spec: RunSpec) -> Path:
    """A run's folder: `layout.run_dir` in its stage's folder (`stages.folders`)."""
    return layout.run_dir(stages.folders(sweep, sweep_dir)[spec.stage], spec.run_id)


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
    The jobs come in launch order (upstream stages' runs first)."""
    sweep_dir = Path(sweep_dir)
    try:
        for folder in stages.folders(sweep, sweep_dir).values():
            layout.runs_dir(folder).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"{sweep_dir}: output folder is not writable ({err.strerror or err})") from None
    src = Path(sweep.source)
    if src.is_file():
        records.atomic_write_text(sweep_dir / "sweep.yaml", src.read_text())
    jobs = _jobs(sweep, sweep_dir)
    for job in jobs:
        spec, run_dir = job.spec, job.run_dir
        records.prepare_run_dir(run_dir, stages.get(spec.stage).stored_config(spec), spec.run_id)
        meta = {**stages.meta(spec), "sweep": sweep.name, "cost": spec.cost}
        for up, up_dir in zip(spec.upstream, job.upstream_dirs):  # relative: the folder may move
            meta[f"{stages.get(up.stage).folder}_dir"] = os.path.relpath(up_dir, run_dir)
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
    folders = stages.folders(sweep, sweep_dir)
    return [Job(spec, layout.run_dir(folders[spec.stage], spec.run_id),
                upstream_dirs=tuple(layout.run_dir(folders[u.stage], u.run_id) for u in spec.upstream))
            for stage in folders for spec in sweep.runs_of()[stage]]


def plan_rows(sweep: Sweep, sweep_dir: str | Path | None, rate) -> list[dict]:
    """One row per run (upstream stages' runs first): id, stage, label, params, tokens, FLOPs (the
    stage's `plan_flops`; RL runs: the RL training FLOPs), estimated seconds, current status (as `sweep run` and
    `scaling.load` see it: a damaged run folder is `damaged`); RL runs also name their pretrained
    run. `rate`: one `timing.Rate`, or {stage: Rate} (`rates_for`). A damaged book in
    `sweep_dir` is a DataError naming the file, as for `sweep run`."""
    if sweep_dir is not None:
        books.check_books(stages.folders(sweep, sweep_dir), _jobs(sweep, Path(sweep_dir)))
    rows = []
    for job in _jobs(sweep, Path(sweep_dir or ".")):
        spec, status, row = job.spec, "pending", stages.get(job.stage)
        if sweep_dir is not None:
            run_dir = job.run_dir
            if (run_dir / records.CONFIG).exists() and (records.run_problem(run_dir) or reading.books_problem(
                    layout.folder_of(run_dir), spec.run_id)):
                status = "damaged"  # changed after commit, or not the run the books committed (copied in)
            elif (run_dir / records.SUMMARY).exists():
                status = records.read_summary(run_dir)["status"]
        flops = spec.cost.get(row.plan_flops)
        rows.append({
            "run_id": spec.run_id, "stage": spec.stage, "label": spec.label, "recipe": spec.recipe,
            "budget": spec.budget, "pretrained": spec.pretrained.run_id if spec.pretrained else None,
            "params": spec.cost.get("params/total"),
            "tokens": spec.cost.get("tokens/total", spec.cfg.train.tokens) if row.plan_tokens else None,
            "steps": spec.cost.get("steps"), "flops": flops, "flops_6nd": spec.cost.get("compute/flops_6nd"),
            "seconds": _rate(rate, spec.stage).seconds(_spent(spec.cost)), "status": status,
        })
    return rows


def _samples(sweep_dir: Path, stage: str) -> list:
    """Measured runs of `stage` in a sweep folder and in every stage folder inside it."""
    inside = dict.fromkeys(layout.upstream_folder(sweep_dir, s.folder) for s in stages.STAGES.values() if s.folder)
    return [x for folder in (sweep_dir, *inside) for x in timing.measured_runs(folder, DEFAULT_STAGE).get(stage, [])]


def rate_for(sweep_dir: str | Path | None, flops_per_s: float | None = None,
             overhead_s: float | None = None, stage: str = DEFAULT_STAGE) -> timing.Rate:
    """The rate to plan runs of `stage` with: given values win, else measured from the finished runs
    of that stage in `sweep_dir` (or, before it has any, in the sweep folders beside it), else the
    defaults."""
    rate = stages.get(stage).rate
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
    return {s: rate_for(sweep_dir, flops_per_s, overhead_s, stage=s) for s in stages.launch_order(sweep)}


def _rate(rate, stage: str) -> timing.Rate:
    if isinstance(rate, timing.Rate):
        return rate
    return (rate or {}).get(stage) or stages.get(stage).rate


def planned_seconds(sweep: Sweep, rate) -> dict[str, float]:
    """run_id -> estimated seconds (`rate`: a Rate or {stage: Rate})."""
    return {r.run_id: _rate(rate, r.stage).seconds(_spent(r.cost)) for r in sweep.all_runs}


# ---------------------------------------------------------------- launching


def run_sweep(sweep: Sweep, sweep_dir: str | Path, *, backend: str = "local", workers: int = 1,
              retries: int | None = None, trainer: str | None = None, rl_trainer: str | None = None,
              trainers: dict[str, str] | None = None, rate=None, extend: bool = False, accept_code: bool = False, pack: int | None = None,
              on_event: Callable[[Event], None] | None = None,
              on_start: Callable[[Result], None] | None = None) -> Result:
    """Run every run of `sweep` that is not committed under `sweep_dir`; see the module doc.
    Each stage's runs train with its row's trainer; `trainer` replaces the pretraining runs' one,
    `rl_trainer` the RL runs', `trainers` ({stage: trainer}) any stage's; `rate` is a
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
    given = {stages.TRAINER_OPTIONS[k]: v for k, v in (("trainer", trainer), ("rl_trainer", rl_trainer)) if v}
    chosen = {s: _absolute(t) for s, t in {**{s: r.trainer for s, r in stages.STAGES.items()}, **given,
                                           **(trainers or {})}.items()}
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
        folders = stages.folders(sweep, sweep_dir)
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
                                    {s: _rate(rate, s).__dict__ for s in folders} if sweep.upstream
                                    else _rate(rate, sweep.stage).__dict__)
        number = len(history) + 1
        books.write_index(sweep_dir, sweep, info, history + [launch], extend)
        for stage in sweep.upstream:
            _write_upstream_index(folders[stage], sweep, stage)
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

        for stage, folder in folders.items():  # upstream first: later stages start from their runs
            # longest first, as the plan assumes: a long pack started last would run alone at the end
            over = _rate(rate, stage).overhead_s
            batch = sorted(packs[stage], key=lambda p: -pack_planned_s(p, over))
            if stages.get(stage).starts_from:
                batch = [p for p in batch if _upstream_ready(p[0], record)]
            if batch:
                execute = _backend(backend)
                execute(batch, workers=workers, retries=retries, trainer=chosen[stage],
                        resources=sweep.resources, sweep_dir=folder, on_event=record)
        result.measured_s = time.monotonic() - t0
        launch.update(finished=time.time(), measured_s=result.measured_s, counts=result.counts,
                      failed=len(result.failed))
        books.write_index(sweep_dir, sweep, info, history + [launch], extend)
        return result
    finally:
        lock.close()


def make_packs(jobs: list[Job], size: int, order: list[str]) -> dict[str, list[list[Job]]]:
    """{stage: packs of at most `size` jobs of equal shape} for the stages in `order` (launch order);
    sets each job's pack_id and pack_flops (for the books and the time calibration)."""
    by_stage: dict[str, list[Job]] = {stage: [] for stage in order}
    for job in jobs:
        by_stage[job.stage].append(job)
    packs = {stage: pack_jobs(stage_jobs, size, _packable) for stage, stage_jobs in by_stage.items()}
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
    return makespan_s(make_packs(jobs, size, list(stages.folders(sweep, sweep_dir))), rate, workers)


def _packable(job: Job):
    """What a run must share with others to train in their pack (its stage's `pack_key`); None: alone."""
    key = stages.get(job.stage).pack_key
    return key(job.spec.cfg) if key is not None else None


def _absolute(trainer: str) -> str:
    module, sep, fn = trainer.rpartition(":")
    if module.endswith(".py"):  # a trainer file: absolute, so workers elsewhere find it
        return f"{Path(module).resolve()}{sep}{fn}"
    return trainer


def _upstream_ready(job: Job, record: Callable[[Event], None]) -> bool:
    """True when every run the job's run starts from is committed `done`; otherwise the run is listed
    as failed (not started, not committed: the next launch tries again)."""
    for up, up_dir in zip(job.spec.upstream, job.upstream_dirs):
        summary = records.read_summary(up_dir)
        if summary is not None and summary.get("status") == "done":
            continue
        state = "unfinished" if summary is None else f"ended {summary.get('status')!r}"
        record(Event("failed", job, f"not started: its {stages.get(up.stage).folder} run {up.run_id} is {state}"))
        return False
    return True


def _write_upstream_index(folder: Path, sweep: Sweep, stage: str) -> None:
    """`<sweep_dir>/<folder>/sweep.json`, so an upstream stage's folder reads as a sweep of its own
    (status, load)."""
    records.atomic_write_json(folder / books.INDEX, {
        "name": f"{sweep.name}/{folder.name}", "source": os.path.abspath(sweep.source), "stage": stage,
        "runs": [r.run_id for r in sweep.upstream[stage]], "part_of": str(folder.parent.resolve()),
    })


def _backend(name: str) -> Callable:
    return engines.get(name).execute()
