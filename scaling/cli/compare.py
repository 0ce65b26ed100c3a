"""`scaling compare` (compute multiplier between two recipes) and `scaling plan power`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from scaling.cli import app
from scaling.records import jsonable

plan_app = typer.Typer(no_args_is_help=True, help="Plan an experiment from pilot runs.")
app.add_typer(plan_app, name="plan")


def _plot_path(plot: Path) -> Path:
    """--plot must name a .png in a writable folder (checked before any work)."""
    import os

    from scaling.errors import DataError

    if plot.is_dir():
        raise DataError(f"--plot {plot}: is a directory; name a .png file")
    if plot.suffix.lower() != ".png":
        raise DataError(f"--plot {plot}: the plot is a PNG; name a file ending in .png")
    folder = plot.parent if str(plot.parent) else Path(".")
    if folder.exists() and not os.access(folder, os.W_OK):
        raise DataError(f"--plot {plot}: folder {folder} is not writable")
    return plot


@app.command("compare")
def compare_cmd(
    source: Path = typer.Argument(..., help="A sweep folder or a CSV (one row per evaluation)."),
    baseline: str = typer.Option(..., "--baseline", help="Recipe to compare against."),
    candidate: str = typer.Option(..., "--candidate", help="Recipe whose compute saving is measured."),
    at_loss: List[float] = typer.Option([], "--at-loss", help="Headline target loss (repeatable; several are Bonferroni-corrected)."),
    at_compute: List[float] = typer.Option([], "--at-compute", help="Headline at the loss the baseline reaches at this compute (FLOPs; repeatable)."),
    claim: Optional[str] = typer.Option(None, "--claim", help="Stated multiplier, e.g. 10x, 10 or 0.1x."),
    margin: Optional[str] = typer.Option(None, "--margin", help="Equivalence margin, e.g. 10%: 'within 10% of the claim' is its own verdict."),
    x: str = typer.Option("compute/flops", "--x", help="Compute column."),
    y: str = typer.Option("eval/loss/caption", "--y", help="Loss column."),
    run_col: str = typer.Option("run_id", "--run-col", help="Run column (whole runs are resampled)."),
    recipe_col: str = typer.Option("recipe", "--recipe-col", help="Recipe column."),
    seed_col: Optional[str] = typer.Option(None, "--seed-col", help="Seed column: seeds within configurations (config_id, else the run column) are the replicates; needs >= 2 values per recipe."),
    n_boot: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples (>= 10)."),
    trim: float = typer.Option(0.1, "--trim", help="Drop each run's points below this fraction of its final compute, in [0, 1)."),
    extrapolate: bool = typer.Option(False, "--extrapolate", help="Allow targets outside the common loss range."),
    include_mid: bool = typer.Option(False, "--include-mid", help="Use mid-run points too (default: finished points only)."),
    power: bool = typer.Option(False, "--power", help="Also plan: seeds needed to resolve the claim (see `scaling fit` README)."),
    drop_duplicates: bool = typer.Option(False, "--drop-duplicates", help="Drop rows that repeat another row entirely (counted); a key twice with other values stays an error."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON for programs."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write the multiplier-versus-loss plot (PNG)."),
) -> None:
    """Compute multiplier of CANDIDATE over BASELINE at equal loss, with intervals, the stated test and a verdict."""
    from scaling import plots
    from scaling.claims import compare
    from scaling.claims.text import multiplier_curves, multiplier_lines
    from scaling.errors import DataError

    o = _options(baseline=baseline, candidate=candidate, claim=claim, margin=margin, at_loss=at_loss,
                 at_compute=at_compute, x=x, y=y, run_col=run_col, recipe_col=recipe_col, seed_col=seed_col,
                 n_boot=n_boot, trim=trim, extrapolate=extrapolate, include_mid=include_mid,
                 drop_duplicates=drop_duplicates)
    claim_value = o["claim"]
    if o["margin"] is not None and claim_value is None:
        raise DataError("--margin: needs a --claim to be within a margin of")
    if plot is not None:
        plot = _plot_path(plot)
    df, dropped = _table(source, o)
    r = compare(df, baseline, candidate, x=x, y=y, targets=o["at_loss"], at_compute=o["at_compute"],
                claim=claim_value, margin=o["margin"], n_boot=n_boot, extrapolate=extrapolate, trim=trim,
                run_col=run_col, recipe_col=recipe_col, include_mid=include_mid, seed_col=seed_col)
    r["rows_dropped"] = dropped
    if power:
        from scaling.claims.plan import plan_from_compare

        r["power"] = plan_from_compare(r, df, claim_value, run_col=run_col, recipe_col=recipe_col)
    if plot is not None:
        plots.save(plots.multiplier(multiplier_curves(r), claim=claim_value,
                                    title=f"{candidate} vs {baseline}"), plot)
    if json_out:
        slim = {k: v for k, v in r.items() if k not in ("points", "mid_points")}
        for f in slim["fits"].values():
            f.pop("draws", None)
        typer.echo(json.dumps(jsonable(slim), indent=2))
    else:
        lines = multiplier_lines(r)
        if power:
            from scaling.claims.plan import plan_lines

            lines += plan_lines(r["power"])
        typer.echo("\n".join(lines + _dropped(dropped)))


@plan_app.command("power")
def plan_power_cmd(
    source: Path = typer.Argument(..., help="Pilot runs: a sweep folder or a CSV (one row per evaluation)."),
    baseline: str = typer.Option(..., "--baseline"),
    candidate: str = typer.Option(..., "--candidate"),
    claim: Optional[str] = typer.Option(None, "--claim", help="Stated multiplier, e.g. 2x."),
    x: str = typer.Option("compute/flops", "--x"),
    y: str = typer.Option("eval/loss/caption", "--y"),
    run_col: str = typer.Option("run_id", "--run-col"),
    recipe_col: str = typer.Option("recipe", "--recipe-col"),
    trim: float = typer.Option(0.1, "--trim"),
    drop_duplicates: bool = typer.Option(False, "--drop-duplicates", help="Drop rows that repeat another row entirely (counted)."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Seeds per configuration and expected interval width for a claim, from pilots too small for an interval."""
    from scaling.claims.plan import plan_from_pilot, plan_lines

    o = _options(baseline=baseline, candidate=candidate, claim=claim, x=x, y=y, run_col=run_col,
                 recipe_col=recipe_col, trim=trim, drop_duplicates=drop_duplicates)
    df, dropped = _table(source, o, resamples=False)
    p = plan_from_pilot(df, baseline, candidate, o["claim"], x=x, y=y, run_col=run_col, recipe_col=recipe_col,
                        trim=trim)
    p["rows_dropped"] = dropped
    typer.echo(json.dumps(jsonable(p), indent=2) if json_out else "\n".join(plan_lines(p) + _dropped(dropped)))


def _options(**given) -> dict:
    """The options, checked as the multiplier claim's (`scaling claim multiplier`) before anything is read."""
    from scaling.claims import registry

    return registry.get("multiplier").resolve(**given)


def _table(source: Path, o: dict, resamples: bool = True):
    """(table, rows dropped): read and checked as the multiplier claim's table (columns, ids, one
    study, keys, domains); the resamples must fit in memory."""
    from scaling.claims import registry
    from scaling.fit.io import read_table

    row = registry.get("multiplier")
    df, dropped = row.check_table(read_table(source), o, str(source))
    if resamples:
        row.check_memory(o, len(df))
    return df, dropped


def _dropped(n: int) -> list[str]:
    return [f"{n} row(s) that repeated another row entirely were dropped (--drop-duplicates)"] if n else []
