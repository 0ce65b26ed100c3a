"""What a commit vouches for: checksums of a run folder's committed files, recorded in its
summary.json at commit (`scaling.records.write_summary`) and checked by every reader
(`scaling.records.run_problem`), so a record appended, removed or edited by hand, a torn line, an
edited config or replaced final parameters are refused, naming the file, instead of changing a
result silently. Runs committed before checksums were recorded have none to check.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

CONFIG, METRICS, SUMMARY = "config.json", "metrics.jsonl", "summary.json"
FINAL = "final"  # the trained parameters of a `done` run (orbax)
COMMITTED = (CONFIG, METRICS, "records.jsonl")  # files a commit's checksums cover, where present


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest(final: Path) -> str:
    """Hash of the final parameters: every file's name and bytes (another seed's parameters of the
    same shape have the same names and sizes, so sizes alone would not tell them apart)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in final.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(final)}\0{path.stat().st_size}\0".encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def checksums(run_dir: str | Path) -> dict:
    """{file: sha256} of what a commit vouches for: config.json, the records (metrics.jsonl, or a
    study's records.jsonl) and the final parameters (`final/`), those that exist."""
    run_dir = Path(run_dir)
    out = {name: sha256(run_dir / name) for name in COMMITTED if (run_dir / name).is_file()}
    if (run_dir / FINAL).is_dir():
        out[FINAL] = _manifest(run_dir / FINAL)
    return out


def changed_since_commit(run_dir: str | Path, summary: dict) -> str | None:
    """One line naming the first committed file that is missing or changed (None: all as committed;
    runs committed before checksums were recorded have none to check)."""
    run_dir = Path(run_dir)
    sums = summary.get("checksums")
    if sums is None:
        return None
    if not isinstance(sums, dict):
        return f"{run_dir / SUMMARY}: checksums is not an object"
    for name, expected in sorted(sums.items()):
        path = run_dir / name
        if not path.exists():
            return f"{path}: committed but gone"
        now = _manifest(path) if name == FINAL else sha256(path)
        if now != expected:
            what = "the final parameters" if name == FINAL else "the file"
            return f"{path}: {what} changed after the run was committed (checksum differs)"
    return None
