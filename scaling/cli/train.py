"""`scaling train` and `scaling bench train`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer

from scaling.cli import app, bench_app
from scaling.families import FAMILIES


@app.command("train")
def train_cmd(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Run config (YAML/JSON); defaults if omitted."),
    out: Path = typer.Option(..., "--out", "-o", help="Run directory to write (config.json, metrics.jsonl, summary.json)."),
    set_: List[str] = typer.Option([], "--set", help="Override a key: --set model.width=64 (repeatable)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the final line."),
    json_out: bool = typer.Option(False, "--json", help="Print only the summary, as JSON."),
    accept_code: bool = typer.Option(False, "--accept-code", help="Reuse a committed run in --out trained by "
                                     "another code version (otherwise refused)."),
) -> None:
    """Train one model on the embedded data and write its run directory."""
    from scaling import config as cfgmod
    from scaling import flops, records
    from scaling.preemption import EXIT_REQUEUE, Preempted

    records.check_out(out)
    cfg = cfgmod.load(config, set_)
    cost = flops.run_cost(cfg)
    cfgmod.check_steps(cfg, int(cost["steps"]))
    _fits_in_memory(cost["params/total"], cfg)
    _check_out(out, cfgmod.run_id(cfg), accept_code)
    quiet = quiet or json_out
    from scaling.train import train

    if not quiet:
        typer.echo(f"run {cfgmod.run_id(cfg)}  family={cfg.model.family} width={cfg.model.width} "
                   f"params={cost['params/total']:,}  steps={cost['steps']}  "
                   f"tokens={cost['tokens/total']:,}  FLOPs={cost['compute/flops']:.3g}")

    def progress(step, steps, rec):
        if not quiet:
            evals = "  ".join(f"{k.split('/')[-1]}={v:.3f}" for k, v in rec.items() if k.startswith("eval/loss/"))
            typer.echo(f"step {step:>6}/{steps} {rec.get('point', ''):>8}  C={rec['compute/flops']:.3g}  "
                       f"train={rec['train/loss']:.3f}  {evals}")

    try:
        summary = train(cfg, out, progress=progress)
    except Preempted as err:
        typer.echo(f"{err}: run the same command again to resume", err=True)
        raise typer.Exit(EXIT_REQUEUE) from None
    if json_out:
        import json

        from scaling.records import jsonable

        typer.echo(json.dumps(jsonable(summary), indent=2, allow_nan=False))
        raise typer.Exit(0 if summary["status"] == "done" else 1)
    final = summary.get("final") or {}
    tail = f"  eval/loss/caption={final['eval/loss/caption']:.4f}" if final.get("eval/loss/caption") else ""
    typer.echo(f"{summary['status']}: {out}{tail}")
    if summary["status"] != "done":
        raise typer.Exit(1)


BYTES_PER_PARAM = 16  # float32 parameters, gradients and two AdamW moments


def _fits_in_memory(n_params: int, cfg) -> None:
    """Refuse, before anything is allocated, a model whose training state exceeds this machine's memory."""
    from scaling.errors import ConfigError

    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    need = n_params * BYTES_PER_PARAM
    if need > total:
        raise ConfigError(f"model.width={cfg.model.width}: {n_params:.3g} parameters need {need / 2**30:.3g} GiB "
                          f"of training state; this machine has {total / 2**30:.3g} GiB")


def _check_out(out: Path, rid: str, accept_code: bool) -> None:
    """A committed run in `out` of this config but another code version is refused unless accepted."""
    from scaling import provenance, records
    from scaling.errors import ConfigError

    records.check_run_dir(out, rid)  # another config's run in `out` is refused before anything is printed
    if not (out / records.SUMMARY).exists() or accept_code:
        return
    records.check(out)
    code = provenance.code_of(records.read_summary(out))
    if not provenance.same_code(code):
        raise ConfigError(f"{out}: run {rid} was trained by code version {code or 'unknown'} (this code is "
                          f"{provenance.code_version()}); pass --accept-code to keep it, or choose another --out")


@bench_app.command("train")
def bench_train_cmd(
    widths: List[int] = typer.Option([128, 192, 256], "--width", help="Model widths to measure (repeatable)."),
    family: str = typer.Option("early", "--family"),
    batch_size: int = typer.Option(128, "--batch-size"),
    steps: int = typer.Option(10, "--steps", help="Timed steps per size, after warm-up."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Achieved training FLOP/s per size, as a ratio to a float32 matmul timed in the same process."""
    import json

    from rich.console import Console
    from rich.table import Table

    from scaling.bench.train import bench_train

    result = bench_train(widths, family=family, batch_size=batch_size, steps=steps)
    if json_out:
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table(title=f"training throughput ({result['device']}, {family}, batch {batch_size}); matmul reference "
                        f"{result['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s ({result['matmul_n']}^3 float32)")
    for col in ("width", "params", "tokens/step", "FLOPs/step", "step ms", "GFLOP/s", "ratio to matmul"):
        table.add_column(col, justify="right")
    for row in result["rows"]:
        table.add_row(str(row["width"]), f"{row['params']:,}", f"{row['tokens_per_step']:,}",
                      f"{row['flops_per_step']:.3g}", f"{row['step_s'] * 1e3:.1f}",
                      f"{row['flops_per_s'] / 1e9:.2f}", f"{row['ratio']:.1%}")
    Console().print(table)


@bench_app.command("pack")
def bench_pack_cmd(
    widths: List[int] = typer.Option([16, 24, 32, 48, 128], "--width", help="Model widths (repeatable)."),
    sizes: List[int] = typer.Option([1, 2, 4, 8, 16], "--size", help="Pack sizes (repeatable; include 1)."),
    tokens: int = typer.Option(150_000, "--tokens", help="Token budget of each run timed whole."),
    mode: str = typer.Option("vmap", "--mode", help="vmap | map: how the step runs the members."),
    step_only: bool = typer.Option(False, "--step-only", help="Only the in-process step rate (no whole runs)."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Runs per hour and FLOP/s per pack size, as ratios to packs of one and to a matmul in the same run."""
    import json

    from scaling.bench.pack import bench_pack
    from scaling.errors import ConfigError
    from scaling.pack import check_pack_size

    for s in sizes:
        check_pack_size(s, "--size")
    if mode not in ("vmap", "map"):
        raise ConfigError(f"--mode: vmap or map, got {mode!r}")
    if not step_only and 1 not in sizes:
        raise ConfigError("--size: include 1 (the unpacked reference the gains are measured against)")

    def show(r):
        whole = (f"  {r['runs_per_hour']:7.0f} runs/h  x{r['gain']:.2f}  peak {r['peak_rss_mb']:.0f} MB"
                 if "runs_per_hour" in r else "")
        typer.echo(f"width {r['width']:4d} ({r['params']:,} params) pack {r['pack']:3d}: step {r['step_s'] * 1e3:7.1f} ms"
                   f"  {r['flops_per_s'] / 1e9:6.2f} GFLOP/s{whole}", err=json_out)

    result = bench_pack(widths, sizes, tokens, whole=not step_only, mode=mode, log=show)
    if json_out:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(f"matmul reference {result['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s; ratios to it:")
    for r in result["rows"]:
        typer.echo(f"  width {r['width']:4d} pack {r['pack']:3d}: {r['ratio']:.1%} of the matmul rate")


@bench_app.command("flops")
def bench_flops_cmd(
    widths: List[int] = typer.Option([64, 96, 128, 256], "--width", help="Model widths (repeatable)."),
) -> None:
    """Analytic FLOPs against XLA's cost analysis, and parameter counts, per family and width."""
    from scaling import config as cfgmod
    from scaling import flops

    typer.echo(f"{'family':<6} {'width':>5} {'depth':>5} {'heads':>5} {'params':>10} {'embed':>8} {'vision':>9} "
               f"{'decoder':>10} {'head':>7}  XLA/analytic: fwd caption, fwd interleaved, fwd text, train caption")
    for family in FAMILIES:
        for width in widths:
            cfg = cfgmod.load(None, {"model.family": family, "model.width": width})
            p = flops.params(cfg)
            r = flops.against_xla(cfg)
            typer.echo(f"{family:<6} {width:>5} {cfg.model.depth:>5} {cfg.model.heads:>5} {p['total']:>10,} "
                       f"{p['embed']:>8,} {p['vision']:>9,} {p['decoder_nonembed']:>10,} {p['head']:>7,}  "
                       + ", ".join(f"{v - 1:+.2%}" for v in r.values()))
