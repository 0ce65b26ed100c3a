"""A test-time study folder's rows, read only as the study wrote them (`scaling.testtime.study`).

Every line of records.jsonl is a JSON object with the fields `schemes.evaluate` writes, each in its
domain; (seed, M, problem, scheme) is unique; the rows are those of the one study the folder's
config.json describes (its seeds, M's and problems); and a committed study's files are as they
were at commit (`scaling.integrity`). Anything else is a DataError naming the file and line, so two
studies' rows concatenated, an edited row or a torn file never reach a claim.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from scaling import records
from scaling.errors import DataError
from scaling.integrity import changed_since_commit
from scaling.testtime.schemes import SCHEMES

RECORDS = "records.jsonl"
KEY = ("seed", "M", "problem", "scheme")


def _count(low: int):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _amount(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


# field -> (what it must be, check): the fields a claim reads (`scaling.claims.parallel`) ...
REQUIRED = {
    "seed": ("a non-negative integer", _count(0)),
    "M": ("a positive integer", _count(1)),
    "problem": ("a non-negative integer", _count(0)),
    "scheme": (f"one of {', '.join(SCHEMES)}", lambda v: v in SCHEMES),
    "correct": ("true or false", lambda v: isinstance(v, bool)),
    "tt/tokens_critical": ("a finite non-negative number", _amount),
    "tt/latency_s": ("a finite non-negative number", _amount),
}
# ... and the others `schemes.evaluate` writes, checked where present
OPTIONAL = {
    "tt/tokens_total": ("a finite non-negative number", _amount),
    "tt/flops": ("a finite non-negative number", _amount),
    "tt/rounds": ("a positive integer", _count(1)),
    "n_correct": ("a non-negative integer", _count(0)),
    "answers": ("a list of [answer, count, correct]", lambda v: isinstance(v, list) and all(
        isinstance(a, list) and len(a) == 3 and _count(1)(a[1]) and isinstance(a[2], bool) for a in v)),
}


def read_rows(out_dir) -> list[dict]:
    """The rows of the study in `out_dir`; DataError naming the file (and line) otherwise."""
    folder = Path(out_dir)
    path = folder / RECORDS
    if not path.is_file():
        raise DataError(f"{folder}: no test-time records ({RECORDS})")
    summary = records.read_summary(folder) if (folder / records.SUMMARY).is_file() else None
    if summary is not None:
        changed = changed_since_commit(folder, summary)
        if changed is not None:
            raise DataError(changed)
    rows, seen = [], {}
    for i, line in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}: line {i}"
        try:
            row = json.loads(line.decode())
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise DataError(f"{where}: malformed JSON") from None
        _check_row(row, where)
        _check_key(row, where, i, seen)
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: no rows")
    _one_study(folder, path, rows)
    return rows


def check_rows(rows, source: str = "the study") -> None:
    """Rows in memory (e.g. given to `scaling.claims.registry.judge`) as :func:`read_rows` checks a
    file's lines: each an object with its fields in their domains, one row per key (line i: row i)."""
    if not isinstance(rows, list) or not rows:
        raise DataError(f"{source}: no rows")
    seen: dict = {}
    for i, row in enumerate(rows, start=1):
        _check_row(row, f"{source}: line {i}")
        _check_key(row, f"{source}: line {i}", i, seen)


def _check_row(row, where: str) -> None:
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    for field, (what, ok) in {**REQUIRED, **OPTIONAL}.items():
        if field not in row:
            if field in REQUIRED:
                raise DataError(f"{where}: no {field}")
            continue
        if not ok(row[field]):
            raise DataError(f"{where}: {field} must be {what}, got {row[field]!r}")


def _check_key(row: dict, where: str, i: int, seen: dict) -> None:
    key = tuple(row[k] for k in KEY)
    if key in seen:
        raise DataError(f"{where}: seed {key[0]}, M {key[1]}, problem {key[2]}, scheme {key[3]} already on "
                        f"line {seen[key]} (rows of two studies, or a row twice)")
    seen[key] = i


def _one_study(folder: Path, path: Path, rows: list[dict]) -> None:
    """DataError when the rows are not those of the study config.json describes (its seeds, M's
    and problems, every scheme): another study's rows mixed in, or some missing."""
    cfg_path = folder / records.CONFIG
    if not cfg_path.is_file():
        return  # rows written by other means: only their keys are checked
    cfg = records.read_json_dict(cfg_path)
    want = {"seed": cfg.get("seeds"), "M": cfg.get("M")}
    for field, values in want.items():
        if not isinstance(values, list):
            raise DataError(f"{cfg_path}: {'seeds' if field == 'seed' else field}: expected a list")
        extra = sorted({r[field] for r in rows} - set(values))
        if extra:
            raise DataError(f"{path}: rows with {field} {extra[0]}, which the study ({cfg_path}) did not run: "
                            f"rows of another study mixed in")
    n = cfg.get("problems")
    if isinstance(n, int) and any(r["problem"] >= n for r in rows):
        raise DataError(f"{path}: rows of problem {max(r['problem'] for r in rows)}, the study ({cfg_path}) "
                        f"ran {n} problems: rows of another study mixed in")
    if isinstance(n, int) and len(rows) != len(want["seed"]) * len(want["M"]) * n * len(SCHEMES):
        raise DataError(f"{path}: {len(rows)} rows, the study ({cfg_path}) makes "
                        f"{len(want['seed']) * len(want['M']) * n * len(SCHEMES)}: rows missing")
