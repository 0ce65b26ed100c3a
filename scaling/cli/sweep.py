"""`scaling sweep run | plan | status`: grid sweeps from a sweep file (pretraining, or `stage: rl`)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional

import typer

from scaling.cli import app
from scaling.records import check_out

sweep_app = typer.Typer(no_args_is_help=True, help="Grid sweeps: plan, run (resumable), status.")
app.add_typer(sweep_app, name="sweep")


def _secs(s: float | None) -> str:
    if s is None:
        return "-"
    s = max(0.0, float(s))
    if s < 10:
        return f"{s:.1f} s"
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def _num(x, fmt: str = ".3g") -> str:
    return "-" if x is None else format(float(x), fmt)


def _echo_json(data) -> None:
    import json

    from scaling.records import jsonable

    typer.echo(json.dumps(jsonable(data), indent=2, allow_nan=False))


PACK_HELP = ("Train up to N runs of equal shape (differing in seed, learning rate or weight decay) together "
             "in one worker; default resources.pack or 8; 1: every run alone.")


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


# ---------------------------------------------------------------- plan


@sweep_app.command("plan")
def plan(
    sweep_file: Path = typer.Argument(..., help="Sweep file (YAML)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Sweep folder (default runs/<file stem>): marks "
                                       "runs already done and calibrates the time estimate."),
    workers: int = typer.Option(1, "--workers", help="Parallel runs assumed for the total time."),
    flops_per_s: Optional[float] = typer.Option(None, "--flops-per-s", help="Training FLOP/s per worker."),
    overhead_s: Optional[float] = typer.Option(None, "--overhead-s", help="Fixed seconds per run."),
    pack: Optional[int] = typer.Option(None, "--pack", help=PACK_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print the plan as JSON (runs, totals, rates)."),
) -> None:
    """Dry run: every run with its parameters, tokens and FLOPs, and the estimated total time."""
    from scaling.sweep import launch, runner, spec

    launch.check_options(workers, flops_per_s, overhead_s, pack)
    sweep = spec.load_sweep(sweep_file)
    out = check_out(out or runner.default_out(sweep_file))
    sweep_dir = out if out.is_dir() else None
    rates = runner.rates_for(sweep, out, flops_per_s, overhead_s)
    rows = runner.plan_rows(sweep, sweep_dir, rates)
    todo = [r for r in rows if r["status"] in ("pending", "damaged")]
    eta = runner.plan_seconds(sweep, out, {r["run_id"] for r in todo}, rates, workers, pack)
    if json_out:
        _echo_json({"sweep": sweep.name, "out": str(out), "workers": workers, "runs": rows, "to_run": len(todo),
                    "estimated_s": eta, "flops": sum(r["flops"] or 0 for r in rows),
                    "rates": {stage: r.__dict__ for stage, r in rates.items()}})
        return
    from scaling.sweep import stages

    # a sweep whose runs start from another stage's: each row says its stage and the run it starts from
    iso, rl = sweep.isoflop, any(stages.get(r["stage"]).starts_from for r in rows)
    headers = ["run_id"] + (["stage"] if rl else []) + ["run"] + (["pretrained"] if rl else []) + \
        ["params", "tokens", "FLOPs"] + (["budget", "off"] if iso else []) + ["est.", "status"]
    table = []
    for r in rows:
        cells = [r["run_id"]] + ([r["stage"]] if rl else []) + [r["label"]] + \
            ([r["pretrained"] or "-"] if rl else []) + [_num(r["params"]), _num(r["tokens"]), _num(r["flops"])]
        if iso:
            off = (r["flops"] / r["budget"] - 1) * 100 if r["flops"] and r["budget"] else None
            cells += [_num(r["budget"]), "-" if off is None else f"{off:+.2f}%"]
        table.append(cells + [_secs(r["seconds"]), r["status"]])
    typer.echo(_table(headers, table))
    if rl:
        pre = [r for r in rows if not stages.get(r["stage"]).starts_from]
        typer.echo(f"\n{sweep.name}: {len(pre)} pretraining + {len(rows) - len(pre)} RL runs, {len(todo)} to run; "
                   f"{sum(r['flops'] or 0 for r in pre):.3g} pretraining FLOPs, "
                   f"{sum(r['flops'] or 0 for r in rows if r not in pre):.3g} RL FLOPs (FLOPs of an RL run: "
                   f"its RL training compute, every answer at sampling.max_len)")
    else:
        total_flops = sum(r["flops"] or 0 for r in rows)
        typer.echo(f"\n{sweep.name}: {len(rows)} runs, {len(todo)} to run, {total_flops:.3g} training FLOPs in all")
    how = "; ".join(f"{stage + ' ' if rl else ''}rate {r.flops_per_s:.3g} FLOP/s + {r.overhead_s:.1f} s per run, "
                    f"{r.source}" for stage, r in rates.items())
    typer.echo(f"estimated time: {_secs(eta)} on {workers} worker(s) ({how})")
    typer.echo(f"output: {out}")


# ---------------------------------------------------------------- run


class Display:
    """Progress: a rich bar on a terminal, plain lines otherwise."""

    def __init__(self, rich: bool):
        self.rich = rich
        self.done = self.failed = self.total = 0
        self.planned_left = self.planned_done = self.measured_done = 0.0
        self.workers = 1
        self.t0 = time.monotonic()
        self.progress = None

    def start(self, result, workers: int, planned: dict) -> None:
        self.total = result.total - result.skipped
        self.workers, self.planned = workers, {rid: planned.get(rid, 0.0) for rid in result.todo}
        self.planned_left = sum(self.planned.values())
        typer.echo(f"{result.total} runs: {result.skipped} already committed, {self.total} to run "
                   f"(planned {_secs(result.planned_s)})")
        if self.rich and self.total:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                                     TextColumn("{task.fields[info]}"), transient=False)
            self.task = self.progress.add_task("sweep", total=self.total, info="")
            self.progress.start()

    def eta(self) -> float:
        if self.done + self.failed >= self.total:
            return 0.0
        scale = self.measured_done / self.planned_done if self.planned_done > 0 else 1.0
        return self.planned_left * scale / self.workers

    def event(self, ev) -> None:
        rid, label = ev.job.spec.run_id, ev.job.spec.label
        if ev.kind in ("done", "failed"):
            self.done += ev.kind == "done" and ev.detail != "failed"
            self.failed += ev.kind == "failed" or ev.detail == "failed"
            planned = self.planned.get(rid, 0.0)
            self.planned_left -= planned
            self.planned_done += planned
            self.measured_done += ev.seconds
        left = self.total - self.done - self.failed
        info = f"done {self.done}  failed {self.failed}  remaining {left}  ETA {_secs(self.eta())}"
        what = {"start": "start ", "done": f"{ev.detail:<8}", "retry": "retry ", "failed": "FAILED"}[ev.kind]
        tail = f" ({_secs(ev.seconds)})" if ev.kind != "start" else ""
        why = f": {ev.detail}" if ev.kind in ("retry", "failed") else ""
        line = f"{what} {rid} {label}{tail}{why}"
        if self.progress is not None:
            if ev.kind != "start":
                self.progress.console.print(line)
            self.progress.update(self.task, completed=self.done + self.failed, info=info)
        elif ev.kind != "start":
            typer.echo(f"[{self.done + self.failed}/{self.total}] {line} | {info}")

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


@sweep_app.command("run")
def run(
    sweep_file: Path = typer.Argument(..., help="Sweep file (YAML)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Sweep folder (default runs/<file stem>)."),
    workers: int = typer.Option(1, "--workers", help="Runs at a time (local) or in flight (ray, slurm)."),
    backend: str = typer.Option("local", "--backend", help="local | ray | slurm"),
    retries: Optional[int] = typer.Option(None, "--retries", help="Retries of infrastructure failures "
                                          "(killed, out of memory); default resources.retries or 2."),
    flops_per_s: Optional[float] = typer.Option(None, "--flops-per-s", help="For the time estimate."),
    overhead_s: Optional[float] = typer.Option(None, "--overhead-s", help="For the time estimate."),
    trainer: str = typer.Option("scaling.train:train", "--trainer", hidden=True,
                                help="module:function (or file.py:function) that trains one run."),
    rl_trainer: str = typer.Option("scaling.rl.run:train", "--rl-trainer", hidden=True,
                                   help="module:function that trains one RL run (stage: rl sweeps)."),
    extend: bool = typer.Option(False, "--extend", help="Add this sweep's runs to an --out folder that "
                                "holds another sweep (otherwise refused)."),
    accept_code: bool = typer.Option(False, "--accept-code", help="Reuse committed runs trained by another "
                                     "code version (otherwise refused; see `scaling.provenance`)."),
    pack: Optional[int] = typer.Option(None, "--pack", help=PACK_HELP),
) -> None:
    """Run every run of the sweep not yet committed in --out; safe to interrupt and run again."""
    from scaling.sweep import launch, runner, spec

    launch.check_options(workers, flops_per_s, overhead_s, pack)
    sweep = spec.load_sweep(sweep_file)  # the whole grid is validated before anything runs
    out = check_out(out or runner.default_out(sweep_file))
    display = Display(rich=sys.stdout.isatty())
    try:
        result = launch.run_sweep(sweep, out, workers=workers, backend=backend, retries=retries,
                                  flops_per_s=flops_per_s, overhead_s=overhead_s, trainer=trainer,
                                  rl_trainer=rl_trainer, extend=extend, accept_code=accept_code, pack=pack,
                                  on_event=display.event,
                                  on_start=lambda res, planned: display.start(res, workers, planned))
    finally:
        display.stop()
    launched(sweep, out, result)


def launched(sweep, out: Path, result) -> None:
    """The launch's closing lines; exit code 1 when runs failed (`scaling sweep run`, `scaling report`)."""
    counts = ", ".join(f"{n} {s}" for s, n in sorted(result.counts.items())) or "nothing to run"
    typer.echo(f"{sweep.name}: {counts}; took {_secs(result.measured_s)} (planned {_secs(result.planned_s)})"
               f"; records in {out}")
    if result.failed:
        typer.echo(f"{len(result.failed)} failed run(s):", err=True)
        for job, detail in result.failed:
            typer.echo(f"  {job.spec.run_id} {job.spec.label}: {detail}; log {job.log}", err=True)
        raise typer.Exit(1)


# ---------------------------------------------------------------- status


@sweep_app.command("status")
def status(sweep_dir: Path = typer.Argument(..., help="Sweep folder (the --out of `sweep run`)."),
           slowest: int = typer.Option(5, "--slowest", help="How many of the slowest runs to list."),
           json_out: bool = typer.Option(False, "--json", help="Print everything as JSON (every run too).")) -> None:
    """Counts by status, running, failed and damaged runs with their logs, the slowest runs."""
    from scaling.sweep.status import collect

    if slowest < 0:
        from scaling.errors import ConfigError

        raise ConfigError(f"--slowest: must be non-negative, got {slowest}")
    info = collect(sweep_dir, slowest=slowest)
    if json_out:
        _echo_json(info)
        return
    counts = ", ".join(f"{n} {s}" for s, n in info["counts"].items() if n)
    others = f" (and {info['other_runs']} run folder(s) of earlier versions of the sweep)" if info["other_runs"] else ""
    typer.echo(f"{info['sweep']} ({info['dir']}): {info['total']} runs: {counts or 'none'}{others}")
    for key in ("running", "failed", "damaged"):
        if info[key]:
            typer.echo(f"\n{key}:")
            for r in info[key]:
                why = f" ({r['detail']})" if r["detail"] else ""
                typer.echo(f"  {r['run_id']} {r['label']}{why}\n    log {r['log']}")
    if info["slowest"]:
        typer.echo("\nslowest:")
        typer.echo(_table(["run_id", "run", "time", "status"],
                          [[r["run_id"], r["label"], _secs(r["seconds"]), r["status"]] for r in info["slowest"]]))
    last = info["last_launch"]  # the last launch that ran something
    if last:
        measured = _secs(last.get("measured_s")) if "measured_s" in last else "unfinished"
        typer.echo(f"\nlast launch ({last.get('backend')}, {last.get('workers')} worker(s), {last.get('runs')} runs): "
                   f"planned {_secs(last.get('planned_s'))}, measured {measured}")
