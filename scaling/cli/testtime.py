"""`scaling testtime`: parallel samples, voting, best-of-M and two-round agents on a finished run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from scaling.cli import app
from scaling.claims.text import testtime_lines
from scaling.records import jsonable


def _ints(text: str, name: str) -> list[int]:
    from scaling.errors import DataError

    try:
        return [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise DataError(f"{name}: expected comma-separated integers, got {text!r}") from None


@app.command("testtime")
def testtime_cmd(
    run_dir: Path = typer.Argument(..., help="A finished run folder (pretraining or RL)."),
    out: Path = typer.Option(..., "--out", help="Folder for the study's records."),
    m: str = typer.Option("1,2,4,8,16,32,64", "--m", help="Parallel samples per problem (comma-separated)."),
    seeds: str = typer.Option("0", "--seeds", help="Sampling seeds of the one checkpoint (comma-separated)."),
    problems: int = typer.Option(32, "--problems", help="Problems evaluated."),
    which: str = typer.Option("heldout", "--set", help="Problem set: heldout or train."),
    kind: Optional[str] = typer.Option(None, "--kind", help="scene or reasoning (default: the RL run's kind, else scene)."),
    max_len: Optional[int] = typer.Option(None, "--max-len", help="Token budget per sample (default: the run's)."),
    temperature: float = typer.Option(1.0, "--temperature"),
    summary_k: int = typer.Option(2, "--summary-k", help="Most frequent draft answers the agents' final round reads."),
    repeats: int = typer.Option(10, "--repeats", help="Timed repeats of one decode step per batch size (>= 10)."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Majority vote, best-of-M (coverage) and two-round agents for M parallel samples; tokens, latency, FLOPs."""
    from scaling.testtime import run

    s = run(run_dir, out, ms=_ints(m, "--m"), seeds=_ints(seeds, "--seeds"), n_problems=problems, which=which,
            kind=kind, max_len=max_len, temperature=temperature, summary_k=summary_k, repeats=repeats)
    typer.echo(json.dumps(jsonable(s), indent=2) if json_out else "\n".join(testtime_lines(s)))
