"""The Ray engine (`pip install 'scaling[ray]'`): one Ray core task per attempt of a pack of runs.

Each task asks for `resources.cpus` CPUs and `resources.gpus` GPUs, plus any task option in
`resources.ray.task` (`memory`, `accelerator_type`, `runtime_env`, `resources`, ...: passed to
`.options()`), and runs the same worker process as the local engine (so logs, locks and records
are identical). Retries are the launcher's, not Ray's (`max_retries=0`): a task whose worker was
killed, ran out of memory, or whose Ray worker or node died (Ray's system errors, by type) is
submitted again up to `retries` times, each attempt a new task in the books; other failures and
`diverged` are final. At most `workers` tasks are in flight.

Cluster: `ray.init()` connects to `RAY_ADDRESS` (or `resources.ray.address`, e.g. `auto` on a
head node); without one it starts a local Ray. Every other key of `resources.ray` is passed to
`ray.init`. The sweep folder must be on a file system every node sees.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Callable

from scaling.errors import ConfigError
from scaling.sweep import worker
from scaling.sweep.engine import Event, settle_pack
from scaling.sweep.engines import RAY_TASK, check_ray


def _run(run_dirs: list[str], trainer: str, attempt: int, cpus) -> dict[str, tuple[str, str]]:
    return worker.run_subprocess(run_dirs, trainer, attempt, cpus=cpus)


def split_options(resources: dict) -> tuple[dict, dict]:
    """(ray.init keywords, task options) from `resources`."""
    check_ray(resources)
    init = dict(resources.get("ray") or {})
    task = init.pop(RAY_TASK, None) or {}
    return init, {"num_cpus": resources["cpus"], "num_gpus": resources["gpus"], **task}


def _system_error(ray, err: Exception) -> bool:
    """Ray lost the task's worker or node, or it ran out of memory: an infrastructure failure."""
    kinds = tuple(getattr(ray.exceptions, name) for name in
                  ("WorkerCrashedError", "NodeDiedError", "OutOfMemoryError", "RaySystemError",
                   "ObjectLostError", "LocalRayletDiedError") if hasattr(ray.exceptions, name))
    return isinstance(err, kinds)


def execute(packs: list, *, workers: int, retries: int, trainer: str, resources: dict, sweep_dir,
            on_event: Callable) -> None:
    try:
        import ray  # optional: only a Ray launch needs it
    except ImportError:
        raise ConfigError("--backend ray: Ray is not installed (pip install 'scaling[ray]')") from None
    init, options = split_options(resources)
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(**{"include_dashboard": False, "log_to_driver": False, **init})
    try:
        task = ray.remote(_run).options(max_retries=0, **options)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"resources.ray.{RAY_TASK}: {err}") from None
    queue = deque(packs)
    refs: dict = {}
    try:
        while queue or refs:
            while queue and len(refs) < workers:
                pack = queue.popleft()
                for job in pack:
                    job.attempt += 1
                ref = task.remote([str(Path(j.run_dir).resolve()) for j in pack], trainer, pack[0].attempt,
                                  resources.get("cpus"))
                for job in pack:
                    job.job_id = f"ray task {ref.task_id().hex()}"
                    on_event(Event("start", job))
                refs[ref] = (pack, time.monotonic())
            done, _ = ray.wait(list(refs), num_returns=1, timeout=1.0)
            for ref in done:
                pack, t0 = refs.pop(ref)
                try:
                    outcomes = ray.get(ref)
                except Exception as err:  # noqa: BLE001 - Ray wraps the task's failure
                    kind = "infra" if _system_error(ray, err) else "error"
                    outcomes = {j.run_dir.name: (kind, f"{type(err).__name__}: {_last_line(err)}") for j in pack}
                settle_pack(pack, outcomes, time.monotonic() - t0, retries, queue, on_event)
    finally:
        for ref in refs:
            ray.cancel(ref, force=True)
        if started_here:
            ray.shutdown()


def _last_line(err: Exception) -> str:
    text = str(getattr(err, "cause", None) or err).strip()
    return text.splitlines()[-1] if text else ""
