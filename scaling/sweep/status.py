"""What a sweep folder holds right now: counts by status, running and failed runs, the slowest runs.

A run is `done`, `diverged` or `failed` once committed (summary.json); before that it is `running`
(a worker holds its lock), `failed` (the launcher gave up on it: a crash, or retries spent),
`interrupted` (it has records but nobody is running it: the next launch resumes it) or `pending`.
An RL sweep's folder lists its pretraining runs (`pretrained/runs/`) beside its RL runs.
"""

from __future__ import annotations

import json
from pathlib import Path

from scaling import records
from scaling.errors import DataError
from scaling.sweep.worker import LOG, is_locked

ORDER = ("done", "diverged", "failed", "running", "interrupted", "pending")


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def run_status(run_dir: Path, state: dict) -> str:
    summary = records.read_summary(run_dir)
    if summary is not None:
        return str(summary.get("status", "done"))
    if is_locked(run_dir):
        return "running"
    if state.get("status") == "failed":
        return "failed"
    if (run_dir / records.METRICS).exists() or state.get("attempts"):
        return "interrupted"
    return "pending"


def collect(sweep_dir: str | Path, slowest: int = 5) -> dict:
    """Everything `scaling sweep status` shows, as data."""
    sweep_dir = Path(sweep_dir)
    if not (sweep_dir / "runs").is_dir():
        raise DataError(f"{sweep_dir}: not a sweep folder (no runs/ inside); "
                        f"pass the --out folder of `scaling sweep run`")
    info = _read(sweep_dir / "sweep.json")
    folders = [sweep_dir]
    if (sweep_dir / "pretrained" / "runs").is_dir():  # an RL sweep: its pretraining runs first
        folders.insert(0, sweep_dir / "pretrained")
    runs = []
    for folder, run_dir in [(f, d) for f in folders for d in records.run_dirs(f) if d != f]:
        state = _read(folder / "state" / f"{run_dir.name}.json")
        spec = _read(run_dir / "spec.json")
        summary = records.read_summary(run_dir) or {}
        status = run_status(run_dir, state)
        seconds = summary.get("wall_s", summary.get("time/wall_s"))
        if seconds is None and state.get("ended") and state.get("started") and status != "running":
            seconds = state["ended"] - state["started"]
        runs.append({
            "run_id": run_dir.name, "label": spec.get("label", run_dir.name), "status": status,
            "stage": spec.get("stage", "pretrain"),
            "log": str(run_dir / LOG), "detail": state.get("detail", ""), "attempts": state.get("attempts", 0),
            "seconds": seconds, "flops": (spec.get("cost") or {}).get("compute/flops"),
        })
    counts = {s: 0 for s in ORDER}
    for r in runs:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    timed = sorted((r for r in runs if r["seconds"] is not None), key=lambda r: -r["seconds"])
    launches = [x for x in info.get("launches", []) if x.get("runs")]
    return {
        "sweep": info.get("name", sweep_dir.name), "dir": str(sweep_dir), "total": len(runs),
        "counts": counts,
        "running": [r for r in runs if r["status"] == "running"],
        "failed": [r for r in runs if r["status"] == "failed"],
        "slowest": timed[:slowest],
        "last_launch": launches[-1] if launches else None,
    }
