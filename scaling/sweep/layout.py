"""The sweep folder's layout, spelled once: `<folder>/runs/<run_id>/` for every stage's runs, the sweep's
own stage in the sweep folder and each stage it starts from in a sub-folder (`stages.Stage.folder`)."""

from __future__ import annotations

from pathlib import Path

from scaling.records import RUNS

STATE = "state"
PRETRAINED = "pretrained"  # the pretraining stage's folder (its row in scaling.sweep.stages)


def runs_dir(folder: str | Path) -> Path:
    return Path(folder) / RUNS


def run_dir(folder: str | Path, run_id: str) -> Path:
    """A run's folder in a stage's folder."""
    return runs_dir(folder) / run_id


def folder_of(run_folder: str | Path) -> Path:
    """The stage folder that holds a run folder (the inverse of `run_dir`)."""
    return Path(run_folder).parent.parent


def upstream_folder(sweep_dir: str | Path, folder: str) -> Path:
    """Where a stage the sweep's runs start from keeps its runs."""
    return Path(sweep_dir) / folder
