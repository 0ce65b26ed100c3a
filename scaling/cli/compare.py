"""`scaling compare` (compute multiplier between two recipes) and `scaling claim loglinear`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import List, Optional

import typer

from scaling.cli import app
from scaling.records import jsonable

claim_app = typer.Typer(no_args_is_help=True, help="Verdicts on stated claims about curves.")
app.add_typer(claim_app, name="claim")


def _fmt(v: float) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.3g}"


def multiplier_lines(r: dict) -> list[str]:
    """Human lines for a `claims.compare` result (also used by the report)."""
    lines = [f"{r['candidate']} vs {r['baseline']} on {r['y']} (compute {r['x']}; runs "
             f"{r['runs'][r['candidate']]} and {r['runs'][r['baseline']]}; {r['n_boot']} bootstrap "
             f"resamples of whole runs; power-law exponents fitted separately)",
             f"{'target loss':>12}  {'frontier gap (95% CI)':>26}  {'power-law fits (95% CI)':>26}"]
    for row in r["targets"]:
        cells = []
        for name in ("nonparametric", "parametric"):
            e = row[name]
            cell = f"{_fmt(e['value'])}x ({_fmt(e['lo'])}-{_fmt(e['hi'])})"
            if e.get("defined_frac", 1.0) < 0.95:
                cell += "*"
            cells.append(cell)
        tag = "  extrapolated" if row["extrapolated"] else ""
        lines.append(f"{row['loss']:>12.4f}  {cells[0]:>26}  {cells[1]:>26}{tag}")
    lines.append("* fewer than 95% of resamples reached this loss; the interval is not reliable")
    if r.get("claim") is not None:
        v = r["verdict"]
        lines.append(f"claim: {r['candidate']} needs {r['claim']:g}x less compute than {r['baseline']} "
                     f"-> {v['verdict'].upper()} at loss {v['loss']:.4f} (frontier gap: {v['nonparametric']}, "
                     f"power-law fits: {v['parametric']})")
    return lines


@app.command("compare")
def compare_cmd(
    source: Path = typer.Argument(..., help="A sweep folder or a CSV (one row per evaluation)."),
    baseline: str = typer.Option(..., "--baseline", help="Recipe to compare against."),
    candidate: str = typer.Option(..., "--candidate", help="Recipe whose compute saving is measured."),
    at_loss: List[float] = typer.Option([], "--at-loss", help="Target loss (repeatable); default: 8 across the common range."),
    claim: Optional[str] = typer.Option(None, "--claim", help="Stated multiplier, e.g. 10x, 10 or 0.1x."),
    x: str = typer.Option("compute/flops", "--x", help="Compute column."),
    y: str = typer.Option("eval/loss/caption", "--y", help="Loss column."),
    run_col: str = typer.Option("run_id", "--run-col", help="Run column (whole runs are resampled)."),
    recipe_col: str = typer.Option("recipe", "--recipe-col", help="Recipe column."),
    n_boot: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples."),
    trim: float = typer.Option(0.1, "--trim", help="Drop each run's points below this fraction of its final compute."),
    extrapolate: bool = typer.Option(False, "--extrapolate", help="Allow targets outside the common loss range."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON for programs."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write the multiplier-versus-loss plot (PNG)."),
) -> None:
    """Compute multiplier of CANDIDATE over BASELINE at equal loss, with 95% intervals and a verdict."""
    from scaling import plots
    from scaling.claims import compare, parse_claim
    from scaling.errors import DataError
    from scaling.fit.io import read_table

    claim_value = parse_claim(claim) if claim is not None else None
    if n_boot < 10:
        raise DataError(f"--bootstrap {n_boot}: at least 10 resamples are needed")
    df = read_table(source)
    r = compare(df, baseline, candidate, x=x, y=y, targets=at_loss, claim=claim_value, n_boot=n_boot,
                extrapolate=extrapolate, trim=trim, run_col=run_col, recipe_col=recipe_col)
    if plot is not None:
        plots.save(plots.multiplier(multiplier_curves(r), claim=claim_value,
                                    title=f"{candidate} vs {baseline}"), plot)
    if json_out:
        slim = {k: v for k, v in r.items() if k not in ("points",)}
        for f in slim["fits"].values():
            f.pop("draws", None)
        typer.echo(json.dumps(jsonable(slim), indent=2))
    else:
        typer.echo("\n".join(multiplier_lines(r)))


def multiplier_curves(r: dict) -> dict:
    rows = r["targets"]
    out = {}
    for name, label in (("nonparametric", "frontier gap"), ("parametric", "power-law fits")):
        out[label] = {"loss": [t["loss"] for t in rows], "value": [t[name]["value"] for t in rows],
                      "lo": [t[name]["lo"] for t in rows], "hi": [t[name]["hi"] for t in rows],
                      "extrapolated": [t["extrapolated"] for t in rows]}
    return out


@claim_app.command("loglinear")
def loglinear_cmd(
    source: Path = typer.Argument(..., help="A CSV (or sweep folder) with compute and metric columns."),
    x: str = typer.Option(..., "--x", help="Compute column (e.g. RL FLOPs or GPU-hours)."),
    y: List[str] = typer.Option(..., "--y", help="Metric column (repeatable), e.g. pass@1 and pass@16."),
    group: Optional[str] = typer.Option(None, "--group", help="Analyse each value of this column separately."),
    split_col: Optional[str] = typer.Option(None, "--split-col", help="Column whose value 'heldout' marks held-out points."),
    holdout: float = typer.Option(1 / 3, "--holdout", help="Without --split-col: held-out fraction of the log-compute range."),
    run_col: Optional[str] = typer.Option(None, "--run-col", help="Resample whole runs (needs >= 3 runs)."),
    n_boot: int = typer.Option(1000, "--bootstrap"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Slope per decade, curvature, held-out log-linear vs sigmoid, and a verdict per metric."""
    from scaling.claims import loglinear_claim
    from scaling.fit.io import read_table

    r = loglinear_claim(read_table(source), x, list(y), group=group, split_col=split_col, holdout=holdout,
                        run_col=run_col, n_boot=n_boot)
    if json_out:
        typer.echo(json.dumps(jsonable(r), indent=2))
        return
    typer.echo("\n".join(loglinear_lines(r)))


def loglinear_lines(r: dict) -> list[str]:
    lines = [f"log-linear claim against {r['x']}:"]
    for name, m in r["metrics"].items():
        s, c = m["slope_interval"], m["curvature_interval"]
        h = m["heldout_rmse"]
        lines.append(
            f"{name}: slope {m['slope_per_decade']:+.4f}/decade ({s[0]:+.4f} to {s[1]:+.4f}); curvature "
            f"{m['curvature']:+.4f} ({c[0]:+.4f} to {c[1]:+.4f}); held-out RMSE log-linear {h['loglinear']:.4f} "
            f"vs sigmoid {h['sigmoid']:.4f} (held-out mean residual {m['heldout_mean_residual']:+.4f}, "
            f"z={m['heldout_z']:+.1f}); sigmoid ceiling "
            f"{m['sigmoid']['A']:.3f}, 90% of its rise at {_fmt(m['compute_at_90pct'])} -> log-linear "
            f"{m['verdict'].upper()}")
    return lines
