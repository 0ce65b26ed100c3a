"""Input for fits: a CSV file, a sweep directory or a DataFrame; validation with named errors.

Bad data raises :class:`scaling.errors.FitError` naming the column and the row (the DataFrame
index, which for a CSV is the 0-based data row) so that the CLI can print one useful line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from scaling.errors import DataError, FitError

# column names tried, in order, when the caller does not name one (records of scaling.load first)
DEFAULT_COLUMNS = {
    "compute": ["compute/flops", "C", "compute", "flops", "Training FLOP", "compute_kgpuh", "budget"],
    "params": ["params/total", "N", "params", "Model Size", "model_params"],
    "tokens": ["tokens/total", "D", "tokens"],
    "loss": ["eval/loss/val", "loss", "eval/loss", "train/loss"],
    "metric": ["pass_rate", "accuracy", "score", "metric"],
    "k": ["k", "samples"],
    "coverage": ["coverage", "pass_at_k"],
    "group": ["run_id", "run", "model", "group"],
}


def read_table(source) -> pd.DataFrame:
    """A DataFrame from a DataFrame, a CSV path, or a sweep directory (via ``scaling.reading.load``)."""
    if isinstance(source, pd.DataFrame):
        return source
    path = Path(source)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    if path.is_dir():
        from scaling.reading import load  # lazy: pandas readers of run folders are not needed for a CSV

        try:
            return load(path)
        except (ValueError, UnicodeDecodeError, KeyError, TypeError) as err:  # damaged run files
            raise DataError(f"{path}: unreadable records ({type(err).__name__}: {_one_line(err)[:120]})") from None
    try:
        table = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the table is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a readable CSV ({_one_line(err)})") from None
    if table.empty:
        raise DataError(f"{path}: the table has a header but no rows")
    return table


def require_columns(df: pd.DataFrame, named: dict) -> None:
    """DataError naming the option when a column it names is not in the table ({option: column};
    None values are options left unset)."""
    for option, column in named.items():
        if column is not None and column not in df.columns:
            raise DataError(f"{option} {column!r}: no such column (columns: {', '.join(map(str, df.columns))})")


def check_ids(df: pd.DataFrame, columns, source: str = "the table") -> None:
    """DataError naming the column and row when an id (run, recipe, configuration) is empty."""
    for col in columns:
        if col is None or col not in df.columns:
            continue
        text = df[col].astype(str).str.strip()
        empty = df[col].isna().to_numpy() | (text == "").to_numpy() | text.str.lower().isin(["nan", "none"]).to_numpy()
        if empty.any():
            i = int(np.flatnonzero(empty)[0])
            raise DataError(f"{source}: column {col!r} row {df.index[i]}: empty id ({int(empty.sum())} such rows)")


def check_keys(df: pd.DataFrame, key, source: str = "the table", drop_duplicates: bool = False) -> tuple[pd.DataFrame, int]:
    """(table, rows dropped): each key (e.g. run, step, point) must name one row. A key twice is a
    DataError naming the first, unless `drop_duplicates` (an explicit option): then rows that
    repeat another row entirely are dropped and counted, and a key twice with other values is still
    an error (which of them is right cannot be told)."""
    key = [k for k in key if k is not None and k in df.columns]
    if not key:
        return df, 0
    twice = df.duplicated(subset=key, keep=False)
    if not twice.any():
        return df, 0
    if drop_duplicates:
        exact = df.duplicated(keep="first")
        rest = df[~exact]
        if not rest.duplicated(subset=key, keep=False).any():
            return rest, int(exact.sum())
        twice = rest.duplicated(subset=key, keep=False)
        df = rest
    first = df[twice].iloc[0]
    where = ", ".join(f"{k}={getattr(first[k], 'item', lambda: first[k])()!r}" for k in key)
    hint = "" if drop_duplicates else "; --drop-duplicates drops rows that repeat another row entirely"
    raise DataError(f"{source}: {int(twice.sum())} rows share a key ({where} appears more than once){hint}")


def resolve_column(df: pd.DataFrame, role: str, name: str | None = None) -> str:
    """The column to use for ``role``: ``name`` if given (it must exist), else the first default
    name present (eval/loss/<split> columns are also matched for the loss)."""
    if name is not None:
        if name not in df.columns:
            raise FitError(f"missing column {name!r} (columns: {', '.join(map(str, df.columns))})")
        return name
    for cand in DEFAULT_COLUMNS.get(role, []):
        if cand in df.columns:
            return cand
    if role == "loss":
        evals = sorted(c for c in df.columns if str(c).startswith("eval/loss/"))
        if evals:
            return evals[0]
    raise FitError(f"no {role} column found (tried {', '.join(DEFAULT_COLUMNS.get(role, []))}); "
                   f"name it explicitly")


def check_values(name: str, values, *, positive: bool = False, labels=None) -> np.ndarray:
    """Finite float array, strictly positive when ``positive``; FitError names column and row."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise FitError(f"column {name!r} is not numeric") from None
    labels = np.arange(arr.size) if labels is None else np.asarray(labels)
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise FitError(f"column {name!r} row {labels[i]}: value {arr[i]} is not finite "
                       f"({int(bad.sum())} such rows)")
    if positive and (arr <= 0).any():
        i = int(np.flatnonzero(arr <= 0)[0])
        raise FitError(f"column {name!r} row {labels[i]}: value {arr[i]:g} must be positive "
                       f"({int((arr <= 0).sum())} such rows)")
    return arr


def check_count(n_points: int, n_params: int, law: str) -> None:
    """At least one more point than free parameters."""
    if n_points <= n_params:
        raise FitError(f"{law} needs more than {n_params} points for {n_params} parameters; "
                       f"got {n_points}")


def check_spread(name: str, values) -> None:
    """The independent variable must take at least two distinct values."""
    if np.unique(np.asarray(values)).size < 2:
        raise FitError(f"column {name!r} has a single value; a fit needs at least two")


def seed_labels(df: pd.DataFrame, seed_col: str, what: str = "the rows used") -> np.ndarray:
    """Seed labels from ``seed_col`` (the ``--seed-col`` option): the column must exist and hold
    at least two values, since resampling seeds within configurations needs replicates."""
    if seed_col not in df.columns:
        raise DataError(f"--seed-col {seed_col!r}: no such column (columns: {', '.join(map(str, df.columns))})")
    vals = df[seed_col].dropna().astype(str).unique()
    if len(vals) < 2:
        one = f"a single value ({vals[0]})" if len(vals) else "no values"
        raise DataError(f"--seed-col {seed_col!r}: {one} in {what}; resampling seeds within configurations needs "
                        f"at least 2 seeds (leave out --seed-col to resample whole runs, which measures the grid's "
                        f"fragility, not seed noise)")
    return df[seed_col].astype(str).to_numpy()


def _one_line(err: BaseException) -> str:
    """A parser's message on one line (pandas' messages about binary files can hold newlines)."""
    return " ".join(str(err).split())
