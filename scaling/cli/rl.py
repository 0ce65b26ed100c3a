"""`scaling rl` (one GRPO run from a pretrained run); `scaling rl-sweep` is an alias of `scaling sweep run`
(an RL sweep is a sweep file with `stage: rl`)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from scaling.cli import app


def _line(rec: dict) -> str:
    keys = ("eval/pass@1/train", "eval/pass@1/heldout", "eval/pass@16/heldout", "eval/length/heldout")
    vals = "  ".join(f"{k.split('/', 1)[1]}={rec[k]:.3f}" for k in keys if rec.get(k) is not None)
    return f"C={rec['rl/flops']:.3g}  {vals}"


@app.command("rl")
def rl_cmd(
    from_: Path = typer.Option(..., "--from", help="Finished pretraining run directory to start from."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="RL config (YAML/JSON); defaults if omitted."),
    out: Path = typer.Option(..., "--out", "-o", help="RL run directory (config.json, metrics.jsonl, summary.json)."),
    set_: List[str] = typer.Option([], "--set", help="Override a key: --set grpo.kl=0.01 (repeatable)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the final line."),
) -> None:
    """Fine-tune a pretrained run with GRPO on verifiable scene questions; pass@k at log-spaced RL compute."""
    from scaling import records, rl

    records.check_out(out)
    cfg = rl.load(config, set_)

    def progress(step, steps, rec):
        if not quiet:
            typer.echo(f"step {step:>5}/{steps}  {_line(rec)}")

    from scaling.preemption import EXIT_REQUEUE, Preempted

    try:
        summary = rl.run(cfg, out, from_, progress=progress)
    except Preempted as err:
        typer.echo(f"{err}: run the same command again to resume", err=True)
        raise typer.Exit(EXIT_REQUEUE) from None
    final = summary.get("final") or {}
    tail = f"  {_line(final)}" if final.get("rl/flops") is not None else ""
    typer.echo(f"{summary['status']}: {out}{tail}")
    if summary["status"] != "done":
        raise typer.Exit(1)


@app.command("rl-sweep")
def rl_sweep_cmd(
    sweep: Path = typer.Argument(..., help="Sweep file with `stage: rl` (see sweeps/rl_demo.yaml)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Sweep folder (default runs/<file stem>)."),
    workers: int = typer.Option(1, "--workers", help="Runs at a time (local) or in flight (ray, slurm)."),
    backend: str = typer.Option("local", "--backend", help="local | ray | slurm"),
) -> None:
    """Alias of `scaling sweep run` (RL sweeps are sweep files with `stage: rl`)."""
    from scaling.cli.sweep import run

    run(sweep_file=sweep, out=out, workers=workers, backend=backend, retries=None, flops_per_s=None,
        overhead_s=None, trainer="scaling.train:train", rl_trainer="scaling.rl.run:train", extend=False,
        accept_code=False, pack=None)
