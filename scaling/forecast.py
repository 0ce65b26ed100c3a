"""Forecasts as records: written before the target runs exist, scored once they do.

``make_forecast`` fits a law (``scaling.fit.predict.predict``) to a table's finished rows, less any
rows of the target itself, and returns a record (schema ``scaling.forecast/1``): the target (its
inputs and the filters that will pick its runs), the predicted value with its prediction interval
(the law's bootstrap plus seed spread), the law and options, a hash of the rows used, the code
version and the time, and a checksum of the record itself. ``write_record`` writes it atomically
and never over an existing file. ``score`` reads a checked forecast and the table again, picks
the target's runs, and returns a score record (``scaling.score/1``, also checksummed): the error
and whether the interval for the mean of that many seeds covered the actual value.

The checksum is sha256 of the record's canonical JSON (sorted keys, NaN as null, the checksum
left out), so any edit after writing is detected; the rows' hash is sha256 of the used columns'
values, sorted, so a changed training set is detected at scoring time.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from scaling import provenance
from scaling.errors import DataError
from scaling.fit import registry
from scaling.fit.diagnose import diagnose, widen, widen_by
from scaling.fit.extrapolate import DIAGNOSE_BOOT
from scaling.fit.io import read_table
from scaling.fit.predict import Prediction, check_targets, default_run_col, finished, predict
from scaling.records import _clean, atomic_write_json, jsonable, read_json_dict

FORECAST = "scaling.forecast/1"
SCORE = "scaling.score/1"
#: how far (relative, in each input) a run's point may sit from the target and still be the target's
TOLERANCE = 0.05


def checksum(record: dict) -> str:
    """sha256 of the record's canonical JSON without its ``checksum`` key."""
    body = {k: v for k, v in record.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(_clean(jsonable(body)), sort_keys=True).encode()).hexdigest()


def seal(record: dict) -> dict:
    """The record (as JSON values) with its checksum."""
    rec = _clean(jsonable(record))
    return {**rec, "checksum": checksum(rec)}


def rows_hash(df: pd.DataFrame, cols) -> str:
    """sha256 of the values of ``cols`` (sorted rows, floats to 17 digits): the inputs' identity."""
    d = df[sorted(set(cols))].copy()
    d = d.sort_values(list(d.columns)).reset_index(drop=True)
    return hashlib.sha256(d.to_csv(index=False, float_format="%.17g").encode()).hexdigest()


def parse_filters(items, flag: str) -> dict:
    """{column: value} from COL=VALUE items; DataError naming ``flag`` otherwise."""
    out = {}
    for item in items or []:
        col, eq, val = str(item).partition("=")
        if not eq or not col:
            raise DataError(f"{flag} {item!r}: expected COL=VALUE")
        out[col] = val
    return out


def _matching(df, filters: dict, flag: str) -> np.ndarray:
    """Rows where every COL=VALUE holds; DataError naming a missing column."""
    keep = np.ones(len(df), bool)
    for col, val in filters.items():
        if col not in df.columns:
            raise DataError(f"{flag} {col}={val}: no column {col!r}")
        keep &= (df[col].astype(str) == str(val)).to_numpy()
    return keep


def training_rows(df, where: dict, match: dict):
    """(rows to fit: ``where`` holds and the target's ``match`` does not, count of target rows seen)."""
    keep = _matching(df, where, "--where")
    target = _matching(df, match, "--match") if match else np.zeros(len(df), bool)
    return df[keep & ~target], int((keep & target).sum())


def used_columns(spec, df, x, y, run_col, seed_col) -> tuple[dict, list]:
    """({role: column} the law reads, the stored columns behind them plus run, configuration, seed)."""
    cols = registry.columns(spec, df, [x[r] for r in spec.inputs] if x else [], y)
    stored = [c for c in cols.values() if c in df.columns]
    extra = [c for c in (run_col, seed_col, "config_id") if c and c in df.columns]
    return cols, stored + extra


def make_forecast(source, law: str, target: dict, *, y: str | None = None, x: dict | None = None,
                  run_col: str | None = None, seed_col: str | None = None, where=None, match=None,
                  level: float = 0.9, n_boot: int = 1000, seed: int = 0, delta="auto") -> dict:
    """A sealed forecast record of ``law`` at ``target`` ({role: value}) from the table ``source``
    (sweep folder or CSV). ``where``/``match``: {column: value} filters of the rows to fit and of
    the target's runs (left out of the fit; counted in the record)."""
    spec = registry.get(law)
    check_targets(spec, [target])
    df = finished(read_table(source))
    where, match = dict(where or {}), dict(match or {})
    train, seen = training_rows(df, where, match)
    if len(train) == 0:
        raise DataError(f"{source}: no finished rows to fit after --where and leaving out --match")
    run_col = default_run_col(train, run_col)
    cols, stored = used_columns(spec, train, x, y, run_col, seed_col)
    ycol = cols[spec.output]
    (p,) = predict(train, law, [target], y=ycol, x=x, run_col=run_col, seed_col=seed_col, level=level,
                   n_boot=n_boot, seed=seed, delta=delta)
    # is the form right for these runs? its misspecification term widens the interval (scaling.fit.diagnose)
    dg = diagnose(train, law, y=ycol, x=x, run_col=run_col or "run_id", seed_col=seed_col, level=level,
                  n_boot=min(n_boot, DIAGNOSE_BOOT), seed=seed, delta=delta)
    lo, hi = widen(p, dg)
    record = {
        "schema": FORECAST,
        "target": {"at": p.at, "match": match},
        "law": spec.name,
        "options": {"y": ycol, "x": x, "columns": cols, "run_col": run_col, "seed_col": seed_col,
                    "where": where, "level": level, "n_boot": n_boot, "seed": seed, "delta": delta},
        "prediction": p.to_dict(),
        "interval": [lo, hi],
        "interval_is": f"the {level:.0%} prediction interval for one new run, widened by the form diagnosis",
        "diagnosis": {"warning": dg.warning, "scale": dg.scale, "test": dg.test},
        "inputs": {"source": str(source), "rows": int(len(train)), "columns": sorted(set(stored)),
                   "hash": rows_hash(train, stored), "target_rows_seen": seen},
        "code": {"version": provenance.code_version(), "git": provenance.git_state()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return seal(record)


def check_new(path) -> Path:
    """An output path that does not exist yet, in a folder that does (nothing is overwritten)."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        raise DataError(f"{path}: exists; a forecast is never overwritten (choose another --out)")
    if not path.parent.is_dir():
        raise DataError(f"{path}: folder {path.parent} does not exist")
    return path


def write_record(path, record: dict) -> Path:
    """Write a sealed record atomically to a new file."""
    path = check_new(path)
    atomic_write_json(path, record)
    return path


def read_forecast(path) -> dict:
    """A forecast record, checked: its schema, its checksum, and a law, target and prediction that
    agree with each other; DataError naming the file and what is wrong."""
    rec = read_json_dict(path)
    if rec.get("schema") != FORECAST:
        raise DataError(f"{path}: not a forecast record (schema {rec.get('schema')!r}, expected {FORECAST!r})")
    if rec.get("checksum") != checksum(rec):
        raise DataError(f"{path}: edited after it was written (checksum differs)")
    law = rec.get("law")
    if law not in registry.LAWS:
        raise DataError(f"{path}: law {law!r} is not a law of this code (laws: {', '.join(registry.LAWS)})")
    pred, at = rec.get("prediction") or {}, (rec.get("target") or {}).get("at")
    if pred.get("law") != law or pred.get("at") != at or set(at or {}) != set(registry.LAWS[law].inputs):
        raise DataError(f"{path}: the prediction's law or target does not match the record's law {law!r}")
    iv, dg = rec.get("interval"), rec.get("diagnosis")
    if not (isinstance(iv, list) and len(iv) == 2 and isinstance(dg, dict) and "scale" in dg):
        raise DataError(f"{path}: no interval or form diagnosis (a forecast record of {FORECAST} holds both)")
    return rec


def _prediction(rec: dict) -> Prediction:
    p = dict(rec["prediction"])
    p["spread_dof"] = float("inf") if p.get("spread_dof") is None else p["spread_dof"]
    return Prediction(**p)


def target_runs(df, rec: dict) -> pd.DataFrame:
    """The target's rows: finished, matching the record's ``where`` and ``match`` filters, and per run the point
    nearest the target in log inputs, kept when every input is within :data:`TOLERANCE` of it."""
    spec = registry.get(rec["law"])
    opts = rec["options"]
    d = finished(df)
    d = d[_matching(d, opts["where"], "--where") & _matching(d, rec["target"]["match"], "--match")]
    if len(d) == 0:
        return d
    xs = registry.values(spec, d, opts["columns"])[:-1]
    at = rec["target"]["at"]
    dist = np.max([np.abs(np.log(v / at[r])) for r, v in zip(spec.inputs, xs)], axis=0)
    d = d.assign(_dist=dist)
    run = opts["run_col"]
    nearest = d.loc[d.groupby(run)["_dist"].idxmin()] if run and run in d.columns else d
    return nearest[nearest["_dist"] <= np.log1p(TOLERANCE)]


def score(forecast_path, source) -> dict:
    """A sealed score record of a checked forecast against the table ``source`` (its target's runs)."""
    rec = read_forecast(forecast_path)
    spec = registry.get(rec["law"])
    opts = rec["options"]
    df = finished(read_table(source))
    missing = [c for c in rec["inputs"]["columns"] if c not in df.columns]
    if missing:
        raise DataError(f"{source}: column {missing[0]!r}, which the forecast was fitted with, is missing")
    train, _ = training_rows(df, opts["where"], rec["target"]["match"])
    if rows_hash(train, rec["inputs"]["columns"]) != rec["inputs"]["hash"]:
        raise DataError(f"{source}: the rows the forecast was fitted to have changed since "
                        f"{rec['created']} (inputs hash differs); score against the same runs")
    runs = target_runs(df, rec)
    if len(runs) == 0:
        at = ", ".join(f"{k}={v:g}" for k, v in rec["target"]["at"].items())
        raise DataError(f"{source}: no finished rows match the target ({at}"
                        + (f"; --match {rec['target']['match']}" if rec["target"]["match"] else "")
                        + f"; within {TOLERANCE:.0%} in every input)")
    p = _prediction(rec)
    y = runs[opts["y"]].to_numpy(float)
    actual = float(y.mean())
    lo, hi = widen_by(p, rec["diagnosis"]["scale"], p.interval(len(y)))
    run = opts["run_col"]
    record = {"schema": SCORE, "forecast": str(forecast_path), "forecast_checksum": rec["checksum"],
              "law": spec.name, "target": rec["target"], "value": p.value, "actual": actual,
              "n_runs": int(len(y)), "runs": sorted(map(str, runs[run])) if run and run in runs.columns else [],
              "error": (p.value - actual) / actual, "interval": [lo, hi], "level": p.level,
              "covered": bool(lo <= actual <= hi),
              "interval_is": f"the {p.level:.0%} prediction interval for the mean of {len(y)} run(s), widened by "
                             f"the forecast's form diagnosis",
              "code": {"version": provenance.code_version(), "git": provenance.git_state()},
              "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return seal(record)


def score_path(forecast_path) -> Path:
    """Where a forecast's score is written: beside it, ``<name>.score.json``."""
    p = Path(forecast_path)
    return p.with_name(p.name[:-5] + ".score.json" if p.name.endswith(".json") else p.name + ".score.json")
