"""`scaling plan forecast`: the runs to launch so that a forecast at a target is tightest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from scaling.cli.compare import plan_app
from scaling.records import jsonable


@plan_app.command("forecast")
def plan_forecast_cmd(
    source: Path = typer.Argument(..., help="Pilot runs: a sweep folder or a CSV (one row per evaluation)."),
    target: str = typer.Option(..., "--target", help="ROLE=VALUE[,ROLE=VALUE]: compute=1e20 (power) or params=1e9,tokens=2e10 (chinchilla)."),
    budget: float = typer.Option(..., "--budget", help="Compute for the new runs (FLOPs): the sum of their compute."),
    law: str = typer.Option("power", "--law", help="Law to forecast with (a name of the law registry)."),
    y: str = typer.Option("eval/loss/caption", "--y", help="Loss column."),
    x: Optional[str] = typer.Option(None, "--x", help="Input column(s), comma-separated, in the law's order."),
    run_col: Optional[str] = typer.Option(None, "--run-col", help="Run column (default run_id/run)."),
    seed_col: Optional[str] = typer.Option(None, "--seed-col", help="Seed column: seeds within configurations."),
    lr_col: Optional[str] = typer.Option(None, "--lr-col", help="Learning-rate column (default optim.lr/lr/opt/lr when present)."),
    level: float = typer.Option(0.9, "--level", help="Prediction interval level."),
    n_boot: int = typer.Option(200, "--bootstrap", help="Resamples per simulated forecast (>= 10)."),
    n_sim: int = typer.Option(2, "--simulations", help="Simulated ladders per candidate design."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the simulations and resamples."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON for programs."),
) -> None:
    """Sizes, token budgets, learning rates and seeds that minimise the forecast's expected interval at TARGET."""
    from scaling.fit import registry
    from scaling.fit.io import read_table
    from scaling.fit.plan_forecast import plan, plan_lines
    from scaling.fit.predict import parse_target
    from scaling.fit.resample import check_resamples

    spec = registry.get(law)
    at = parse_target(target, "--target")
    check_resamples(n_boot)
    if x and len(x.split(",")) != len(spec.inputs):
        from scaling.errors import DataError

        raise DataError(f"--x {x!r}: law {law} takes {len(spec.inputs)} column(s) ({', '.join(spec.inputs)})")
    cols = dict(zip(spec.inputs, x.split(","))) if x else None
    p = plan(read_table(source), law, at, budget, y=y, x=cols, run_col=run_col, seed_col=seed_col, lr_col=lr_col,
             level=level, n_boot=n_boot, n_sim=n_sim, seed=seed)
    typer.echo(json.dumps(jsonable(p), indent=2) if json_out else "\n".join(plan_lines(p)))
