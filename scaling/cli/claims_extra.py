"""`scaling claim phases`: does reasoning length lengthen, compress, then lengthen again?"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from scaling.cli.compare import claim_app
from scaling.records import jsonable


def phases_lines(r: dict) -> list[str]:
    lines = [f"phase claim ('lengthens, compresses, lengthens again') against log10 {r['x']}, "
             f"seeds from {r['seed_col']!r}:"]
    for name, m in r["metrics"].items():
        sl = ", ".join(f"{s:+.3g} ({lo:+.3g} to {hi:+.3g})"
                       for s, (lo, hi) in zip(m["slopes_per_decade"], m["slope_intervals"]))
        br = ", ".join(f"{b:.3g}" for b in m["breaks_compute"])
        lines.append(f"{name}: BIC picks {m['breakpoints']} breakpoint(s) (BIC 0/1/2: "
                     f"{m['bic']['0']:.1f}/{m['bic']['1']:.1f}/{m['bic']['2']:.1f}); 2-breakpoint fit: breaks at "
                     f"{br}, slopes per decade {sl} ({m['n_boot']} resamples of {m['bootstrap_unit']}; "
                     f"2 breakpoints in {m['p_two_breakpoints']:.0%} of them); replicated in {m['replicated']} "
                     f"seeds -> {m['verdict'].upper()}")
    return lines


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
