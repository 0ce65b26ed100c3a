"""The engines a sweep's runs are launched through: one row per engine (local, Ray, Slurm).

A row names the engine, its runner entry and its option schema: the `resources.<key>` mapping that
holds its own settings (none for local) and a check of the sweep's resources that needs nothing
installed, run by the launcher before anything is written (and again by the engine itself).

The runner entry is `module:function`, imported only when the engine is chosen, so planning and
the other engines never import Ray or submitit. Every entry has one signature:

    execute(packs, *, workers, retries, trainer, resources, sweep_dir, on_event) -> None
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from scaling.errors import ConfigError

RAY_TASK = "task"  # resources.ray.task: options of each Ray task; the rest of resources.ray goes to ray.init
RAY_SET_BY_LAUNCHER = ("num_cpus", "num_gpus", "max_retries", "retry_exceptions")


def _no_check(resources: dict) -> None:
    return None


def check_ray(resources: dict) -> None:
    """`resources.ray.task` is a mapping, without the options the launcher sets itself."""
    task = (resources.get("ray") or {}).get(RAY_TASK) or {}
    if not isinstance(task, dict):
        raise ConfigError(f"resources.ray.{RAY_TASK}: expected a mapping of Ray task options, got {task!r}")
    for key in RAY_SET_BY_LAUNCHER:
        if key in task:
            raise ConfigError(f"resources.ray.{RAY_TASK}.{key}: set by the launcher (resources.cpus, "
                              f"resources.gpus, resources.retries)")


def check_slurm(resources: dict) -> None:
    """Slurm allocates whole GPUs."""
    gpus = resources.get("gpus", 0)
    if gpus != int(gpus):
        raise ConfigError(f"resources.gpus: {gpus} is a fraction of a GPU; Slurm allocates whole GPUs "
                          f"(use 1, or the local or Ray engine to share a card)")


@dataclass(frozen=True)
class Engine:
    name: str
    about: str
    entry: str  # "module:function": its execute
    options: str | None  # resources.<options>: a mapping of the engine's own settings (None: takes none)
    check: Callable[[dict], None]  # the sweep's resources -> ConfigError naming the key

    def execute(self) -> Callable:
        """The engine's execute function; imports its module (Ray or submitit only when chosen)."""
        module, _, name = self.entry.partition(":")
        return getattr(importlib.import_module(module), name)


ENGINES = {e.name: e for e in (
    Engine("local", "worker processes on this machine", "scaling.sweep.engines.local:execute", None, _no_check),
    Engine("ray", "Ray core tasks (pip install 'scaling[ray]')", "scaling.sweep.engines.ray:execute", "ray",
           check_ray),
    Engine("slurm", "Slurm jobs through submitit (pip install 'scaling[slurm]')",
           "scaling.sweep.engines.slurm:execute", "slurm", check_slurm),
)}
NAMES = tuple(ENGINES)  # table order: local, ray, slurm
OPTION_KEYS = tuple(e.options for e in ENGINES.values() if e.options)  # resources.ray, resources.slurm


def get(name: str) -> Engine:
    """The row of engine `name`; ConfigError naming the choices for any other."""
    try:
        return ENGINES[name]
    except (KeyError, TypeError):
        raise ConfigError(f"--backend: unknown backend {name!r} (choose from {', '.join(NAMES)})") from None
