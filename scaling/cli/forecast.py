"""`scaling forecast` (a record written before the target runs exist) and `scaling score` (its
error once they do). The library is `scaling.forecast`; here options and printing."""

from __future__ import annotations

from typing import List, Optional

import typer

from scaling.cli import app


def _describe(rec: dict) -> str:
    p = rec["prediction"]
    at = ", ".join(f"{k}={v:.4g}" for k, v in p["at"].items())
    lo, hi = rec["interval"]
    warning = rec["diagnosis"]["warning"]
    return (f"{rec['law']} at {at}: {p['value']:.5g} ({p['level']:.0%} prediction interval {lo:.5g}-{hi:.5g}; "
            f"before the form diagnosis's widening {p['lo']:.5g}-{p['hi']:.5g}; the law alone "
            f"{p['fit_lo']:.5g}-{p['fit_hi']:.5g}; seed spread {p['spread']:.3g})"
            + (f"\nwarning: {warning}" if warning else ""))


@app.command("forecast")
def forecast_command(
    source: str = typer.Argument(..., help="CSV file or sweep directory with the runs to fit"),
    law: str = typer.Option(..., "--law", help="a law of scaling.fit.registry with a prediction (power, chinchilla, ...)"),
    target: str = typer.Option(..., "--target", help="ROLE=VALUE[,ROLE=VALUE]: compute=3e11, or params=8.7e4,tokens=1.2e6"),
    out: str = typer.Option(..., "--out", help="the forecast record to write (never overwritten)"),
    match: Optional[List[str]] = typer.Option(None, "--match", help="COL=VALUE naming the target's runs (e.g. model.width=48); left out of the fit, used by score; repeatable"),
    where: Optional[List[str]] = typer.Option(None, "--where", help="COL=VALUE filter of the rows to fit; repeatable"),
    x: Optional[str] = typer.Option(None, "--x", help="input column(s), in the law's order (chinchilla: N,D)"),
    y: Optional[str] = typer.Option(None, "--y", help="loss or metric column"),
    group: Optional[str] = typer.Option(None, "--group", help="run column (default run_id or run)"),
    seed_col: Optional[str] = typer.Option(None, "--seed-col", help="seed column: resample seeds within configurations"),
    level: float = typer.Option(0.9, "--level", help="level of the prediction interval"),
    n_boot: int = typer.Option(1000, "--bootstrap", help="bootstrap resamples (>= 10)"),
    seed: int = typer.Option(0, "--seed", help="seed of the resampling (>= 0)"),
    delta: str = typer.Option("auto", "--delta", help="Huber delta on log residuals: auto, a number, or inf"),
    as_json: bool = typer.Option(False, "--json", help="print the record as JSON"),
) -> None:
    """Fit a law and write a forecast record (value, prediction interval, inputs' hash, code version, checksum)."""
    from scaling import forecast as fc
    from scaling.errors import DataError
    from scaling.fit import registry
    from scaling.fit.predict import parse_target
    from scaling.fit.table import huber_delta

    spec = registry.get(law)
    at = parse_target(target, "--target")
    fc.check_new(out)
    if x and len(x.split(",")) != len(spec.inputs):
        raise DataError(f"--x {x!r}: law {law} takes {len(spec.inputs)} column(s) ({', '.join(spec.inputs)})")
    xs = dict(zip(spec.inputs, x.split(","))) if x else None
    rec = fc.make_forecast(source, law, at, y=y, x=xs, run_col=group, seed_col=seed_col,
                           where=fc.parse_filters(where, "--where"), match=fc.parse_filters(match, "--match"),
                           level=level, n_boot=n_boot, seed=seed, delta=huber_delta(delta))
    path = fc.write_record(out, rec)
    if as_json:
        import json

        typer.echo(json.dumps(rec))
        return
    typer.echo(_describe(rec))
    seen = rec["inputs"]["target_rows_seen"]
    typer.echo(f"fitted to {rec['inputs']['rows']} finished rows of {source} ({rec['prediction']['resampled']})"
               + (f"; {seen} rows of the target already present were left out" if seen else ""))
    typer.echo(f"written {path} (checksum {rec['checksum'][:12]}); score it with: scaling score {path} SOURCE")


@app.command("score")
def score_command(
    forecast: str = typer.Argument(..., help="a forecast record written by `scaling forecast`"),
    source: str = typer.Argument(..., help="CSV file or sweep directory holding the target's runs"),
    out: Optional[str] = typer.Option(None, "--out", help="score record to write (default: <forecast>.score.json beside it)"),
    as_json: bool = typer.Option(False, "--json", help="print the score record as JSON"),
) -> None:
    """Score a forecast against the target's runs: error, and whether the interval covered it."""
    from scaling import forecast as fc

    path = fc.check_new(out or fc.score_path(forecast))
    rec = fc.score(forecast, source)
    fc.write_record(path, rec)
    if as_json:
        import json

        typer.echo(json.dumps(rec))
        return
    lo, hi = rec["interval"]
    typer.echo(f"{rec['law']}: forecast {rec['value']:.5g}, actual {rec['actual']:.5g} (mean of {rec['n_runs']} run(s)); "
               f"error {rec['error']:+.2%}; {'inside' if rec['covered'] else 'OUTSIDE'} {rec['interval_is']} "
               f"({lo:.5g}-{hi:.5g})")
    typer.echo(f"written {path}")
