"""`scaling claim phases` (does reasoning length lengthen, compress, then lengthen again?) and
`scaling claim parallel` (does accuracy rise with parallel agents while latency stays flat?)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from scaling.cli.compare import claim_app
from scaling.claims.text import parallel_lines, phases_lines
from scaling.records import jsonable


@claim_app.command("phases")
def phases_cmd(
    source: Path = typer.Argument(..., help="An RL sweep folder or a CSV with compute, length and seed columns."),
    x: str = typer.Option("rl/flops", "--x", help="RL compute column."),
    y: List[str] = typer.Option(["eval/length/heldout"], "--y", help="Length column (repeatable)."),
    seed_col: str = typer.Option("seed", "--seed-col", help="Seed column (whole seeds are resampled)."),
    group: Optional[str] = typer.Option(None, "--group", help="Analyse each value separately (e.g. grpo.length_coef)."),
    n_boot: int = typer.Option(400, "--bootstrap", help="Bootstrap resamples."),
    replicate: float = typer.Option(0.5, "--replicate", help="Supported needs more than this fraction of seeds to replicate."),
    min_seg: int = typer.Option(3, "--min-seg", help="Distinct compute values per segment, at least."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Piecewise-linear length vs log compute (0/1/2 breakpoints by BIC), slope intervals over seeds, verdict."""
    from scaling.claims.phases import phases_claim
    from scaling.errors import DataError
    from scaling.fit.io import read_table

    if n_boot < 10:
        raise DataError(f"--bootstrap {n_boot}: at least 10 resamples are needed")
    if not 0 <= replicate < 1:
        raise DataError(f"--replicate {replicate}: must lie in [0, 1)")
    if min_seg < 2:
        raise DataError(f"--min-seg {min_seg}: a segment needs at least 2 compute values")
    r = phases_claim(read_table(source), x, list(y), seed_col=seed_col, group=group, n_boot=n_boot,
                     replicate=replicate, min_seg=min_seg)
    typer.echo(json.dumps(jsonable(r), indent=2) if json_out else "\n".join(phases_lines(r)))


@claim_app.command("parallel")
def parallel_cmd(
    study: Path = typer.Argument(..., help="A `scaling testtime` output folder."),
    scheme: str = typer.Option("agents", "--scheme", help="vote, best or agents."),
    flat: float = typer.Option(1.25, "--flat", help="Largest M_max/M=1 ratio that counts as flat."),
    n_boot: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Accuracy gain per doubling of M, critical-path and latency ratios with CIs, coverage law, vote null."""
    from scaling.claims.parallel import coverage_law, parallel_claim, vote_null
    from scaling.errors import DataError
    from scaling.testtime.study import read_rows

    if n_boot < 10:
        raise DataError(f"--bootstrap {n_boot}: at least 10 resamples are needed")
    rows = read_rows(study)
    r = parallel_claim(rows, scheme=scheme, flat=flat, n_boot=n_boot)
    cov, null = coverage_law(rows), vote_null(rows)
    if json_out:
        typer.echo(json.dumps(jsonable({"claim": r, "coverage": cov, "vote_null": null}), indent=2))
    else:
        typer.echo("\n".join(parallel_lines(r, cov, null)))
