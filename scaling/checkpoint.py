"""Checkpoints of a run's training state (orbax), for resuming after a kill.

Layout: <run_dir>/checkpoint/<step>/. Orbax writes into a temporary folder and renames it when
complete, so a folder named by a bare integer is whole; older ones are removed only after a newer
one is complete.
"""

from __future__ import annotations

import logging
import shutil
import warnings
from pathlib import Path
from typing import Any

import jax
import numpy as np

from scaling.errors import ConfigError

logging.getLogger("absl").setLevel(logging.ERROR)


def _checkpointer():
    import orbax.checkpoint as ocp

    return ocp.PyTreeCheckpointer()


def folder(run_dir: str | Path) -> Path:
    return Path(run_dir).resolve() / "checkpoint"  # orbax wants absolute paths


def save(run_dir: str | Path, step: int, state: Any, meta: dict[str, float], prune_older: bool = True) -> None:
    """Save `state` (any pytree) and scalar `meta` at `step`; keep only the newest (unless
    `prune_older` is False: a pack prunes once every member has saved, `prune`)."""
    root = folder(run_dir)
    root.mkdir(exist_ok=True)
    leaves = jax.tree_util.tree_leaves(state)
    item = {"leaves": {str(i): np.asarray(x) for i, x in enumerate(leaves)},
            "meta": {k: np.asarray(v, np.float64) for k, v in meta.items()}}
    target = root / str(step)
    if target.exists():
        shutil.rmtree(target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _checkpointer().save(target, item)
    if prune_older:
        prune(run_dir, step)


def prune(run_dir: str | Path, keep: int) -> None:
    """Remove every checkpoint but the one at step `keep`."""
    for old in folder(run_dir).iterdir():
        if old.name != str(keep):
            shutil.rmtree(old, ignore_errors=True)


def steps(run_dir: str | Path) -> list[int]:
    """Steps of the complete checkpoints, ascending."""
    root = folder(run_dir)
    if not root.exists():
        return []
    return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit() and (p / "_METADATA").exists())


def latest(run_dir: str | Path) -> int | None:
    found = steps(run_dir)
    return found[-1] if found else None


def restore(run_dir: str | Path, step: int, template: Any) -> tuple[Any, dict[str, float]]:
    """The state saved at `step`, shaped like `template`, and its meta."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        item = _checkpointer().restore(folder(run_dir) / str(step))
    treedef = jax.tree_util.tree_structure(template)
    leaves = [np.asarray(item["leaves"][str(i)]) for i in range(treedef.num_leaves)]
    state = jax.tree_util.tree_unflatten(treedef, [jax.numpy.asarray(x) for x in leaves])
    meta = {k: float(v) for k, v in item["meta"].items()}
    return state, meta


def restore_meta(run_dir: str | Path, step: int) -> dict[str, float]:
    """Only the scalar meta saved at `step`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        item = _checkpointer().restore(folder(run_dir) / str(step))
    return {k: float(v) for k, v in item["meta"].items()}


def save_final(run_dir: str | Path, params: Any) -> None:
    """Save a finished run's parameters to <run_dir>/final/ (what later stages, e.g. RL, start from)."""
    target = Path(run_dir).resolve() / "final"
    if target.exists():
        shutil.rmtree(target)
    leaves = {str(i): np.asarray(x) for i, x in enumerate(jax.tree_util.tree_leaves(params))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _checkpointer().save(target, {"leaves": leaves})


def restore_final(run_dir: str | Path, template: Any) -> Any:
    """The parameters saved by `save_final`, shaped like `template` (e.g. a fresh model's nnx.Param state)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        item = _checkpointer().restore(Path(run_dir).resolve() / "final")
    treedef = jax.tree_util.tree_structure(template)
    if len(item["leaves"]) != treedef.num_leaves:
        raise ValueError(f"{run_dir}/final holds {len(item['leaves'])} arrays, the model has {treedef.num_leaves}")
    return jax.tree_util.tree_unflatten(treedef, [jax.numpy.asarray(item["leaves"][str(i)])
                                                  for i in range(treedef.num_leaves)])


def restore_checked(run_dir: str | Path, template: Any, config: str = "config.json") -> Any:
    """`restore_final`, refused as a ConfigError naming the first array whose shape is not the one
    the config's model needs (`template`): the final parameters of another shape or model."""
    try:
        params = restore_final(run_dir, template)
    except ValueError as err:
        raise ConfigError(f"{run_dir}/final: checkpoint does not match {config} ({err})") from None
    for (path, want), got in zip(jax.tree_util.tree_flatten_with_path(template)[0], jax.tree.leaves(params)):
        if tuple(want.shape) != tuple(got.shape):
            raise ConfigError(f"{run_dir}/final: checkpoint does not match {config}: parameter "
                              f"{jax.tree_util.keystr(path)} has shape {tuple(got.shape)}, the model needs "
                              f"{tuple(want.shape)}")
    return params


def clear(run_dir: str | Path) -> None:
    shutil.rmtree(folder(run_dir), ignore_errors=True)
