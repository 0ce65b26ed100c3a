"""The Slurm engine through submitit (`pip install 'scaling[slurm]'`): a job array, one task per pack.

Each job runs the same worker process as the local engine (logs, locks, records identical). Every
job id is kept in the run's state file (`state/<run_id>.json`: `job_id`, and per attempt in
`history`). On a relaunch, a run whose recorded job Slurm still lists as alive (pending, running,
requeued: `sacct`), or whose lock a live worker holds, is not submitted again: the launcher waits
for it, and takes over only if it ends uncommitted. Preemption and timeouts: Slurm signals the job
(SIGUSR2, `--signal=USR2@90`); submitit passes it on to the worker (`RunJob.checkpoint`), whose
loop checkpoints and exits (`scaling.preemption`), and requeues the job, which resumes the run
from that checkpoint. A job that dies otherwise (killed, out of memory, node failure) is
resubmitted up to `retries` times; other failures and `diverged` are final. At most `workers` jobs
run at once (`slurm_array_parallelism`).

Members of a pack share one job (and its job id). `resources.gpus` must be a whole number here:
Slurm allocates whole GPUs (`gpus_per_node`); a fractional share is refused before anything is
submitted. `resources.slurm` is passed to `submitit.AutoExecutor.update_parameters` (e.g. `slurm_partition`,
`timeout_min`, `mem_gb`, `slurm_account`), except `cluster`: `slurm` (default where `sbatch`
exists), `local` (processes on this machine) or `debug` (in this process). Without `timeout_min`
the limit is derived from the plan: twice the longest run's estimate plus 10 minutes. Job files go
to `<sweep_dir>/submitit/`. The sweep folder must be on a shared file system.
"""

from __future__ import annotations

import math
import signal
import time
from pathlib import Path
from typing import Callable

from scaling import records
from scaling.errors import ConfigError
from scaling.sweep import worker
from scaling.sweep.engine import Event, settle_pack
from scaling.sweep.engines import check_slurm
from scaling.sweep.lock import is_locked

POLL_S = 0.5
GRACE_S = 60.0  # how long a signalled worker may take to checkpoint before the job is requeued
ALIVE = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "SUSPENDED", "RESIZING",
         "REQUEUE_HOLD", "REQUEUE_FED", "SIGNALING", "STAGE_OUT"}

try:
    from submitit.helpers import Checkpointable
except ImportError:  # the extra is not installed; `execute` says so
    Checkpointable = object  # type: ignore[assignment,misc]


class RunJob(Checkpointable):
    """One pack of runs as a submitit job; on preemption or timeout submitit calls `checkpoint`: the
    worker is asked to checkpoint and exit (SIGUSR2), then the job is requeued with the same arguments.
    Returns {run folder name: (kind, detail)}."""

    _proc = None

    def __call__(self, run_dirs: list[str], trainer: str, attempt: int | None = None,
                 cpus: int | None = None) -> dict[str, tuple[str, str]]:
        self._proc = worker.spawn(run_dirs, trainer, attempt, cpus=cpus)
        try:
            code = self._proc.wait()
        except BaseException:
            self._proc.kill()
            self._proc.wait()
            raise
        return {Path(d).name: worker.outcome(code, d) for d in run_dirs}

    def checkpoint(self, *args, **kwargs):
        proc, self._proc = self._proc, None  # a Popen cannot be pickled into the requeued job
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGUSR2)
            try:
                proc.wait(timeout=GRACE_S)
            except Exception:  # noqa: BLE001 - still running: the requeued job's lock waits for it
                pass
        return super().checkpoint(*args, **kwargs)


def timeout_min(packs: list) -> int:
    """Twice the longest planned attempt (of a pack: the sum of its members'), plus 10 minutes, in
    whole minutes."""
    longest = max((sum(j.planned_s for j in p) for p in packs), default=0.0)
    return int(math.ceil(2 * longest / 60.0)) + 10


def _alive(submitit, folder: Path, job_id: str | None):
    """A handle on a job of an earlier launch that Slurm still lists as alive, else None."""
    if not job_id or not str(job_id)[:1].isdigit():
        return None
    handle = submitit.SlurmJob(folder=folder, job_id=str(job_id))
    return handle if handle.state.split(" ")[0] in ALIVE else None


def execute(packs: list, *, workers: int, retries: int, trainer: str, resources: dict, sweep_dir,
            on_event: Callable) -> None:
    try:
        import submitit  # optional: only a Slurm launch needs it
    except ImportError:
        raise ConfigError("--backend slurm: submitit is not installed (pip install 'scaling[slurm]')") from None
    check_slurm(resources)
    gpus = resources.get("gpus", 0)
    params = dict(resources.get("slurm", {}))
    cluster = params.pop("cluster", None)
    params.setdefault("timeout_min", timeout_min(packs))
    params.setdefault("name", "scaling-sweep")
    folder = Path(sweep_dir).resolve() / "submitit" / "%j"
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    try:
        executor.update_parameters(cpus_per_task=int(resources["cpus"]), gpus_per_node=int(gpus),
                                   slurm_array_parallelism=workers, **params)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"resources.slurm: {err}") from None
    array = executor.cluster == "slurm"  # one array for everything; Slurm caps the parallelism

    def submit(batch: list) -> list:
        args = [([str(Path(j.run_dir).resolve()) for j in p], trainer, p[0].attempt + 1, resources.get("cpus"))
                for p in batch]
        if array:
            with executor.batch():
                handles = [executor.submit(RunJob(), *a) for a in args]
        else:
            handles = [executor.submit(RunJob(), *a) for a in args]
        for pack, handle in zip(batch, handles):
            for job in pack:
                job.attempt += 1
                job.job_id = str(handle.job_id)
                on_event(Event("start", job))
        return handles

    queue: list = []
    running: list[tuple] = []  # (submitit job, or None: a lock held by a worker we did not start; pack; start)
    alive: dict = {}  # job id -> (handle, the members it trains): a relaunch leaves alone what is still going
    for pack in packs:
        rest = []
        for job in pack:
            handle = _alive(submitit, folder, job.job_id) if array else None
            if handle is not None:
                alive.setdefault(str(job.job_id), (handle, []))[1].append(job)
            elif is_locked(job.run_dir):
                running.append((None, [job], time.monotonic()))
            else:
                rest.append(job)
        if rest:
            queue.append(rest)
    running += [(handle, members, time.monotonic()) for handle, members in alive.values()]
    try:
        while queue or running:
            room = len(queue) if array else workers - len(running)
            if queue and room > 0:
                batch, queue = queue[:room], queue[room:]
                running += [(h, p, time.monotonic()) for h, p in zip(submit(batch), batch)]
            still = []
            for handle, pack, t0 in running:
                if handle is None:  # watching a lock: committed, or free to take over
                    job = pack[0]
                    if is_locked(job.run_dir):
                        still.append((handle, pack, t0))
                    elif records.is_committed(job.run_dir):
                        on_event(Event("done", job, str((records.read_summary(job.run_dir) or {}).get("status")),
                                       time.monotonic() - t0))
                    else:
                        queue.append(pack)
                    continue
                if not handle.done():
                    still.append((handle, pack, t0))
                    continue
                try:
                    outcomes = handle.result()
                except Exception as err:  # noqa: BLE001 - the job died: killed, node lost, out of memory
                    why = str(err).strip().splitlines()[0] if str(err).strip() else "job died"
                    outcomes = {j.run_dir.name: ("infra", why) for j in pack}
                # a member that committed before the job died is committed
                outcomes = {j.run_dir.name: ("committed", str((records.read_summary(j.run_dir) or {}).get("status")))
                            if records.is_committed(j.run_dir) else outcomes.get(j.run_dir.name, ("infra", "no outcome"))
                            for j in pack}
                settle_pack(pack, outcomes, time.monotonic() - t0, retries, queue, on_event)
            running = still
            if running:
                time.sleep(POLL_S)
    finally:
        for handle, _, _ in running:
            if handle is not None and not array:  # local processes die with us; Slurm jobs keep going
                handle.cancel(check=False)
