"""`scaling fit` and `scaling bench fit`: estimates with intervals, a table for people, JSON for programs."""

from __future__ import annotations

import json
from typing import List, Optional

import numpy as np
import typer

from scaling.cli import app, bench_app
from scaling.errors import FitError, ScalingError


def _filtered(df, filters):
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


def _delta(text):
    if text is None or str(text).lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise FitError(f"--delta {text!r}: expected a positive number, inf or auto") from None
    if not value > 0:
        raise FitError(f"--delta {text!r}: must be positive (inf: least squares)")
    return value


def run_fit(source, law, x=None, y=None, group=None, n_boot=1000, delta="auto", seed=0, at=None,
            where=None, include_mid=False, check_above=None, seed_col=None):
    """Fit ``law`` to a CSV/sweep dir; returns a JSON-ready dict (no printing).

    Defaults: bootstrap intervals (hierarchical: configurations, then seeds; whole runs when a
    run column exists, else single points, and the output says which); only finished points when
    a ``point`` column exists; what the law is fitted to (every point, the frontier of finished
    points, an isoFLOP sweep's budgets) and its columns come from the law registry
    (:mod:`scaling.fit.registry`). ``seed_col``: seeds within configurations (``config_id``, else
    the run column) are the replicates; the column must hold at least two values.
    """
    from scaling.fit import registry
    from scaling.fit.io import read_table

    spec = registry.get(law)
    if not isinstance(n_boot, int) or n_boot < 10:
        raise FitError(f"--bootstrap {n_boot}: at least 10 resamples are needed")
    delta = _delta(delta)
    df = _filtered(read_table(source), where)
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
    groups, configs = _units_of_rows(df, run_col, seed_col)
    ctx = dict(n_boot=n_boot, delta=delta, seed=seed, at=at, run_col=run_col, seed_col=seed_col,
               groups=groups, configs=configs, include_mid=include_mid, n_mid=n_mid, check_above=check_above)
    return _ESTIMATORS[spec.sample](spec, df, cols, **ctx)


def _units_of_rows(df, run_col, seed_col):
    """(run label per row or None, configuration label per row or None) for the bootstrap.

    Without ``seed_col``: runs from the run column, configurations from ``config_id`` when both
    exist. With it: configurations are ``config_id`` (else the run column) and a run is a
    (configuration, seed) pair."""
    from scaling.fit.io import seed_labels

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


def _fit_points(spec, df, cols, *, n_boot, delta, seed, at, run_col, groups, configs, **_):
    """A law fitted to every (finished) point, with a bootstrap of runs (or points)."""
    from scaling.fit import registry
    from scaling.fit.bootstrap import bootstrap, point_units
    from scaling.fit.estimate import fit_problem

    *xs, yv = registry.values(spec, df, cols)
    if spec.closed_fit is not None:
        fit = registry.fit(spec.name, *xs, y=yv, names=cols)
        fit, _ = bootstrap(None, fit, groups, n_boot=n_boot, seed=seed, configs=configs, data=(*xs, yv))
    else:
        problem = registry.problem(spec.name, *xs, y=yv, names=cols, delta=delta, at=at)
        fit = fit_problem(problem, allow_unconverged=True)
        if fit.converged:
            fit, _ = bootstrap(problem, fit, groups, n_boot=n_boot, seed=seed, configs=configs)
    return {**fit.to_dict(), "resampled": _resampled(point_units(groups, configs, len(df))[0], run_col)}


def _fit_budgets(spec, df, cols, *, n_boot, seed, run_col, groups, configs, **_):
    """Approach 2 (isoFLOP minima per budget), intervals from the hierarchical resample of runs."""
    from scaling.fit.approach2 import approach2

    ccol, ncol, ycol = cols["compute"], cols["params"], cols[spec.output]
    D = df[cols["tokens"]] if "tokens" in cols else None
    res = approach2(df[ccol], df[ncol], df[ycol], D)
    out = {"law": spec.name, "converged": True, "params": {k: res[k] for k in spec.params}, "derived": {},
           "intervals": {}, "n_points": int(len(df)), "n_budgets": int(len(res["budgets"])), "note": res["note"]}
    if groups is None:
        out["note"] += "; no bootstrap (no run column to resample)"
        return out
    return {**out, **_approach2_intervals(df, ccol, ncol, ycol, D, groups, configs, n_boot, seed, run_col)}


def _resampled(units, run_col) -> str:
    if run_col is None:
        return ("single points drawn with replacement (no run column: points are treated as independent, "
                "which they are not along one run's trajectory; name one with --group)")
    return f"{units.describe()} (run column {run_col!r})"


def _fit_frontier(spec, df, cols, *, n_boot, delta, seed, run_col, seed_col, include_mid, n_mid, check_above, **_):
    """The law on the frontier of (finished) points: the estimator of `compare`, one recipe."""
    from scaling.claims.multiplier import MIN_UNITS, envelope, recipe_data
    from scaling.claims.powerfits import recipe_fit
    from scaling.claims.seeds import units_of
    from scaling.fit import resample
    from scaling.fit.bootstrap import percentile_intervals
    from scaling.fit.extrapolate import extrapolation_check

    ccol, ycol = cols["compute"], cols[spec.output]
    d = df.assign(_recipe="all")
    rc = run_col or "_row"
    if run_col is None:
        d = d.assign(_row=np.arange(len(d)))
    rd = recipe_data(d, "all", ccol, ycol, rc, "_recipe", 0.0, include_mid, seed_col=seed_col)
    u = units_of(rd)
    counts = resample.draw(u, n_boot, np.random.default_rng(seed))
    f = recipe_fit(rd, counts, delta)
    fit = f["fit"]
    samples = {k: f[k][f["ok"]] for k in spec.params}
    intervals, se = percentile_intervals(samples)
    fc, fl = envelope(rd)
    kind = "finished" if "point" in df.columns and not include_mid else "all"
    out = {**fit.to_dict(), "intervals": {k: list(v) for k, v in intervals.items()}, "se": se,
           "n_bootstrap": n_boot, "n_bootstrap_failed": f["n_failed"], "delta": f["delta"],
           "n_points": int(fc.size), "fitted_to": f"the frontier (lower envelope) of {kind} "
           f"points: {fc.size} of {sum(c.size for c in rd.compute)}" + (f"; {n_mid} mid-run points left out" if n_mid else ""),
           "resampled": _resampled(u, run_col) + f"; each resample's frontier re-taken (minimum {MIN_UNITS} configurations)"}
    if check_above is not None:
        runs = d[rc].to_numpy()
        chk = extrapolation_check(spec.name, d[ccol].to_numpy(float), d[ycol].to_numpy(float), check_above,
                                  runs=runs, delta=delta)
        out["extrapolation"] = {k: chk[k] for k in ("n_train", "n_test", "mean_abs_rel_error", "max_abs_rel_error")}
        out["extrapolation"]["split"] = f"runs with final compute <= {check_above:g} vs the rest (split by run)"
    return out


#: how ``scaling fit`` estimates a law, by what the registry says it is fitted to
_ESTIMATORS = {"points": _fit_points, "frontier": _fit_frontier, "budgets": _fit_budgets}


def _print_table(res):
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{res['law']} fit ({res.get('n_points', '?')} points)")
    for name in ("quantity", "estimate", "95% low", "95% high"):
        table.add_column(name, justify="right" if name != "quantity" else "left")
    iv = res.get("intervals", {})
    for group in ("params", "derived"):
        for k, v in res.get(group, {}).items():
            lo, hi = iv.get(k, (None, None))
            fmt = lambda z: "" if z is None else f"{z:.6g}"  # noqa: E731
            table.add_row(k, fmt(v), fmt(lo), fmt(hi))
    console = Console()
    console.print(table)
    status = "converged" if res.get("converged") else "NOT CONVERGED"
    extra = ""
    if "n_starts" in res:
        extra = f"; {res['n_starts_converged']}/{res['n_starts']} starts converged"
    if res.get("n_bootstrap"):
        extra += f"; bootstrap {res['n_bootstrap']} resamples, {res['n_bootstrap_failed']} failed"
    console.print(f"{status}{extra}")
    for key in ("fitted_to", "resampled"):
        if res.get(key):
            console.print(f"{key.replace('_', ' ')}: {res[key]}")
    if res.get("delta") is not None:
        console.print(f"Huber delta {res['delta']:.3g} (1.345 x MAD scale of the least-squares residuals)"
                      if res.get("delta_source") else f"Huber delta {res['delta']:.3g}")
    if res.get("extrapolation"):
        e = res["extrapolation"]
        console.print(f"extrapolation check ({e['split']}): {e['n_test']} held-out points, mean |relative error| "
                      f"{e['mean_abs_rel_error']:.3g}, max {e['max_abs_rel_error']:.3g}")
    if res.get("note"):
        console.print(res["note"])


@app.command("fit")
def fit_command(
    source: str = typer.Argument(..., help="CSV file or sweep directory"),
    law: str = typer.Option("chinchilla", "--law", help="a law of scaling.fit.registry: chinchilla|power|approach2|loglinear|sigmoid|coverage"),
    x: Optional[str] = typer.Option(None, "--x", help="x column(s); chinchilla: N,D; approach2: C,N"),
    y: Optional[str] = typer.Option(None, "--y", help="loss or metric column"),
    group: Optional[str] = typer.Option(None, "--group", help="run column (default: run_id or run if present)"),
    seed_col: Optional[str] = typer.Option(None, "--seed-col", help="seed column: resample seeds within configurations (config_id, else the run column); needs >= 2 values"),
    n_boot: int = typer.Option(1000, "--bootstrap", help="bootstrap resamples (>= 10)"),
    delta: str = typer.Option("auto", "--delta", help="Huber delta on log residuals: auto (1.345 x MAD scale), a number, or inf"),
    at: Optional[float] = typer.Option(None, "--at", help="compute for derived quantities"),
    where: Optional[List[str]] = typer.Option(None, "--where", help="COL=VALUE row filter"),
    include_mid: bool = typer.Option(False, "--include-mid", help="use mid-run points too (default: finished only)"),
    check_above: Optional[float] = typer.Option(None, "--check-above", help="power: fit runs ending at or below this compute, predict the rest"),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output (NaN as null)"),
) -> None:
    """Fit a scaling law and print estimates with bootstrap intervals, saying what was resampled."""
    from scaling.records import jsonable

    res = run_fit(source, law, x, y, group, n_boot, delta, seed, at, where, include_mid, check_above, seed_col)
    if as_json:
        typer.echo(json.dumps(jsonable(res)))
    else:
        _print_table(res)
    if not res.get("converged", True):
        raise FitError(f"{law} fit did not converge (objective {res.get('objective')})")


@bench_app.command("fit")
def bench_fit_command(
    data: Optional[str] = typer.Option(None, "--data", help="Epoch svg_extracted_data.csv"),
    n_boot: int = typer.Option(1000, "--bootstrap"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Epoch Chinchilla fit (4,500 starts + bootstrap) batched vs scipy L-BFGS-B looped in Python."""
    from scaling.bench.fit import bench_fit

    res = bench_fit(data, n_boot=n_boot)
    if as_json:
        typer.echo(json.dumps(res, default=float))
        return
    typer.echo(f"batched fit, {res['n_starts']} starts, {res['n_points']} points: "
               f"{res['fit_warm_s']:.2f} s (cpu {res['fit_warm_cpu_s']:.2f} s; first call with "
               f"compilation {res['fit_cold_s']:.2f} s)")
    typer.echo(f"batched bootstrap, {res['n_boot']} resamples: {res['bootstrap_s']:.2f} s "
               f"(cpu {res['bootstrap_cpu_s']:.2f} s), {res['bootstrap_failed']} not converged")
    typer.echo(f"scipy L-BFGS-B loop over the same starts: {res['reference_s']:.2f} s "
               f"(cpu {res['reference_cpu_s']:.2f} s)")
    typer.echo(f"speed-up: {res['ratio']:.1f}x wall, {res['ratio_cpu']:.1f}x cpu "
               f"({res['ratio_with_bootstrap']:.1f}x counting our bootstrap too)")
    typer.echo(f"objective: batched {res['objective']:.12e}, scipy {res['reference_objective']:.12e}, "
               f"relative difference {res['objective_rel_diff']:.1e} "
               f"({'same optimum' if res['same_optimum'] else 'DIFFERENT OPTIMA'})")
    p = res["params"]
    typer.echo("estimate: " + ", ".join(f"{k}={v:.6g}" for k, v in p.items())
               + "; bootstrap se: " + ", ".join(f"{k}={v:.4f}" for k, v in res["se"].items()))


def _approach2_intervals(df, ccol, ncol, ycol, D, groups, configs, n_boot, seed, run_col) -> dict:
    """95% intervals of Approach 2's parameters from the hierarchical resample of runs
    (`scaling.fit.resample`: seeds within each configuration when every one has >= 2)."""
    from scaling.fit import resample
    from scaling.fit.approach2 import approach2

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
