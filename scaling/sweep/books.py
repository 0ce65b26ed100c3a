"""The launcher's books in a sweep folder, and the checks made before a launch writes anything.

    <sweep_dir>/sweep.json          which sweep owns the folder, its runs as last launched, and the
                                    launch history (planned and measured times, counts)
    <sweep_dir>/state/<run_id>.json one run as the launcher saw it: attempts (each with its engine
                                    job id, start, end, outcome), status, last failure, and at
                                    commit the checksum of the run's summary.json (`summary`), so a
                                    run deleted or copied in from another training is seen
                                    (`scaling.reading.books_problem`)

A damaged book is an error naming the file, never read as empty nor overwritten.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from scaling import integrity, provenance, reading, records
from scaling.errors import ConfigError, DataError
from scaling.sweep import layout, stages
from scaling.sweep.runspec import DEFAULT_STAGE

INDEX = "sweep.json"


class StateBook:
    """`<sweep_dir>/state/<run_id>.json`, merged and rewritten atomically on every change."""

    def __init__(self, sweep_dir: str | Path):
        self.dir = Path(sweep_dir) / layout.STATE
        self.dir.mkdir(parents=True, exist_ok=True)

    def read(self, run_id: str) -> dict:
        return read_state(self.dir.parent, run_id)

    def update(self, run_id: str, **fields) -> None:
        """Merge `fields` into the run's book; at commit, with the checksum of the summary.json the
        run committed (`reading.BOOKED`), so a run folder copied in from another training is seen."""
        state = {**self.read(run_id), **fields, "run_id": run_id}
        summary = layout.run_dir(self.dir.parent, run_id) / records.SUMMARY
        if fields.get("status") == "committed" and summary.is_file():
            state[reading.BOOKED] = integrity.sha256(summary)
        records.atomic_write_json(self.dir / f"{run_id}.json", state)

    def attempt(self, run_id: str, **fields) -> None:
        """Add (`number` new) or complete (same `number`) an entry of the run's attempt list."""
        state = self.read(run_id)
        attempts = [a for a in state.get("history", []) if a.get("number") != fields.get("number")]
        old = next((a for a in state.get("history", []) if a.get("number") == fields.get("number")), {})
        attempts.append({**old, **fields})
        attempts.sort(key=lambda a: (a.get("launch", 0), a.get("number", 0)))
        self.update(run_id, history=attempts)


def read_state(sweep_dir: str | Path, run_id: str) -> dict:
    """A run's state file ({} if there is none); DataError naming the file if it is damaged."""
    path = Path(sweep_dir) / layout.STATE / f"{run_id}.json"
    return records.read_json_dict(path) if path.exists() else {}


def read_index(sweep_dir: str | Path) -> dict:
    """sweep.json ({} for a new folder); DataError naming the file if it is damaged."""
    path = Path(sweep_dir) / INDEX
    if not path.exists():
        return {}
    info = records.read_json_dict(path)
    if not isinstance(info.get("launches", []), list):
        raise DataError(f"{path}: launches: expected a list")
    return info


def write_index(sweep_dir: Path, sweep, info: dict, launches: list, extend: bool) -> None:
    """sweep.json after a launch of `sweep`: its runs replace its part of the folder."""
    parts = dict(info.get("parts") or ({info["name"]: info.get("runs", [])} if info.get("name") else {}))
    if not extend:
        parts = {k: v for k, v in parts.items() if k == sweep.name}
    parts[sweep.name] = [r.run_id for r in sweep.runs]
    runs = list(dict.fromkeys(rid for ids in parts.values() for rid in ids))
    out = {"name": info.get("name") if extend and info.get("name") else sweep.name,
           "source": os.path.abspath(sweep.source), "runs": runs, "parts": parts, "launches": launches}
    if sweep.upstream:  # a sweep of several stages names its stage and the runs it starts from
        out["stage"] = sweep.stage
        out.update({stages.get(s).folder: [r.run_id for r in runs] for s, runs in sweep.upstream.items()})
    records.atomic_write_json(sweep_dir / INDEX, out)


def check_books(folders: dict, jobs: list) -> None:
    """Read every folder's sweep.json and every job's state file (in its stage's folder): a
    DataError names the first damaged one."""
    for folder in folders.values():
        read_index(folder)
    for job in sorted(jobs, key=lambda j: list(folders).index(j.stage)):
        read_state(folders[job.stage], job.spec.run_id)


def check_owner(sweep_dir: Path, sweep, extend: bool) -> dict:
    """The folder's index; ConfigError if it belongs to another sweep and `extend` is not set."""
    info = read_index(sweep_dir)
    owner, held = info.get("name"), info.get("stage", DEFAULT_STAGE)
    parts = info.get("parts") or {}
    if owner is not None and sweep.name not in (owner, *parts) and not extend:
        raise ConfigError(f"{sweep_dir}: holds sweep {owner!r} (from {info.get('source')}), not {sweep.name!r}; "
                          f"choose another --out, or pass --extend to add this sweep's runs to it")
    if owner is not None and held != sweep.stage:  # a folder holds one stage's sweep (not a stage branch)
        raise ConfigError(f"{sweep_dir}: holds a {held} sweep ({owner!r}); a {sweep.stage} sweep cannot share it")
    return info


def check_runs(jobs: list, accept_code: bool) -> None:
    """Before anything is written: every existing run folder is sound (`records.run_problem`), and the
    committed ones came from this code version unless `accept_code`."""
    current, other = provenance.code_version(), []
    for job in jobs:
        if (job.run_dir / records.CONFIG).exists():
            records.check(job.run_dir)
        if job.run_dir.exists():  # committed in the books, then changed: refused (a folder moved away is trained again)
            what = reading.books_problem(layout.folder_of(job.run_dir), job.spec.run_id)
            if what is not None:
                raise DataError(f"{what}; move the run folder away to train it again")
        if not (job.run_dir / records.CONFIG).exists():
            continue
        summary = records.read_summary(job.run_dir)
        if summary is not None and not provenance.same_code(provenance.code_of(summary)):
            other.append((job.spec.run_id, provenance.code_of(summary)))
    if other and not accept_code:
        rid, code = other[0]
        raise ConfigError(f"{jobs[0].run_dir.parent.parent}: {len(other)} committed run(s) came from other code "
                          f"(e.g. {rid}: code version {code or 'unknown'}; this code is {current}); pass "
                          f"--accept-code to reuse them, or choose another --out to train them again")


def launch_entry(backend: str, workers: int, runs: int, planned_s: float, rate) -> dict:
    return {"started": time.time(), "backend": backend, "workers": workers, "runs": runs, "planned_s": planned_s,
            "rate": rate, "code": provenance.code_version()}
