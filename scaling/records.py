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


def jsonable(obj: Any) -> Any:
    """Plain JSON values from nested dicts/lists/NumPy arrays and scalars (NaN/Inf become null)."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(float(obj)) else None
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    return obj


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


# ---------------------------------------------------------------- loading a sweep


def run_dirs(sweep_dir: str | Path) -> list[Path]:
    """Run directories under a sweep folder (`<dir>/runs/*`, `<dir>/*`, or `<dir>` itself)."""
    root = Path(sweep_dir)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    if (root / CONFIG).is_file():
        return [root]
    base = root / "runs" if (root / "runs").is_dir() else root
    return sorted(p for p in base.iterdir() if (p / CONFIG).is_file())


def _run_columns(run_dir: Path) -> tuple[dict, dict | None]:
    """(run-level columns: run_id, status, sweep budget/label, flattened config; summary or None)."""
    config = read_json(run_dir / CONFIG)
    run_id = config.pop("run_id", run_dir.name)
    flat: dict = {}
    stack = [("", config)]
    while stack:  # flatten nested sections: model.width, optim.lr, ...
        prefix, node = stack.pop()
        for key, value in node.items():
            if isinstance(value, dict):
                stack.append((f"{prefix}{key}.", value))
            else:
                flat[f"{prefix}{key}"] = value
    summary = read_summary(run_dir)
    spec_path = run_dir / "spec.json"
    spec = read_json(spec_path) if spec_path.is_file() else {}
    cols = {"run_id": run_id, "status": summary.get("status", "done") if summary else "incomplete",
            "budget": spec.get("budget"), "label": spec.get("label")}
    return {**cols, **flat}, summary


def load(sweep_dir: str | Path, committed_only: bool = True):
    """One row per evaluation under `sweep_dir`, the run's config flattened into columns.

    Columns: run_id, recipe, step, the record fields (tokens/total, compute/flops, params/total,
    train/loss, eval/loss/<split>, ...), status, budget (isoFLOP sweeps), label, and every config
    key (model.family, model.width, optim.lr, seed, train.tokens, ...). Only committed runs (with a
    summary.json) unless `committed_only=False`. Unique on (run_id, step).
    """
    import pandas as pd

    rows = []
    for run_dir in run_dirs(sweep_dir):
        cols, summary = _run_columns(run_dir)
        if committed_only and summary is None:
            continue
        for rec in read_metrics(run_dir):
            rows.append({**cols, **rec, "run_id": cols["run_id"]})
    if not rows:
        return pd.DataFrame(columns=["run_id", "recipe", "step", "status"])
    df = pd.DataFrame(rows)
    df = df.drop_duplicates(subset=["run_id", "step"], keep="last")
    df = df.sort_values(["run_id", "step"], kind="stable").reset_index(drop=True)
    return df[_column_order(df.columns, ("run_id", "recipe", "step"))]


def load_runs(sweep_dir: str | Path, committed_only: bool = True):
    """One row per run: status, final metrics (summary.json over the last record), flattened config.

    With `committed_only=False` runs still in progress or interrupted appear too (status
    "incomplete", metrics of their last record).
    """
    import pandas as pd

    rows = []
    for run_dir in run_dirs(sweep_dir):
        cols, summary = _run_columns(run_dir)
        if committed_only and summary is None:
            continue
        metrics = read_metrics(run_dir)
        final = dict(metrics[-1]) if metrics else {}
        summary = dict(summary or {})
        for key in ("final", "metrics"):  # final metrics may sit flat or in a section
            section = summary.pop(key, None)
            if isinstance(section, dict):
                summary.update(section)
        rows.append({**cols, **final, **summary, "records": len({r.get("step") for r in metrics}),
                     "run_id": cols["run_id"], "status": cols["status"]})
    if not rows:
        return pd.DataFrame(columns=["run_id", "recipe", "status"])
    df = pd.DataFrame(rows).sort_values("run_id", kind="stable").reset_index(drop=True)
    return df[_column_order(df.columns, ("run_id", "recipe", "status"))]


def _column_order(columns, first: tuple) -> list:
    """`first`, then record fields (tokens/total, train/loss, ...), then run and config columns."""
    head = [c for c in first if c in columns]
    fields = [c for c in columns if "/" in c and c not in head]
    return head + fields + [c for c in columns if c not in head and c not in fields]
