"""`scaling fit` and `scaling bench fit`: estimates with intervals, a table for people, JSON for programs.

The engine is `scaling.report.lawfit.run_fit` (on `scaling.fit.table`); here options and printing."""

from __future__ import annotations

import json
from typing import List, Optional

import typer

from scaling.cli import app, bench_app
from scaling.errors import FitError


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
    check_above: Optional[float] = typer.Option(None, "--check-above", help="held-out check: fit the runs whose final compute is at or below this, predict the rest (every law with a prediction)"),
    predict_at: Optional[List[str]] = typer.Option(None, "--predict-at", help="predict at ROLE=VALUE[,ROLE=VALUE] (compute=3e11; params=8.7e4,tokens=1.2e6), with a prediction interval; repeatable"),
    level: float = typer.Option(0.9, "--level", help="level of --predict-at's and --check-above's prediction intervals"),
    seed: int = typer.Option(0, "--seed", help="seed of the resampling (>= 0)"),
    drop_duplicates: bool = typer.Option(False, "--drop-duplicates", help="drop rows that repeat another row entirely (counted); a key twice with other values stays an error"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output (NaN as null)"),
) -> None:
    """Fit a scaling law and print estimates with bootstrap intervals, saying what was resampled."""
    from scaling.fit import table
    from scaling.fit.predict import parse_target
    from scaling.report.lawfit import run_fit

    targets = [parse_target(t) for t in predict_at or []]
    res = run_fit(source, law, x, y, group, n_boot, delta, seed, at, where, include_mid, check_above, seed_col,
                  drop_duplicates, predict_at=targets, level=level)
    if as_json:
        typer.echo(table.as_json(res))
    else:
        from rich.console import Console

        console = Console()
        for part in table.table_parts(res):
            console.print(part)
        if res.get("rows_dropped"):
            console.print(f"{res['rows_dropped']} row(s) that repeated another row entirely were dropped "
                          f"(--drop-duplicates)")
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
