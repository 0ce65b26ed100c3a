"""What a sweep folder holds right now: counts by status, running and failed runs, the slowest runs.

A run is `done`, `diverged` or `failed` once committed (summary.json); before that it is `running`
(a live worker holds its lock), `failed` (the launcher gave up on it: a crash, or retries spent),
`interrupted` (it has records but nobody is running it: the next launch resumes it) or `pending`.
A run folder that fails `scaling.records.run_problem`, or whose summary.json is not the one the
books committed (`scaling.reading.books_problem`), is `damaged` (with the reason): `load` and
`sweep run` refuse it, `sweep plan` marks it. A run the books list as committed whose folder,
config.json or summary.json is gone is an error, as in `load`. Only the runs of the sweep as last launched are
counted (as `scaling.load` reads them); other run folders on disk are counted apart.
A sweep of several stages lists the runs of the stages it starts from (e.g. an RL sweep's
pretraining runs, `pretrained/runs/`) before its own.
"""

from __future__ import annotations

from pathlib import Path

from scaling import reading, records
from scaling.errors import DataError
from scaling.sweep import layout, stages
from scaling.sweep.books import read_index, read_state
from scaling.sweep.runspec import DEFAULT_STAGE
from scaling.sweep.lock import holder, is_locked
from scaling.sweep.worker import LOG

ORDER = ("done", "diverged", "failed", "running", "interrupted", "pending", "damaged")


def run_status(run_dir: Path, state: dict) -> tuple[str, str]:
    """(status, why) of one run folder, as every reader sees it."""
    what = records.run_problem(run_dir)
    if what is None and run_dir.exists():  # committed in the books, changed since (`reading.books_problem`)
        what = reading.books_problem(layout.folder_of(run_dir), run_dir.name)
    if what is not None:
        return "damaged", what
    summary = records.read_summary(run_dir)
    if summary is not None:
        return summary["status"], ""
    if is_locked(run_dir):
        info = holder(run_dir)
        return "running", ", ".join(f"{k} {info[k]}" for k in ("host", "pid", "job") if info.get(k))
    if state.get("status") == "failed":
        return "failed", state.get("detail", "")
    if (run_dir / records.METRICS).exists() or state.get("attempts"):
        return "interrupted", ""
    return "pending", ""


def collect(sweep_dir: str | Path, slowest: int = 5) -> dict:
    """Everything `scaling sweep status` shows, as data (plain JSON values)."""
    sweep_dir = Path(sweep_dir)
    if not layout.runs_dir(sweep_dir).is_dir():
        raise DataError(f"{sweep_dir}: not a sweep folder (no runs/ inside); "
                        f"pass the --out folder of `scaling sweep run`")
    info = read_index(sweep_dir)
    inside = dict.fromkeys(layout.upstream_folder(sweep_dir, s.folder) for s in stages.STAGES.values() if s.folder)
    folders = [f for f in inside if layout.runs_dir(f).is_dir()] + [sweep_dir]  # upstream stages' runs first
    runs, others = [], 0
    for folder in folders:
        mine = reading.run_dirs(folder)
        others += len(reading.run_dirs(folder, all_runs=True)) - len(mine)
        for run_dir in (d for d in mine if d != folder):
            state = read_state(folder, run_dir.name)
            status, why = run_status(run_dir, state)
            spec = _spec(run_dir)
            summary = (records.read_summary(run_dir) or {}) if status != "damaged" else {}
            seconds = summary.get("wall_s", summary.get("time/wall_s"))
            if seconds is None and state.get("ended") and state.get("started") and status != "running":
                seconds = state["ended"] - state["started"]
            runs.append({
                "run_id": run_dir.name, "label": spec.get("label", run_dir.name), "status": status,
                "stage": spec.get("stage", DEFAULT_STAGE), "log": str(run_dir / LOG),
                "detail": why or state.get("detail", ""), "attempts": state.get("attempts", 0),
                "job_id": state.get("job_id"), "seconds": seconds, "flops": (spec.get("cost") or {}).get("compute/flops"),
                "code": ((summary.get("provenance") or {}).get("code")),
            })
    counts = {s: 0 for s in ORDER}
    for r in runs:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    timed = sorted((r for r in runs if r["seconds"] is not None), key=lambda r: -r["seconds"])
    launches = [x for x in info.get("launches", []) if isinstance(x, dict) and x.get("runs")]
    return {
        "sweep": info.get("name", sweep_dir.name), "dir": str(sweep_dir), "total": len(runs),
        "counts": counts, "other_runs": others,
        "running": [r for r in runs if r["status"] == "running"],
        "failed": [r for r in runs if r["status"] == "failed"],
        "damaged": [r for r in runs if r["status"] == "damaged"],
        "slowest": timed[:slowest],
        "last_launch": launches[-1] if launches else None,
        "runs": runs,
    }


def _spec(run_dir: Path) -> dict:
    try:
        return records.read_json_dict(run_dir / "spec.json") if (run_dir / "spec.json").exists() else {}
    except DataError:
        return {}  # the launcher's derived file; made again by the next launch
