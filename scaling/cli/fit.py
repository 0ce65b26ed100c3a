"""`scaling fit` and `scaling bench fit`: estimates with intervals, a table for people, JSON for programs."""

from __future__ import annotations

import json
from typing import List, Optional

import numpy as np
import typer

from scaling.cli import app, bench_app
from scaling.errors import FitError

LAWS = ("chinchilla", "power", "approach2", "loglinear", "sigmoid", "coverage")


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


def run_fit(source, law, x=None, y=None, group=None, n_boot=0, delta=1e-3, seed=0, at=None,
            where=None):
    """Fit ``law`` to a CSV/sweep dir; returns a JSON-ready dict (no printing)."""
    from scaling.fit import fits
    from scaling.fit.approach2 import approach2
    from scaling.fit.bootstrap import bootstrap
    from scaling.fit.io import read_table, resolve_column

    if law not in LAWS:
        raise FitError(f"unknown law {law!r}; choose one of {', '.join(LAWS)}")
    df = _filtered(read_table(source), where)
    xs = x.split(",") if x else []
    col = lambda role, i=0: resolve_column(df, role, xs[i] if len(xs) > i else None)  # noqa: E731
    groups = df[resolve_column(df, "group", group)].to_numpy() if group else None
    if law == "chinchilla":
        ncol = col("params", 0)
        ycol = resolve_column(df, "loss", y)
        N = df[ncol].to_numpy(float)
        if len(xs) > 1 or any(c in df.columns for c in ("tokens/total", "D", "tokens")):
            dcol = col("tokens", 1)
            D = df[dcol].to_numpy(float)
        else:
            ccol = resolve_column(df, "compute")
            D = df[ccol].to_numpy(float) / (6 * N)
            dcol = f"{ccol}/(6·{ncol})"
        problem = fits.chinchilla_problem(N, D, df[ycol], delta=delta, at=at,
                                          names={"N": ncol, "D": dcol, "L": ycol})
    elif law == "power":
        ccol, ycol = col("compute"), resolve_column(df, "loss", y)
        problem = fits.power_problem(df[ccol], df[ycol], delta=delta, at=at,
                                     names={"C": ccol, "L": ycol})
    elif law == "sigmoid":
        ccol, ycol = col("compute"), resolve_column(df, "metric", y)
        problem = fits.sigmoid_problem(df[ccol], df[ycol], names={"C": ccol, "P": ycol})
    elif law == "coverage":
        kcol, ycol = col("k"), resolve_column(df, "coverage", y)
        problem = fits.coverage_problem(df[kcol], df[ycol], names={"k": kcol, "c": ycol})
    elif law == "loglinear":
        ccol, ycol = col("compute"), resolve_column(df, "metric", y)
        fit = fits.fit_loglinear(df[ccol], df[ycol], names={"C": ccol, "P": ycol})
        if n_boot:
            fit, _ = bootstrap(None, fit, groups, n_boot=n_boot, seed=seed,
                               loglinear_data=(df[ccol].to_numpy(float), df[ycol].to_numpy(float)))
        return fit.to_dict()
    else:  # approach2
        if n_boot:
            raise FitError("--bootstrap is not available for approach2 (a diagnostic)")
        ccol, ncol = col("compute", 0), col("params", 1)
        ycol = resolve_column(df, "loss", y)
        res = approach2(df[ccol], df[ncol], df[ycol])
        return {"law": "approach2", "converged": True,
                "params": {k: res[k] for k in ("a", "n0", "b", "d0")}, "derived": {},
                "intervals": {}, "n_points": int(len(df)), "n_budgets": int(len(res["budgets"])),
                "note": res["note"]}
    fit = fits.fit_problem(problem, allow_unconverged=True)
    if fit.converged and n_boot:
        fit, _ = bootstrap(problem, fit, groups, n_boot=n_boot, seed=seed)
    return fit.to_dict()


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
        extra += f"; bootstrap {res['n_bootstrap']} resamples over runs, {res['n_bootstrap_failed']} failed"
    console.print(f"{status}{extra}")
    if res.get("note"):
        console.print(res["note"])


@app.command("fit")
def fit_command(
    source: str = typer.Argument(..., help="CSV file or sweep directory"),
    law: str = typer.Option("chinchilla", "--law", help="|".join(LAWS)),
    x: Optional[str] = typer.Option(None, "--x", help="x column(s); chinchilla: N,D; approach2: C,N"),
    y: Optional[str] = typer.Option(None, "--y", help="loss or metric column"),
    group: Optional[str] = typer.Option(None, "--group", help="run column: bootstrap resamples whole runs"),
    n_boot: int = typer.Option(0, "--bootstrap", help="bootstrap resamples (0: none)"),
    delta: float = typer.Option(1e-3, "--delta", help="Huber delta on log residuals"),
    at: Optional[float] = typer.Option(None, "--at", help="compute for derived quantities"),
    where: Optional[List[str]] = typer.Option(None, "--where", help="COL=VALUE row filter"),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Fit a scaling law and print estimates with bootstrap intervals."""
    res = run_fit(source, law, x, y, group, n_boot, delta, seed, at, where)
    if as_json:
        typer.echo(json.dumps(res, default=float))
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
    from scaling.fit.bench import bench_fit

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
