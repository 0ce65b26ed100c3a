"""Run-directory I/O: the unit of truth.

    <run_dir>/config.json    resolved config (+ run_id), written atomically
    <run_dir>/metrics.jsonl  one JSON object per evaluation, append-only, (run_id, step) unique
    <run_dir>/summary.json   written last, atomically; its presence marks the run as committed

This module imports nothing above it (no training, no models).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

from scaling.errors import ConfigError, DataError

CONFIG = "config.json"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
STATUSES = ("done", "diverged", "failed")


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write `text` to `path` so that a kill leaves either the old file or the new one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _clean(value: Any) -> Any:
    """JSON cannot hold NaN/Inf portably: store them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def atomic_write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(_clean(data), indent=2, sort_keys=True) + "\n")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: malformed JSON ({err.msg}, line {err.lineno})") from None


# ---------------------------------------------------------------- metrics


def read_metrics(run_dir: str | Path) -> list[dict]:
    """Records of a run; a torn last line (killed mid-append) is ignored."""
    path = Path(run_dir) / METRICS
    if not path.exists():
        return []
    out = []
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break  # half-written tail from a kill; the resume rewrites it
            raise DataError(f"{path}: malformed record on line {i + 1}") from None
    return out


def rewrite_metrics(run_dir: str | Path, records: Iterable[dict]) -> None:
    """Replace metrics.jsonl atomically (used on resume to drop records past the checkpoint)."""
    text = "".join(json.dumps(_clean(r), sort_keys=True) + "\n" for r in records)
    atomic_write_text(Path(run_dir) / METRICS, text)


def append_metrics(run_dir: str | Path, record: dict) -> None:
    """Append one evaluation record and fsync it."""
    path = Path(run_dir) / METRICS
    with open(path, "a") as handle:
        handle.write(json.dumps(_clean(record), sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


# ---------------------------------------------------------------- run directory


def prepare_run_dir(run_dir: str | Path, config: dict, run_id: str) -> str:
    """Create or check a run directory for `config`.

    Returns "new", "resume" (config matches, not committed) or "done" (summary present).
    Raises ConfigError, touching nothing, when the folder holds a run of another config or
    cannot be written.
    """
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: output path exists and is not a folder")
    cfg_path = run_dir / CONFIG
    if cfg_path.exists():
        try:
            existing = read_json(cfg_path)
        except DataError as err:
            raise ConfigError(str(err)) from None
        if existing.get("run_id") != run_id:
            raise ConfigError(
                f"{run_dir}: holds run {existing.get('run_id')!r} of a different config "
                f"(this config is {run_id!r}); choose another --out"
            )
        return "done" if (run_dir / SUMMARY).exists() else "resume"
    if run_dir.exists() and any(p.name in (METRICS, SUMMARY) for p in run_dir.iterdir()):
        raise ConfigError(f"{run_dir}: holds records without a config.json; refusing to overwrite")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(cfg_path, {**config, "run_id": run_id})
    except OSError as err:
        raise ConfigError(f"{run_dir}: output folder is not writable ({err.strerror or err})") from None
    return "new"


def read_summary(run_dir: str | Path) -> dict | None:
    path = Path(run_dir) / SUMMARY
    return read_json(path) if path.exists() else None


def write_summary(run_dir: str | Path, summary: dict) -> None:
    atomic_write_json(Path(run_dir) / SUMMARY, summary)


def is_committed(run_dir: str | Path) -> bool:
    return (Path(run_dir) / SUMMARY).exists()
