"""The Slurm engine through submitit (`pip install 'scaling[slurm]'`): a job array, one task per run.

Each job runs the same worker process as the local engine (logs, locks, records identical). A job
that Slurm preempts or times out is requeued by submitit (the run resumes from its checkpoint);
a job that dies otherwise (killed, out of memory, node failure) is resubmitted up to `retries`
times; other failures and `diverged` are final. At most `workers` jobs run at once
(`slurm_array_parallelism`).

`resources.slurm` is passed to `submitit.AutoExecutor.update_parameters` (e.g. `slurm_partition`,
`timeout_min`, `mem_gb`, `slurm_account`), except `cluster`: `slurm` (default where `sbatch`
exists), `local` (processes on this machine: used by the tests) or `debug` (in this process).
Job files go to `<sweep_dir>/submitit/`. The sweep folder must be on a shared file system.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from scaling.errors import ConfigError
from scaling.sweep import worker

POLL_S = 0.5

try:
    from submitit.helpers import Checkpointable
except ImportError:  # the extra is not installed; `execute` says so
    Checkpointable = object  # type: ignore[assignment,misc]


class RunJob(Checkpointable):
    """One run as a submitit job; on preemption or timeout submitit requeues it (`checkpoint`)."""

    def __call__(self, run_dir: str, trainer: str, attempt: int | None = None) -> tuple[str, str]:
        return worker.run_subprocess(run_dir, trainer, attempt)


def execute(jobs: list, *, workers: int, retries: int, trainer: str, resources: dict, sweep_dir,
            on_event: Callable) -> None:
    try:
        import submitit
    except ImportError:
        raise ConfigError("--backend slurm: submitit is not installed (pip install 'scaling[slurm]')") from None
    from scaling.sweep.runner import Event, settle

    params = dict(resources.get("slurm", {}))
    cluster = params.pop("cluster", None)
    params.setdefault("timeout_min", 60)
    params.setdefault("name", "scaling-sweep")
    executor = submitit.AutoExecutor(folder=Path(sweep_dir).resolve() / "submitit" / "%j", cluster=cluster)
    try:
        executor.update_parameters(cpus_per_task=int(resources["cpus"]), gpus_per_node=int(resources["gpus"]),
                                   slurm_array_parallelism=workers, **params)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"resources.slurm: {err}") from None
    array = executor.cluster == "slurm"  # one array for everything; Slurm caps the parallelism

    def submit(batch: list) -> list:
        args = [(str(Path(j.run_dir).resolve()), trainer, j.attempt + 1) for j in batch]
        if array:
            with executor.batch():
                handles = [executor.submit(RunJob(), *a) for a in args]
        else:
            handles = [executor.submit(RunJob(), *a) for a in args]
        for job in batch:
            job.attempt += 1
            on_event(Event("start", job))
        return handles

    queue = list(jobs)
    running: list[tuple] = []  # (submitit job, our job, start)
    try:
        while queue or running:
            room = len(queue) if array else workers - len(running)
            if queue and room > 0:
                batch, queue = queue[:room], queue[room:]
                running += [(h, j, time.monotonic()) for h, j in zip(submit(batch), batch)]
            still = []
            for handle, job, t0 in running:
                if not handle.done():
                    still.append((handle, job, t0))
                    continue
                try:
                    kind, detail = handle.result()
                except Exception as err:  # noqa: BLE001 - the job died: killed, node lost, out of memory
                    kind, detail = "infra", str(err).strip().splitlines()[0] if str(err).strip() else "job died"
                seconds = time.monotonic() - t0
                settle(job, kind, detail, seconds, retries, queue, on_event)
            running = still
            if running:
                time.sleep(POLL_S)
    finally:
        for handle, _, _ in running:
            if not array:  # local processes die with us; Slurm jobs keep going and the lock guards them
                handle.cancel(check=False)
