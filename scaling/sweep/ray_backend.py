"""The Ray engine (`pip install 'scaling[ray]'`): one Ray core task per run.

Each task asks for `resources.cpus` CPUs and `resources.gpus` GPUs and runs the same worker process
as the local engine (so logs, locks and records are identical). Ray retries a task whose worker
died, or whose run hit an infrastructure failure, up to `retries` times; other failures and
`diverged` are final. At most `workers` tasks are in flight.

Cluster: `ray.init()` connects to `RAY_ADDRESS` (or `resources.ray.address`, e.g. `auto` on a
head node); without one it starts a local Ray. Every key of `resources.ray` is passed to
`ray.init`. The sweep folder must be on a file system every node sees.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from scaling.sweep import worker


class InfraFailure(RuntimeError):
    """A run's worker was killed or ran out of memory: worth retrying."""


def _run(run_dir: str, trainer: str) -> tuple[str, str]:
    kind, detail = worker.run_subprocess(run_dir, trainer)
    if kind == "infra":
        raise InfraFailure(detail)
    return kind, detail


def execute(jobs: list, *, workers: int, retries: int, trainer: str, resources: dict, sweep_dir,
            on_event: Callable) -> None:
    try:
        import ray
    except ImportError:
        from scaling.errors import ConfigError

        raise ConfigError("--backend ray: Ray is not installed (pip install 'scaling[ray]')") from None
    from scaling.sweep.runner import Event

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(**{"include_dashboard": False, "log_to_driver": False, **resources.get("ray", {})})
    task = ray.remote(_run).options(num_cpus=resources["cpus"], num_gpus=resources["gpus"],
                                    max_retries=retries, retry_exceptions=[InfraFailure])
    queue = list(reversed(jobs))
    refs: dict = {}
    try:
        while queue or refs:
            while queue and len(refs) < workers:
                job = queue.pop()
                job.attempt += 1
                refs[task.remote(str(Path(job.run_dir).resolve()), trainer)] = (job, _now())
                on_event(Event("start", job))
            done, _ = ray.wait(list(refs), num_returns=1, timeout=1.0)
            for ref in done:
                job, t0 = refs.pop(ref)
                try:
                    kind, detail = ray.get(ref)
                except Exception as err:  # noqa: BLE001 - Ray wraps the task's failure
                    kind, detail = "failed", _reason(err, retries)
                seconds = _now() - t0
                if kind == "committed":
                    on_event(Event("done", job, detail, seconds))
                else:
                    on_event(Event("failed", job, detail, seconds))
    finally:
        for ref in refs:
            ray.cancel(ref, force=True)
        if started_here:
            ray.shutdown()


def _reason(err: Exception, retries: int) -> str:
    cause = getattr(err, "cause", None) or err
    text = str(cause).strip().splitlines()[-1] if str(cause).strip() else type(cause).__name__
    if isinstance(cause, InfraFailure):
        return f"{text} ({retries + 1} attempts)"
    return text


def _now() -> float:
    import time

    return time.monotonic()
