"""`scaling report SWEEP.yaml`: sweep -> fit -> compare -> plots and a markdown summary."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from scaling.cli import app


@app.command("report")
def report_cmd(
    sweep_file: Path = typer.Argument(..., help="Sweep file (YAML); its `report:` section says what to compare."),
    runs: Optional[Path] = typer.Option(None, "--runs", help="Sweep folder (default runs/<file stem>)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Report folder (default report/<file stem>)."),
    workers: int = typer.Option(2, "--workers", help="Runs at a time."),
    backend: str = typer.Option("local", "--backend", help="local | ray | slurm"),
    no_train: bool = typer.Option(False, "--no-train", help="Report on the runs already committed; train nothing."),
    bootstrap: Optional[int] = typer.Option(None, "--bootstrap", help="Override report.bootstrap."),
    json_out: bool = typer.Option(False, "--json", help="Print the report's results (results.json) as JSON."),
    pack: Optional[int] = typer.Option(None, "--pack", help="Runs of equal shape trained together per worker "
                                       "(default resources.pack or 8; 1: every run alone)."),
) -> None:
    """Run the sweep (resumable; finished runs are skipped), then fit, compare and write the report."""
    import contextlib

    from scaling.cli.sweep import Display, _echo_json, launched
    from scaling.records import check_out
    from scaling.report.build import RunsFailed, build, default_out

    out = check_out(out or default_out(sweep_file))
    if runs is not None:
        check_out(runs, "--runs")
    display = Display(rich=False)
    # with --json, stdout holds only the JSON: the sweep's progress goes to stderr
    with contextlib.redirect_stdout(sys.stderr) if json_out else contextlib.nullcontext():
        display.rich = sys.stdout.isatty()
        try:
            results = build(sweep_file, runs, out, workers=workers, backend=backend, train=not no_train,
                            bootstrap=bootstrap, pack=pack, on_event=display.event,
                            on_start=lambda res, planned: display.start(res, workers, planned),
                            on_launched=lambda sweep, runs, res: (display.stop(), launched(sweep, runs, res)))
        except RunsFailed:  # `launched` has said which and exits 1 before this
            raise typer.Exit(1) from None
        finally:
            display.stop()
    if json_out:
        _echo_json(results)
        return
    for record in results["verdicts"]:  # one line per verdict record, whatever the claim
        typer.echo(record["summary"])
    typer.echo(f"report: {out / 'summary.md'} ({', '.join(f'{k} {v:.0f} s' for k, v in results['timings_s'].items())})")
