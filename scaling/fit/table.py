"""`scaling fit`'s engine on a table (CSV or sweep folder): rows chosen, resampled units named, a
law estimated with intervals, the result formatted for people (a table) and programs (JSON).

What a law is fitted to comes from the law registry (`Law.sample`): every point and an isoFLOP
sweep's budgets are estimated here; the frontier of finished points needs the claims' recipe data
(configurations and seeds), so its estimator sits above both (`scaling.report.lawfit`, which
passes it in `estimators`). No printing here.
"""

from __future__ import annotations

import json
from typing import Callable

import numpy as np

from scaling.errors import FitError, ScalingError
from scaling.fit import registry, resample
from scaling.fit.approach2 import approach2
from scaling.fit.bootstrap import bootstrap, point_units
from scaling.fit.estimate import fit_problem
from scaling.fit.io import read_table, seed_labels
from scaling.records import jsonable


def filtered(df, filters):
    """Rows where every COL=VALUE of `filters` holds (FitError for a malformed filter or no rows)."""
    for item in filters or []:
        if "=" not in item:
            raise FitError(f"--where expects COL=VALUE, got {item!r}")
        col, val = item.split("=", 1)
        if col not in df.columns:
            raise FitError(f"missing column {col!r} in --where")
        df = df[df[col].astype(str) == val]
    if len(df) == 0:
        raise FitError("no rows left after --where")
    return df


def huber_delta(text):
    """"auto", or a positive number (inf: least squares) from `--delta`'s text."""
    if text is None or str(text).lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise FitError(f"--delta {text!r}: expected a positive number, inf or auto") from None
    if not value > 0:
        raise FitError(f"--delta {text!r}: must be positive (inf: least squares)")
    return value


def fit_table(source, law, x=None, y=None, group=None, n_boot=1000, delta="auto", seed=0, at=None,
              where=None, include_mid=False, check_above=None, seed_col=None,
              estimators: dict[str, Callable] | None = None) -> dict:
    """Fit ``law`` to a CSV/sweep dir; returns a JSON-ready dict (no printing).

    Defaults: bootstrap intervals (hierarchical: configurations, then seeds; whole runs when a
    run column exists, else single points, and the output says which); only finished points when
    a ``point`` column exists; what the law is fitted to (every point, the frontier of finished
    points, an isoFLOP sweep's budgets) and its columns come from the law registry
    (:mod:`scaling.fit.registry`). ``seed_col``: seeds within configurations (``config_id``, else
    the run column) are the replicates; the column must hold at least two values.
    ``estimators``: {Law.sample: estimator}, default :data:`ESTIMATORS`.
    """
    estimators = ESTIMATORS if estimators is None else estimators
    spec = registry.get(law)
    if not isinstance(n_boot, int) or n_boot < 10:
        raise FitError(f"--bootstrap {n_boot}: at least 10 resamples are needed")
    delta = huber_delta(delta)
    df = filtered(read_table(source), where)
    n_mid = 0
    if "point" in df.columns and not include_mid:
        mid = df["point"].astype(str) == "mid"
        n_mid = int(mid.sum())
        df = df[~mid]
    cols = registry.columns(spec, df, x.split(",") if x else [], y)
    run_col = group if group is not None else next(
        (c for c in ("run_id", "run") if c in df.columns), None)
    if run_col is not None and run_col not in df.columns:
        raise FitError(f"--group {run_col!r}: no such column")
    groups, configs = units_of_rows(df, run_col, seed_col)
    if spec.sample not in estimators:
        raise FitError(f"{law}: fitted to the {spec.sample}; its estimator is in scaling.report.lawfit.run_fit")
    ctx = dict(n_boot=n_boot, delta=delta, seed=seed, at=at, run_col=run_col, seed_col=seed_col,
               groups=groups, configs=configs, include_mid=include_mid, n_mid=n_mid, check_above=check_above)
    return estimators[spec.sample](spec, df, cols, **ctx)


def units_of_rows(df, run_col, seed_col):
    """(run label per row or None, configuration label per row or None) for the bootstrap.

    Without ``seed_col``: runs from the run column, configurations from ``config_id`` when both
    exist. With it: configurations are ``config_id`` (else the run column) and a run is a
    (configuration, seed) pair."""
    if seed_col is None:
        groups = df[run_col].to_numpy() if run_col else None
        configs = df["config_id"].to_numpy() if "config_id" in df.columns and run_col else None
        return groups, configs
    seeds = seed_labels(df, seed_col)
    cfg_col = "config_id" if "config_id" in df.columns else run_col
    if cfg_col is None:
        raise FitError(f"--seed-col {seed_col!r}: no config_id or run column says which rows are one configuration")
    configs = df[cfg_col].astype(str).to_numpy()
    return np.char.add(np.char.add(configs.astype(str), "|seed="), seeds.astype(str)), configs


def fit_points(spec, df, cols, *, n_boot, delta, seed, at, run_col, groups, configs, **_):
    """A law fitted to every (finished) point, with a bootstrap of runs (or points)."""
    *xs, yv = registry.values(spec, df, cols)
    if spec.closed_fit is not None:
        fit = registry.fit(spec.name, *xs, y=yv, names=cols)
        fit, _ = bootstrap(None, fit, groups, n_boot=n_boot, seed=seed, configs=configs, data=(*xs, yv))
    else:
        problem = registry.problem(spec.name, *xs, y=yv, names=cols, delta=delta, at=at)
        fit = fit_problem(problem, allow_unconverged=True)
        if fit.converged:
            fit, _ = bootstrap(problem, fit, groups, n_boot=n_boot, seed=seed, configs=configs)
    return {**fit.to_dict(), "resampled": resampled(point_units(groups, configs, len(df))[0], run_col)}


def fit_budgets(spec, df, cols, *, n_boot, seed, run_col, groups, configs, **_):
    """Approach 2 (isoFLOP minima per budget), intervals from the hierarchical resample of runs."""
    ccol, ncol, ycol = cols["compute"], cols["params"], cols[spec.output]
    D = df[cols["tokens"]] if "tokens" in cols else None
    res = approach2(df[ccol], df[ncol], df[ycol], D)
    out = {"law": spec.name, "converged": True, "params": {k: res[k] for k in spec.params}, "derived": {},
           "intervals": {}, "n_points": int(len(df)), "n_budgets": int(len(res["budgets"])), "note": res["note"]}
    if groups is None:
        out["note"] += "; no bootstrap (no run column to resample)"
        return out
    return {**out, **approach2_intervals(df, ccol, ncol, ycol, D, groups, configs, n_boot, seed, run_col)}


def resampled(units, run_col) -> str:
    """What the bootstrap drew, in words."""
    if run_col is None:
        return ("single points drawn with replacement (no run column: points are treated as independent, "
                "which they are not along one run's trajectory; name one with --group)")
    return f"{units.describe()} (run column {run_col!r})"


def approach2_intervals(df, ccol, ncol, ycol, D, groups, configs, n_boot, seed, run_col) -> dict:
    """95% intervals of Approach 2's parameters from the hierarchical resample of runs
    (`scaling.fit.resample`: seeds within each configuration when every one has >= 2)."""
    runs = np.asarray(groups).astype(str)
    names, first = np.unique(runs, return_index=True)
    labels = np.asarray(configs).astype(str)[first] if configs is not None else names
    u = resample.units(labels)
    counts = resample.draw(u, n_boot, np.random.default_rng(seed))
    rows = [np.flatnonzero(runs == r) for r in names]
    cols = [df[c].to_numpy(float) for c in (ccol, ncol, ycol)] + ([np.asarray(D, float)] if D is not None else [])
    draws, ok = [], []
    for c in counts:
        idx = np.concatenate([np.repeat(rows[i], int(k)) for i, k in enumerate(c) if k] or [np.zeros(0, int)])
        try:
            r = approach2(*(v[idx] for v in cols))
            draws.append([r["a"], r["n0"], r["b"], r["d0"]])
            ok.append(True)
        except ScalingError:
            ok.append(False)
    failed = resample.check_failures(np.array(ok), "Approach 2")
    lo, hi = resample.interval(np.array(draws))
    keys = ("a", "n0", "b", "d0")
    return {"intervals": {k: [float(lo[i]), float(hi[i])] for i, k in enumerate(keys)},
            "resampled": f"{u.describe()} (run column {run_col!r}); {n_boot} resamples, {failed} failed"}


#: how a law is estimated, by what the registry says it is fitted to (the frontier: scaling.report.lawfit)
ESTIMATORS = {"points": fit_points, "budgets": fit_budgets}


def as_json(res: dict) -> str:
    """The result as one line of JSON (NaN as null)."""
    return json.dumps(jsonable(res))


def table_parts(res: dict) -> list:
    """The result for people: a rich Table, then lines of text (the CLI prints each in turn)."""
    from rich.table import Table  # rich only where a table is drawn

    table = Table(title=f"{res['law']} fit ({res.get('n_points', '?')} points)")
    for name in ("quantity", "estimate", "95% low", "95% high"):
        table.add_column(name, justify="right" if name != "quantity" else "left")
    iv = res.get("intervals", {})
    for group in ("params", "derived"):
        for k, v in res.get(group, {}).items():
            lo, hi = iv.get(k, (None, None))
            fmt = lambda z: "" if z is None else f"{z:.6g}"  # noqa: E731
            table.add_row(k, fmt(v), fmt(lo), fmt(hi))
    parts = [table]
    status = "converged" if res.get("converged") else "NOT CONVERGED"
    extra = ""
    if "n_starts" in res:
        extra = f"; {res['n_starts_converged']}/{res['n_starts']} starts converged"
    if res.get("n_bootstrap"):
        extra += f"; bootstrap {res['n_bootstrap']} resamples, {res['n_bootstrap_failed']} failed"
    parts.append(f"{status}{extra}")
    for key in ("fitted_to", "resampled"):
        if res.get(key):
            parts.append(f"{key.replace('_', ' ')}: {res[key]}")
    if res.get("delta") is not None:
        parts.append(f"Huber delta {res['delta']:.3g} (1.345 x MAD scale of the least-squares residuals)"
                     if res.get("delta_source") else f"Huber delta {res['delta']:.3g}")
    if res.get("extrapolation"):
        e = res["extrapolation"]
        parts.append(f"held-out check ({e['split']}; compared at {e['compared_at']}): {len(e['targets'])} targets of "
                     f"{e['n_test_runs']} held-out runs, mean error {e['mean_error']:+.2%}, max |error| "
                     f"{e['max_abs_rel_error']:.2%}, {e['covered']:.0%} inside their {e['level']:.0%} prediction intervals")
    for p in res.get("predictions", []):
        at = ", ".join(f"{k}={v:.4g}" for k, v in p["at"].items())
        parts.append(f"prediction at {at}: {p['value']:.5g} ({p['level']:.0%} prediction interval {p['lo']:.5g}-"
                     f"{p['hi']:.5g}; the law alone {p['fit_lo']:.5g}-{p['fit_hi']:.5g}; seed spread {p['spread']:.3g})")
    if res.get("note"):
        parts.append(res["note"])
    return parts
