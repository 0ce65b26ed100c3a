"""`scaling rl` (one GRPO run from a pretrained run) and `scaling rl-sweep` (a small RL sweep)."""

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
    from scaling import rl

    cfg = rl.load(config, set_)

    def progress(step, steps, rec):
        if not quiet:
            typer.echo(f"step {step:>5}/{steps}  {_line(rec)}")

    summary = rl.run(cfg, out, from_, progress=progress)
    final = summary.get("final") or {}
    tail = f"  {_line(final)}" if final.get("rl/flops") is not None else ""
    typer.echo(f"{summary['status']}: {out}{tail}")
    if summary["status"] != "done":
        raise typer.Exit(1)


@app.command("rl-sweep")
def rl_sweep_cmd(
    sweep: Path = typer.Argument(..., help="RL sweep file (see sweeps/rl_demo.yaml)."),
    out: Path = typer.Option(..., "--out", "-o", help="Sweep folder: pretrained/<id>/ and runs/<id>/."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Pretrain what the sweep names (once per config), then run every RL grid point; resumable."""
    from scaling.rl.sweep import load_sweep, run_sweep

    spec = load_sweep(sweep)
    if not quiet:
        typer.echo(f"rl sweep {spec['name']}: {len(spec['pretrained'])} pretrained x {len(spec['points'])} RL points")
    for row in run_sweep(spec, out, echo=None if quiet else typer.echo):
        typer.echo(f"{row['status']}: {row['run_dir']}  {row['label']}")
