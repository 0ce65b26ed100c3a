"""A sweep folder as DataFrames: one row per record (`load`) or per run (`load_runs`), the run's
config flattened into columns. Only what `scaling.records` vouches for is read: every run folder is
checked (`records.check`: a damaged or changed run is an error naming its file), a run id in two
folders and a record key twice are errors, and so is a run the sweep's books list as committed
whose folder or files are gone or whose summary.json is not the one committed (`books_problem`):
never a silent drop, never another training's run.
"""

from __future__ import annotations

from pathlib import Path

from scaling.errors import DataError
from scaling.integrity import sha256
from scaling.records import CONFIG, METRICS, RUNS, SUMMARY, check, read_json_dict, read_metrics, read_summary


STATE = "state"  # the launcher's book of each run, <folder>/state/<run_id>.json (= scaling.sweep.layout.STATE)
BOOKED = "summary"  # the state book's checksum of the run's summary.json at commit (scaling.sweep.books)


def run_dirs(sweep_dir: str | Path, all_runs: bool = False) -> list[Path]:
    """Run directories under a sweep folder (`<dir>/runs/*`, `<dir>/*`, or `<dir>` itself).

    In a sweep folder, only the runs of the sweep as last launched (its sweep.json) unless
    `all_runs` (runs of earlier versions of the sweep file stay on disk, but are not read). A run
    the launcher's books list as committed whose folder or files are gone, or whose summary.json
    is not the one committed (a run folder copied from another training), is a DataError
    (`books_problem`), never a smaller table."""
    root = Path(sweep_dir)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    if (root / CONFIG).is_file():
        return [root]
    base = root / RUNS if (root / RUNS).is_dir() else root
    found = sorted(p for p in base.iterdir() if (p / CONFIG).is_file())
    index = root / "sweep.json"
    if not index.is_file():
        return found
    wanted = read_json_dict(index).get("runs")
    if not isinstance(wanted, list) or not all(isinstance(r, str) and r for r in wanted):
        raise DataError(f"{index}: runs: expected a list of run ids")
    for rid in wanted:  # whether a summary is the one committed is asked after the run's own check (`_runs`)
        what = books_problem(root, rid, summary=False)
        if what is not None:
            raise DataError(f"{what}; move its folder away, if any, and `scaling sweep run` trains it again")
    if all_runs:
        return found
    wanted = set(wanted)
    return [p for p in found if p.name in wanted]


def books_problem(folder: str | Path, run_id: str, summary: bool = True) -> str | None:
    """One line naming the run and its missing or foreign file, when the sweep folder's books
    (`state/<run_id>.json`) list the run as committed but its folder, config.json or summary.json is
    gone, or (`summary`) its summary.json is not the one committed then; None otherwise (a run never
    committed, or booked before the books kept the checksum)."""
    folder = Path(folder)
    book = folder / STATE / f"{run_id}.json"
    if not book.is_file():
        return None
    state = read_json_dict(book)
    if state.get("status") != "committed":
        return None
    run_dir = folder / RUNS / run_id
    for path in (run_dir, run_dir / CONFIG, run_dir / SUMMARY):
        if not path.exists():
            return f"{path}: gone, but run {run_id} is committed in the sweep's books ({book})"
    booked = state.get(BOOKED)
    if summary and booked is not None and booked != sha256(run_dir / SUMMARY):
        return (f"{run_dir / SUMMARY}: not the summary committed by this sweep (its checksum in {book} "
                f"differs): run {run_id} was copied from another training or edited")
    return None


def _run_columns(run_dir: Path) -> tuple[dict, dict | None]:
    """(run-level columns: run_id, status, sweep budget/label, flattened config; summary or None)."""
    check(run_dir)
    config = read_json_dict(run_dir / CONFIG)
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
    spec = read_json_dict(spec_path) if spec_path.is_file() else {}
    cols = {"run_id": run_id, "status": summary["status"] if summary else "incomplete",
            "budget": spec.get("budget"), "label": spec.get("label")}
    return {**cols, **flat}, summary


def load(sweep_dir: str | Path, committed_only: bool = True, all_runs: bool = False):
    """One row per evaluation under `sweep_dir`, the run's config flattened into columns.

    Columns: run_id, recipe, step, the record fields (tokens/total, compute/flops, params/total,
    train/loss, eval/loss/<split>, ...), status, budget (isoFLOP sweeps), label, and every config
    key (model.family, model.width, optim.lr, seed, train.tokens, ...). Only committed runs (with a
    summary.json) unless `committed_only=False`; only the runs of the sweep as last launched unless
    `all_runs=True`. Unique on (run_id, step, point): a key twice, a run id in two folders or a damaged
    run folder is a DataError naming its file.
    """
    import pandas as pd

    rows, dirs = [], {}
    for run_dir, cols, summary in _runs(sweep_dir, committed_only, all_runs):
        dirs[cols["run_id"]] = run_dir
        for rec in read_metrics(run_dir):
            rows.append({**cols, **rec, "run_id": cols["run_id"]})
    if not rows:
        return pd.DataFrame(columns=["run_id", "recipe", "step", "status"])
    df = pd.DataFrame(rows)
    key = ["run_id", "step", "point"] if "point" in df.columns else ["run_id", "step"]
    twice = df.duplicated(subset=key, keep=False)
    if twice.any():
        first = df[twice].iloc[0]
        where = ", ".join(f"{k}={getattr(first[k], 'item', lambda: first[k])()!r}" for k in key)
        raise DataError(f"{dirs[first['run_id']] / METRICS}: {int(twice.sum())} records share a key ({where} "
                        f"appears more than once)")
    df = df.sort_values(["run_id", "step"], kind="stable").reset_index(drop=True)
    return df[_column_order(df.columns, ("run_id", "recipe", "step"))]


def load_runs(sweep_dir: str | Path, committed_only: bool = True, all_runs: bool = False):
    """One row per run: status, final metrics (summary.json over the last record), flattened config.

    With `committed_only=False` runs still in progress or interrupted appear too (status
    "incomplete", metrics of their last record); `all_runs` as in `load`.
    """
    import pandas as pd

    rows = []
    for run_dir, cols, summary in _runs(sweep_dir, committed_only, all_runs):
        metrics = read_metrics(run_dir)
        final = dict(metrics[-1]) if metrics else {}
        summary = dict(summary or {})
        summary.pop("provenance", None)
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


def _runs(sweep_dir, committed_only: bool, all_runs: bool):
    """(run folder, run columns, summary or None) of each run read, checked; a run id already read
    from another folder (copied runs would count twice) is a DataError."""
    seen: dict = {}
    for run_dir in run_dirs(sweep_dir, all_runs):
        cols, summary = _run_columns(run_dir)
        if run_dir.parent.name == RUNS:  # a sweep's run: its summary is the one its books hold
            what = books_problem(run_dir.parent.parent, run_dir.name)
            if what is not None:
                raise DataError(what)
        if committed_only and summary is None:
            continue
        if cols["run_id"] in seen:
            raise DataError(f"{run_dir}: run {cols['run_id']!r} also in {seen[cols['run_id']]}: a run appears twice")
        seen[cols["run_id"]] = run_dir
        yield run_dir, cols, summary


def _column_order(columns, first: tuple) -> list:
    """`first`, then record fields (tokens/total, train/loss, ...), then run and config columns."""
    head = [c for c in first if c in columns]
    fields = [c for c in columns if "/" in c and c not in head]
    return head + fields + [c for c in columns if c not in head and c not in fields]
