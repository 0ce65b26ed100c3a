"""`scaling report SWEEP.yaml`: sweep -> fit -> compare -> plots and a markdown summary."""

from __future__ import annotations

import time
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
    from scaling import records
    from scaling import report as rep
    from scaling.cli.sweep import run as sweep_run
    from scaling.sweep import runner, spec

    sweep = spec.load_sweep(sweep_file)  # validates the whole grid before anything runs
    if pack is not None:
        from scaling.pack import check_pack_size

        check_pack_size(pack)
    recipes = sorted({r.recipe for r in sweep.runs})
    rl = sweep.stage == "rl"  # an RL sweep's report: length, pass@k, test-time scaling (scaling.report_rl)
    if rl:
        from scaling import report_rl

        cfg = report_rl.settings(sweep.raw.get("report"), str(sweep_file))
    else:
        cfg = rep.settings(sweep.raw.get("report"), str(sweep_file), recipes)
    if bootstrap is not None:
        if bootstrap < 10:
            from scaling.errors import ConfigError

            raise ConfigError(f"--bootstrap {bootstrap}: at least 10 resamples are needed")
        cfg["bootstrap"] = bootstrap
    runs = runs or runner.default_out(sweep_file)
    out = out or Path("report") / Path(sweep_file).stem
    _check_writable(out)  # before minutes of training, not after
    timings = {}
    t0 = time.monotonic()
    if not no_train:
        import contextlib
        import sys

        # with --json, stdout holds only the JSON: the sweep's progress goes to stderr
        with contextlib.redirect_stdout(sys.stderr) if json_out else contextlib.nullcontext():
            sweep_run(sweep_file, out=runs, workers=workers, backend=backend, retries=None, flops_per_s=None,
                      overhead_s=None, trainer="scaling.train:train", pack=pack)
        timings["sweep"] = time.monotonic() - t0
    df = records.load(runs)
    wanted = {r.run_id for r in sweep.runs}
    df = df[df["run_id"].isin(wanted)]
    if df.empty:
        from scaling.errors import DataError

        raise DataError(f"{runs}: no committed runs of {sweep_file}; run it first (without --no-train)")
    if rl:
        results = report_rl.write(df, runs, out, cfg, sweep.name, timings)
    else:
        results = rep.write(df, out, cfg, sweep_name=sweep.name, timings=timings)
    if json_out:
        from scaling.cli.sweep import _echo_json

        _echo_json(results)
        return
    for name, m in ((results.get("phases") or {}).get("metrics") or {}).items():
        typer.echo(f"phases {name}: {m['verdict'].upper()} (replicated in {m['replicated']} seeds)")
    for name, m in ((results.get("loglinear") or {}).get("metrics") or {}).items():
        typer.echo(f"log-linear {name}: {m['verdict'].upper()}")
    for scheme, c in ((results.get("testtime") or {}).get("parallel") or {}).items():
        typer.echo(f"parallel {scheme}: critical path {c['verdict_critical_path'].upper()}, "
                   f"latency {c['verdict_latency'].upper()}")
    for r in results.get("comparisons", []):
        v = r.get("verdict")
        if v:
            typer.echo(f"{r['candidate']} vs {r['baseline']}: claim {r['claim']:g}x -> {v['verdict'].upper()}")
    typer.echo(f"report: {out / 'summary.md'} ({', '.join(f'{k} {v:.0f} s' for k, v in results['timings_s'].items())})")


def _check_writable(out: Path) -> None:
    """ConfigError naming `out` when no report folder can be made there."""
    import os

    from scaling.errors import ConfigError

    probe = out if out.exists() else out.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: the report path exists and is not a folder")
    if not probe.is_dir():
        raise ConfigError(f"{out}: report folder cannot be made ({probe} is not a folder)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{out}: report folder is not writable ({probe})")
