"""A sweep file's report: run the sweep (resumable), read its records, write its stage's report.

What `scaling report SWEEP.yaml` does, as a plain function: `build(...)` returns the report's
results (what results.json holds). The stage's report module comes from the stage table
(`scaling.sweep.stages`, field `report`); every such module has the same `settings` and `write`.
Nothing here prints: the sweep's progress goes to the caller's callbacks.
"""

from __future__ import annotations

import importlib
import os
import time
from pathlib import Path
from typing import Callable

from scaling import reading
from scaling.errors import ConfigError, DataError
from scaling.pack import check_pack_size
from scaling.sweep import launch, runner, spec, stages


class RunsFailed(RuntimeError):
    """Some runs of the sweep failed; no report was written. `result`: the launch's Result."""

    def __init__(self, result):
        super().__init__(f"{len(result.failed)} run(s) failed")
        self.result = result


def report_module(sweep):
    """The report module of the sweep's stage (`Stage.report`, a dotted module name)."""
    return importlib.import_module(stages.get(sweep.stage).report)


def default_out(sweep_file: str | Path) -> Path:
    return Path("report") / Path(sweep_file).stem


def build(sweep_file: str | Path, runs: str | Path | None = None, out: str | Path | None = None, *,
          workers: int = 2, backend: str = "local", train: bool = True, bootstrap: int | None = None,
          pack: int | None = None, on_event: Callable | None = None, on_start: Callable | None = None,
          on_launched: Callable | None = None) -> dict:
    """Run the sweep (unless `train` is False), then write its stage's report into `out`.

    runs: the sweep folder (default runs/<file stem>); out: the report folder (default
    report/<file stem>); bootstrap: overrides the `report:` section's. Callbacks:
    `on_start(result, planned)` and `on_event(event)` as in `scaling.sweep.launch.run_sweep`;
    `on_launched(sweep, runs, result)` once the launch is over. Failed runs raise RunsFailed
    (after `on_launched`). Returns the report's results."""
    sweep = spec.load_sweep(sweep_file)  # validates the whole grid before anything runs
    if pack is not None:
        check_pack_size(pack)
    report = report_module(sweep)
    recipes = sorted({r.recipe for r in sweep.runs})
    cfg = report.settings(sweep.raw.get("report"), str(sweep_file), recipes)
    if bootstrap is not None:
        if bootstrap < 10:
            raise ConfigError(f"--bootstrap {bootstrap}: at least 10 resamples are needed")
        cfg["bootstrap"] = bootstrap
    runs = Path(runs) if runs is not None else runner.default_out(sweep_file)
    out = Path(out) if out is not None else default_out(sweep_file)
    check_writable(out)  # before minutes of training, not after
    timings = {}
    t0 = time.monotonic()
    if train:
        result = launch.run_sweep(sweep, runs, workers=workers, backend=backend, trainer="scaling.train:train",
                                  pack=pack, on_event=on_event, on_start=on_start)
        if on_launched is not None:
            on_launched(sweep, runs, result)
        if result.failed:
            raise RunsFailed(result)
        timings["sweep"] = time.monotonic() - t0
    df = reading.load(runs)
    df = df[df["run_id"].isin({r.run_id for r in sweep.runs})]
    if df.empty:
        raise DataError(f"{runs}: no committed runs of {sweep_file}; run it first (without --no-train)")
    return report.write(df, out, cfg, runs=runs, sweep_name=sweep.name, timings=timings)


def check_writable(out: Path) -> None:
    """ConfigError naming `out` when no report folder can be made there."""
    probe = out if out.exists() else out.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: the report path exists and is not a folder")
    if not probe.is_dir():
        raise ConfigError(f"{out}: report folder cannot be made ({probe} is not a folder)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{out}: report folder is not writable ({probe})")
