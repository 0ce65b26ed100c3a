"""Run-directory I/O: the unit of truth.

    <run_dir>/config.json    resolved config (+ run_id), written atomically
    <run_dir>/metrics.jsonl  one JSON object per evaluation, append-only, (run_id, step) unique
    <run_dir>/summary.json   written last, atomically; its presence marks the run as committed;
                             with the committing process's provenance (`scaling.provenance`) and
                             the checksums of config.json, metrics.jsonl and final/ (`checksums`):
                             a committed run whose files changed since is damaged in every reader;
                             and the seed its final parameters were trained with

Files are readable by the group (as open() makes them), so a cluster's other users can read runs.
A damaged run folder (`problem`) is an error in every reader, never silently dropped.
This module imports nothing above it (no training, no models).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

from scaling import config as C
from scaling.errors import ConfigError, DataError
from scaling.integrity import changed_since_commit, checksums

CONFIG = "config.json"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
STATUSES = ("done", "diverged", "failed")
RUNS = "runs"  # a sweep folder's runs: <folder>/runs/<run_id>/ (the layout: scaling.sweep.layout)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()  # what open() would give: readable by the group (mkstemp's is 0600)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write `text` to `path` so that a kill leaves either the old file or the new one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
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
    """The JSON value in `path`; DataError naming the file if it is unreadable or malformed."""
    path = Path(path)
    try:
        return json.loads(path.read_bytes().decode())
    except UnicodeDecodeError:
        raise DataError(f"{path}: malformed JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: malformed JSON ({err.msg}, line {err.lineno})") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None


def read_json_dict(path: str | Path) -> dict:
    """`read_json` of a file that must hold an object (config, summary, state, sweep.json)."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


# ---------------------------------------------------------------- metrics


def read_metrics(run_dir: str | Path) -> list[dict]:
    """Records of a run; a torn last line (killed mid-append) is ignored."""
    return read_jsonl(Path(run_dir) / METRICS)


def read_jsonl(path: str | Path) -> list[dict]:
    """Records of an append-only JSON-lines file (each an object with an integer `step`); a torn
    last line (killed mid-append) is ignored, any other bad line is a DataError naming the file."""
    path = Path(path)
    if not path.exists():
        return []
    out = []
    lines = path.read_bytes().split(b"\n")
    while lines and not lines[-1].strip():
        lines.pop()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line.decode())
        except (UnicodeDecodeError, json.JSONDecodeError):
            if i == len(lines) - 1:
                break  # half-written tail from a kill; the resume rewrites it
            raise DataError(f"{path}: malformed record on line {i + 1}") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("step"), int):
            raise DataError(f"{path}: line {i + 1} is not a record with an integer step")
        out.append(rec)
    return out


def rewrite_metrics(run_dir: str | Path, records: Iterable[dict]) -> None:
    """Replace metrics.jsonl atomically (used on resume to drop records past the checkpoint)."""
    rewrite_jsonl(Path(run_dir) / METRICS, records)


def append_metrics(run_dir: str | Path, record: dict) -> None:
    """Append one evaluation record and fsync it."""
    append_jsonl(Path(run_dir) / METRICS, record, sync=True)


def json_line(record: dict) -> bytes:
    return (json.dumps(_clean(record), sort_keys=True) + "\n").encode()


def append_jsonl(path: str | Path, record: dict, sync: bool = False) -> None:
    """Append one record as a single write (O_APPEND): a kill leaves at most a torn last line."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, json_line(record))
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def rewrite_jsonl(path: str | Path, records: Iterable[dict]) -> None:
    """Replace a JSON-lines file atomically (on resume: drop the records past the checkpoint)."""
    atomic_write_text(path, b"".join(json_line(r) for r in records).decode())


# ---------------------------------------------------------------- run directory


def check_out(path: str | Path, flag: str = "--out") -> Path:
    """An output folder that exists as a folder or can be made: ConfigError naming `flag` and the
    path for an existing file, a symlink loop or a link to nowhere (checked before anything is written)."""
    path = Path(path)
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):  # RuntimeError: a loop, in Pythons before 3.13
            raise ConfigError(f"{flag} {path}: a symbolic link that leads nowhere (a loop or a missing target)") from None
        if not target.is_dir():
            raise ConfigError(f"{flag} {path}: links to {target}, which is not a folder")
        return path
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path}: exists and is not a folder")
    for parent in path.parents:  # the first existing ancestor must be a folder
        if parent.is_symlink() or parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{flag} {path}: not writable ({parent} is not a folder)")
            break
    return path


def check_run_dir(run_dir: str | Path, run_id: str) -> str:
    """What `prepare_run_dir` would find, writing nothing: "new", "resume" or "done"; ConfigError
    when the folder holds a run of another config or records without a config."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: output path exists and is not a folder")
    cfg_path = run_dir / CONFIG
    if cfg_path.exists():
        try:
            existing = read_json_dict(cfg_path)
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
    return "new"


def prepare_run_dir(run_dir: str | Path, config: dict, run_id: str) -> str:
    """Create or check a run directory for `config`.

    Returns "new", "resume" (config matches, not committed) or "done" (summary present).
    Raises ConfigError, touching nothing, when the folder holds a run of another config or
    cannot be written.
    """
    run_dir = Path(run_dir)
    state = check_run_dir(run_dir, run_id)
    if state != "new":
        return state
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(run_dir / CONFIG, {**config, "run_id": run_id})
    except OSError as err:
        raise ConfigError(f"{run_dir}: output folder is not writable ({err.strerror or err})") from None
    return "new"


def read_summary(run_dir: str | Path) -> dict | None:
    """The run's summary.json (None when uncommitted); DataError if it is not a JSON object."""
    path = Path(run_dir) / SUMMARY
    return read_json_dict(path) if path.exists() else None


def write_summary(run_dir: str | Path, summary: dict) -> None:
    """Commit the run: summary.json with the committing process's provenance (`scaling.provenance`)
    and the checksums of what it commits (`checksums`), so any later change to them is seen."""
    from scaling.provenance import provenance  # provenance reads git and package metadata: only at commit

    run_dir = Path(run_dir)
    seed = {}  # the seed its final parameters were trained with, so a reader can check config.json names it
    if "seed" not in summary and (run_dir / CONFIG).is_file():
        config = read_json(run_dir / CONFIG)
        if isinstance(config, dict) and isinstance(config.get("seed"), int):
            seed = {"seed": config["seed"]}
    atomic_write_json(run_dir / SUMMARY, {**summary, **seed, "checksums": checksums(run_dir),
                                          "provenance": summary.get("provenance") or provenance()})


def is_committed(run_dir: str | Path) -> bool:
    return (Path(run_dir) / SUMMARY).exists()


def finished_config(run_dir: str | Path, prefix: str = "", noun: str = "run") -> dict:
    """config.json of a run that finished (`done`, with its final parameters); DataError otherwise,
    as one line starting with `prefix` + the folder and naming what is missing (`noun`: how the
    caller calls the run, e.g. "pretrained run")."""
    run_dir = Path(run_dir)
    where = f"{prefix}{run_dir}"
    if not run_dir.is_dir():
        raise DataError(f"{where}: no such {noun} directory")
    if not (run_dir / CONFIG).is_file():
        raise DataError(f"{where}: not a run directory (no {CONFIG})")
    summary = read_summary(run_dir)
    if summary is None:
        raise DataError(f"{where}: the {noun} is unfinished (no {SUMMARY})")
    if summary.get("status") != "done":
        raise DataError(f"{where}: the {noun} ended with status {summary.get('status')!r}, not done")
    if not (run_dir / "final" / "_METADATA").exists():
        raise DataError(f"{where}: no final parameters (final/ is missing)")
    changed = changed_since_commit(run_dir, summary)
    if changed is not None:
        raise DataError(f"{prefix}{changed}")
    return read_json(run_dir / CONFIG)


# ---------------------------------------------------------------- integrity


def run_problem(run_dir: str | Path) -> str | None:
    """What is wrong with a run folder, as one line naming the file, or None if it is sound.

    Sound: config.json is an object whose run_id names the folder (a sweep's run) and, for a
    pretraining run, is the hash of its config; summary.json, if present, is an object with a
    known status and the same run id, and the files it committed (config.json, metrics.jsonl,
    final/) are as they were then (`checksums`); a `done` run has records. Every reader (`load`,
    `load_runs`, `sweep status`, `sweep plan`, `sweep run`) uses this, so they agree on what is
    committed.
    """
    run_dir = Path(run_dir)
    cfg_path = run_dir / CONFIG
    try:
        config = read_json_dict(cfg_path)
        rid = config.get("run_id")
        if not isinstance(rid, str):
            return f"{cfg_path}: no run_id"
        if (run_dir / "spec.json").exists() and rid != run_dir.name:  # a sweep's run: named by its id
            return f"{cfg_path}: run_id {rid!r} does not match its folder {run_dir.name!r}"
        # a config.json without a stage tag is a pretraining config (scaling.config), hashed here; other
        # stages' configs need their stage's code (RL's imports JAX) and are checked by the worker
        if "stage" not in config:
            try:
                hashed = C.run_id(C.build({k: v for k, v in config.items() if k != "run_id"}, source=str(cfg_path)))
            except ConfigError as err:
                return f"{err} (written by other code?)"
            if hashed != rid:
                return f"{cfg_path}: the config hashes to {hashed!r}, not to its run_id {rid!r} (edited, or other code)"
        summary = read_summary(run_dir)
        if summary is None:
            return None
        sum_path = run_dir / SUMMARY
        if summary.get("status") not in STATUSES:
            return f"{sum_path}: unknown status {summary.get('status')!r} (known: {', '.join(STATUSES)})"
        if summary.get("run_id") not in (None, rid):
            return f"{sum_path}: run_id {summary.get('run_id')!r} is not its config's {rid!r}"
        changed = changed_since_commit(run_dir, summary)
        if changed is not None:
            return changed
        if summary["status"] == "done" and not read_metrics(run_dir):
            return f"{run_dir / METRICS}: a committed run (done) without records"
    except DataError as err:
        return str(err)
    return None


def check(run_dir: str | Path) -> None:
    """DataError (one line naming the file) if the run folder is damaged (see `problem`)."""
    what = run_problem(run_dir)
    if what is not None:
        raise DataError(f"{what}; move the run folder away to train it again")
