"""Run a parsed sweep: check the launch options, estimate each run's time, launch (`runner`).

One function for `scaling sweep run` and the report builder (`scaling.report.build`), so neither
calls the other's command. Progress is the caller's: it passes callbacks (`on_start`, `on_event`);
nothing here prints.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

from scaling.errors import ConfigError
from scaling.pack import check_pack_size
from scaling.sweep import runner
from scaling.sweep.spec import Sweep


def check_positive(name: str, value, allow_none: bool = True):
    """A numeric option that must be a finite number above zero (None allowed where optional)."""
    if value is None and allow_none:
        return value
    if value is None or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name}: must be a finite number above zero, got {value}")
    return value


def check_nonnegative(name: str, value):
    if value is not None and (not math.isfinite(value) or value < 0):
        raise ConfigError(f"{name}: must be a finite non-negative number, got {value}")
    return value


def check_options(workers: int, flops_per_s: float | None = None, overhead_s: float | None = None,
                  pack: int | None = None) -> None:
    """ConfigError (naming the CLI option) for launch options no sweep can run with."""
    check_positive("--workers", workers, allow_none=False)
    check_positive("--flops-per-s", flops_per_s)
    check_nonnegative("--overhead-s", overhead_s)
    if pack is not None:
        check_pack_size(pack)


def run_sweep(sweep: Sweep, out: str | Path, *, workers: int = 1, backend: str = "local",
              retries: int | None = None, flops_per_s: float | None = None, overhead_s: float | None = None,
              trainer: str | None = None, rl_trainer: str | None = None, extend: bool = False,
              accept_code: bool = False, pack: int | None = None,
              on_event: Callable | None = None,
              on_start: Callable[[runner.Result, dict], None] | None = None) -> runner.Result:
    """Run every run of `sweep` not yet committed in `out` (resumable) and return the runner's Result.

    `trainer`/`rl_trainer`: "module:function" replacing the stages' own (None: the runner's default).
    `on_start(result, planned)` is called once the work is known (`planned`: run id -> estimated
    seconds); `on_event(event)` for every start, retry, success and failure of a run.
    """
    check_options(workers, flops_per_s, overhead_s, pack)
    out = Path(out)
    rates = runner.rates_for(sweep, out, flops_per_s, overhead_s)
    planned = runner.planned_seconds(sweep, rates)
    trainers = {k: v for k, v in (("trainer", trainer), ("rl_trainer", rl_trainer)) if v is not None}
    return runner.run_sweep(sweep, out, backend=backend, workers=workers, retries=retries, rate=rates,
                            extend=extend, accept_code=accept_code, pack=pack, on_event=on_event,
                            on_start=(lambda res: on_start(res, planned)) if on_start else None, **trainers)
