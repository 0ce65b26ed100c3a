"""Input for fits: a CSV file, a sweep directory or a DataFrame; validation with named errors.

Bad data raises :class:`scaling.errors.FitError` naming the column and the row (the DataFrame
index, which for a CSV is the 0-based data row) so that the CLI can print one useful line.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scaling.errors import DataError, FitError

# column names tried, in order, when the caller does not name one (records of scaling.load first)
DEFAULT_COLUMNS = {
    "compute": ["compute/flops", "C", "compute", "flops", "Training FLOP", "compute_kgpuh", "budget"],
    "params": ["params/total", "N", "params", "Model Size", "model_params"],
    "tokens": ["tokens/total", "D", "tokens"],
    "loss": ["eval/loss/val", "loss", "eval/loss"],  # then one eval/loss/<split>, then train/loss
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
            table = load(path)
        except (ValueError, UnicodeDecodeError, KeyError, TypeError) as err:  # damaged run files
            raise DataError(f"{path}: unreadable records ({type(err).__name__}: {_one_line(err)[:120]})") from None
        if table.empty:  # a plain folder (or a folder named x.csv): no run folders, no committed runs
            raise DataError(f"{path}: a folder with no committed runs (a sweep folder holds runs/<run>/"
                            f"config.json, metrics.jsonl and summary.json; or name a CSV file)")
        return table
    if not path.is_file():
        raise DataError(f"{path}: not a file or a folder")
    try:
        table = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the table is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a readable CSV ({_one_line(err)})") from None
    if table.empty:
        raise DataError(f"{path}: the table has a header but no rows")
    header = (table.astype(str) == pd.Index(table.columns).astype(str)).all(axis=1).to_numpy()
    if header.any():  # `cat a.csv b.csv`: the second header is a data row
        raise DataError(f"{path}: row {table.index[int(np.flatnonzero(header)[0])]} repeats the header "
                        f"(two tables concatenated?)")
    return table


def _columns_text(columns, limit: int = 24) -> str:
    names = [str(c) for c in columns]
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def missing_column(option: str, column, columns) -> DataError:
    """The error for a column an option names that the table lacks: the flag, the column, the
    nearest names (a typo is the usual cause) and the columns there are."""
    near = difflib.get_close_matches(str(column), [str(c) for c in columns], n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(map(repr, near))}? " if near else ""
    return DataError(f"{option} {column!r}: no such column ({hint}columns: {_columns_text(columns)})")


def require_columns(df: pd.DataFrame, named: dict) -> None:
    """DataError naming the option when a column it names is not in the table ({option: column or
    list of columns}; None values are options left unset)."""
    for option, column in named.items():
        for col in column if isinstance(column, (list, tuple)) else [column]:
            if col is not None and col not in df.columns:
                raise missing_column(option, col, df.columns)


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


def check_keys(df: pd.DataFrame, key, source: str = "the table", drop_duplicates: bool = False,
               hint: str = "") -> tuple[pd.DataFrame, int]:
    """(table, rows dropped): each key (e.g. run, step, point) must name one row. A key twice is a
    DataError naming the first, unless `drop_duplicates` (an explicit option): then rows that
    repeat another row entirely are dropped and counted, and a key twice with other values is still
    an error (which of them is right cannot be told). ``hint``: what to do, appended to the error."""
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
    hint = (hint if drop_duplicates else hint + "; --drop-duplicates drops rows that repeat another row entirely")
    raise DataError(f"{source}: {int(twice.sum())} rows share a key ({where} appears more than once){hint}")


#: what a numeric column may hold: (test on finite values, the rule in words)
DOMAINS = {
    "finite": (lambda v: np.ones(v.shape, bool), "must be finite"),
    "positive": (lambda v: v > 0, "must be finite and positive"),
    "nonnegative": (lambda v: v >= 0, "must be finite and >= 0"),
    "fraction": (lambda v: (v >= 0) & (v <= 1), "must lie in [0, 1] (a pass rate or accuracy is a fraction, "
                                                 "not a percent)"),
}
#: a column's domain by its name, first match (a command that knows a column's role says so instead)
NAMED_DOMAINS = (
    (r"pass@|pass_at|pass_rate|accuracy|(^|/)acc($|/)|coverage|(^|/)correct$", "fraction"),
    (r"latency|(^|/)time/|(^|_|/)s$|seconds|length|tokens", "nonnegative"),
    (r"flops|compute|^eval/loss|^loss$|params|(^|/)[CND]$", "positive"),
)


def domain_of(column) -> str:
    """The domain of a numeric column by its name (:data:`NAMED_DOMAINS`), else "finite"."""
    return next((d for pattern, d in NAMED_DOMAINS if re.search(pattern, str(column), re.IGNORECASE)), "finite")


@dataclass(frozen=True)
class Table:
    """What a command reads from its table, checked by :func:`check_table` before anything is fitted.

    columns: {flag: column or list} named by options (must exist); ids: id columns (no empty value);
    run: the run column; per_run: columns with one value per run (recipe, configuration, seed,
    group: two values mean two studies' rows concatenated); key: the columns that name a row
    (absent ones skipped; none present: every column, so a row repeated entirely is still caught);
    values: {numeric column: domain (a :data:`DOMAINS` name) or None (by name)}; missing: value
    columns where an empty cell means "not recorded here" (the command skips it); start_zero: a
    "positive" column may be 0 at a run's start (an RL run's starting evaluation, which the claims
    leave out): at step 0 where there is a step column, else once per unit (these columns, e.g.
    group and seed; () the whole table); None: never 0; rows: {column: values}, the rows used (e.g.
    the two recipes compared): the values of other rows are not checked (their ids, runs and keys
    are); hint: appended to a key's error (what the user can do)."""

    columns: dict = field(default_factory=dict)
    ids: tuple = ()
    run: str | None = None
    per_run: tuple = ()
    key: tuple = ()
    values: dict = field(default_factory=dict)
    missing: tuple = ()
    start_zero: tuple | None = None
    rows: dict = field(default_factory=dict)
    hint: str = ""


def check_table(df: pd.DataFrame, spec: Table, source: str = "the table",
                drop_duplicates: bool = False) -> tuple[pd.DataFrame, int]:
    """(table, rows dropped): the one check of a table before a fit or a claim (named columns,
    ids, one study, keys, domains), a DataError naming file, column, row and value otherwise.
    With ``drop_duplicates`` rows that repeat another row entirely are dropped (and counted)."""
    require_columns(df, spec.columns)
    dropped = 0
    if drop_duplicates:
        exact = df.duplicated(keep="first")
        df, dropped = df[~exact], int(exact.sum())
    check_ids(df, [c for c in dict.fromkeys((spec.run, *spec.ids)) if c], source)
    check_one_study(df, spec.run, spec.per_run, source)
    key = [k for k in spec.key if k is not None and k in df.columns] or list(df.columns)  # no key: exact repeats
    check_keys(df, key, source, hint=spec.hint)
    used = df  # values are checked where used (a third recipe's diverged run is not the comparison's)
    for col, keep in spec.rows.items():
        if col in used.columns:
            used = used[used[col].astype(str).isin([str(v) for v in keep])]
    for col, domain in spec.values.items():
        if col in used.columns:
            check_domain(used, col, domain or domain_of(col), source, run=spec.run,
                         missing=col in spec.missing, start_zero=spec.start_zero)
    return df, dropped


#: columns that hold one value per run wherever they exist (a sweep's records carry them on every row)
RUN_CONSTANT = ("recipe", "config_id", "seed")


def check_one_study(df: pd.DataFrame, run, per_run, source: str = "the table") -> None:
    """Each run has one value of each ``per_run`` column and of :data:`RUN_CONSTANT` (recipe,
    configuration, seed ...): a run id with two recipes is two studies' rows concatenated (or a run
    id reused), a DataError."""
    if run is None or run not in df.columns:
        return
    for col in dict.fromkeys((*per_run, *RUN_CONSTANT)):
        if col is None or col == run or col not in df.columns:
            continue
        n = df.groupby(run, sort=False)[col].nunique(dropna=False)
        if (n > 1).any():
            r = n.index[int(np.flatnonzero((n > 1).to_numpy())[0])]
            vals = sorted(map(str, df.loc[df[run] == r, col].unique()))
            raise DataError(f"{source}: run {_item(r)!r} has {len(vals)} values of {col!r} "
                            f"({', '.join(vals[:3])}): rows of two studies concatenated, or a run id reused")


def check_domain(df: pd.DataFrame, col, domain: str, source: str = "the table", *, run=None,
                 missing: bool = False, start_zero: tuple | None = None) -> None:
    """Every value of ``col`` is a number in ``domain`` (:data:`DOMAINS`); DataError naming the
    file, column, row, run and value. missing: an empty cell is allowed (not recorded there);
    start_zero: 0 is allowed at a run's start (see :class:`Table`)."""
    test, words = DOMAINS[domain]
    raw = df[col]
    num = pd.to_numeric(raw, errors="coerce")
    word = num.isna() & raw.notna() & ~raw.astype(str).str.strip().str.lower().isin(["nan", ""])
    if word.any():
        i = int(np.flatnonzero(word.to_numpy())[0])
        raise DataError(f"{source}: column {col!r} row {df.index[i]}{_of_run(df, run, i)}: not a number "
                        f"({raw.iloc[i]!r})")
    v = num.to_numpy(float)
    ok = np.isfinite(v)
    with np.errstate(invalid="ignore"):
        ok[ok] = test(v[ok])
    if start_zero is not None:
        ok |= _start_zero(df, v, start_zero)
    if missing:
        ok |= np.isnan(v)
    if not ok.all():
        bad = np.flatnonzero(~ok)
        i = int(bad[0])
        what = "compute " if domain == "positive" and re.search("flops|compute", str(col)) else ""
        raise DataError(f"{source}: column {col!r} row {df.index[i]}{_of_run(df, run, i)}: {what}{words}, "
                        f"got {v[i]:g} ({bad.size} such rows)")


def _start_zero(df, v, units) -> np.ndarray:
    """Rows whose zero is a run's start: step 0, or (no step column) the one zero of its unit."""
    zero = v == 0
    if "step" in df.columns:
        return zero & (pd.to_numeric(df["step"], errors="coerce").to_numpy(float) == 0)
    units = [c for c in units if c is not None and c in df.columns]
    if not units:
        return zero & (zero.sum() == 1)
    n = pd.Series(zero, index=df.index).groupby([df[c].astype(str) for c in units]).transform("sum").to_numpy()
    return zero & (n == 1)


def _of_run(df, run, i) -> str:
    return f" (run {_item(df[run].iloc[i])!r})" if run is not None and run in df.columns else ""


def _item(v):
    return getattr(v, "item", lambda: v)()


def resolve_column(df: pd.DataFrame, role: str, name: str | None = None, flag: str | None = None) -> str:
    """The column to use for ``role``: ``name`` if given (it must exist; ``flag``: the option that
    named it, for the error), else the first default name present (eval/loss/<split> columns are
    also matched for the loss)."""
    if name is not None:
        if name not in df.columns:
            raise missing_column(flag or role, name, df.columns)
        return name
    for cand in DEFAULT_COLUMNS.get(role, []):
        if cand in df.columns:
            return cand
    if role == "loss":  # a validation loss before the training loss; of several splits, none is guessed
        evals = sorted(c for c in df.columns if str(c).startswith("eval/loss/"))
        if len(evals) > 1:
            raise DataError(f"several validation losses ({', '.join(evals)}): name the one to use (--y)")
        if evals:
            return evals[0]
        if "train/loss" in df.columns:
            return "train/loss"
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
