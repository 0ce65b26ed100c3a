"""One run, or a pack of runs, in its own process:
`python -m scaling.sweep.worker RUN_DIR [RUN_DIR ...] [--trainer module:function]`.

The worker reads the resolved config from `RUN_DIR/config.json`, takes an exclusive lock on the run
directory (so two workers can never write the same run, e.g. a leftover worker of a killed launcher
and its replacement), removes temporary files a kill left behind, and calls the trainer
(`scaling.train:train` unless told otherwise; the launcher passes each stage's trainer) as
`trainer(cfg, run_dir)`; several run folders are a pack, trained together by `trainer.pack(cfgs,
run_dirs)` when the trainer has one (`scaling.train:train` does), else one after another. Every
backend runs runs this way. A pack's exit code is the process's; each member's outcome is read from
its own folder (`outcome`).

Exit codes: 0 the trainer returned (the run is committed: done, diverged or failed);
EXIT_INFRA (75) out of memory or a lost resource: worth retrying; EXIT_REQUEUE (76,
`scaling.preemption`) the loop checkpointed because a signal asked it to stop: run it again (not
counted against the retries); 1 any other error (not retried). A return code that says the process
was killed by a signal (negative, or 128 + signal from a shell) is an infrastructure failure too.
Failures are classified by exit status, signal and exception type, never by words in a message:
out of memory is a MemoryError or an XLA runtime error with status RESOURCE_EXHAUSTED.

The run's lock (`scaling.sweep.lock`) has stale-holder detection and a bounded wait.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Callable

from scaling import records
from scaling.errors import ConfigError
from scaling.preemption import EXIT_REQUEUE, Preempted
from scaling.sweep import stages
from scaling.sweep.lock import LockBusy, acquire

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INFRA = 75  # EX_TEMPFAIL
LOG = "log.txt"
DEFAULT_TRAINER = "scaling.train:train"


def load_trainer(spec: str) -> Callable:
    """`package.module:function`, or `path/to/file.py:function` (a stand-in trainer in tests)."""
    module, _, name = spec.rpartition(":") if ":" in spec else (spec, "", "train")
    if module.endswith(".py"):
        loaded = importlib.util.spec_from_file_location(Path(module).stem, module)
        mod = importlib.util.module_from_spec(loaded)
        loaded.loader.exec_module(mod)
        return getattr(mod, name or "train")
    return getattr(importlib.import_module(module), name or "train")


def read_config(run_dir: Path):
    """The resolved config stored in `run_dir/config.json` (checked against its run id), read by its
    stage's row (`stages.of_config`): a RunConfig, or for an RL run a `scaling.rl.config.RLConfig`."""
    data = records.read_json(run_dir / records.CONFIG)
    stored_id = data.pop("run_id", None)
    stage = stages.of_config(data)
    cfg = stage.read_config(data, str(run_dir / records.CONFIG))
    if stored_id is not None and stage.run_id(cfg) != stored_id:
        raise ConfigError(f"{run_dir}: config.json does not hash to its run id {stored_id!r}")
    return cfg


def clean_temporaries(run_dir: Path) -> None:
    """Remove `.name.XXXX.tmp` files of atomic writes interrupted by a kill (we hold the lock)."""
    for path in run_dir.glob(".*.tmp"):
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _is_infra(err: BaseException) -> bool:
    """Out of memory, by type: MemoryError, or XLA's runtime error with status RESOURCE_EXHAUSTED
    (the status code XLA puts first in its message), or a run held by a live worker."""
    if isinstance(err, (MemoryError, LockBusy)):
        return True
    xla = type(err).__name__ in ("XlaRuntimeError", "JaxRuntimeError")
    return xla and str(err).startswith("RESOURCE_EXHAUSTED")


def _train(trainer: str, cfgs: list, run_dirs: list[Path]) -> None:
    """Train the runs: together when the trainer trains packs (`fn.pack(cfgs, run_dirs)`, e.g.
    `scaling.train:train`), else one after another in this process."""
    fn = load_trainer(trainer)
    pack = getattr(fn, "pack", None)
    if len(cfgs) > 1 and callable(pack):
        summaries = pack(cfgs, run_dirs)
    else:
        summaries = [fn(cfg, run_dir) for cfg, run_dir in zip(cfgs, run_dirs)]
    for run_dir, summary in zip(run_dirs, summaries):
        print(f"worker: {run_dir.name} finished: {(summary or {}).get('status', '?')}", flush=True)


def run_one(run_dirs, trainer: str = DEFAULT_TRAINER) -> int:
    """Train the run in `run_dirs` (a folder, or several: a pack, trained together) in this process;
    return an exit code (see the module doc). Every run's lock is held throughout; if one cannot
    be taken, none is trained (EXIT_INFRA: the pack is tried again)."""
    run_dirs = [Path(run_dirs)] if isinstance(run_dirs, (str, Path)) else [Path(d) for d in run_dirs]
    handles = []
    try:
        for run_dir in run_dirs:
            try:
                handles.append(acquire(run_dir))
            except (OSError, LockBusy) as err:
                print(f"worker: cannot lock {run_dir}: {err}", file=sys.stderr, flush=True)
                return EXIT_INFRA
        for run_dir in run_dirs:
            clean_temporaries(run_dir)
        todo = [d for d in run_dirs if not records.is_committed(d)]
        for run_dir in run_dirs:
            if run_dir not in todo:
                print(f"worker: {run_dir.name} is already committed", flush=True)
        if todo:
            _train(trainer, [read_config(d) for d in todo], todo)
        return EXIT_OK
    except Preempted as err:
        print(f"worker: {', '.join(d.name for d in run_dirs)} {err}; exit {EXIT_REQUEUE} to be requeued", flush=True)
        return EXIT_REQUEUE
    except KeyboardInterrupt:
        return EXIT_INFRA
    except BaseException as err:  # noqa: BLE001 - the process boundary: report, classify, exit
        traceback.print_exc()
        return EXIT_INFRA if _is_infra(err) else EXIT_ERROR
    finally:
        for handle in handles:
            handle.release()


# ---------------------------------------------------------------- spawning (used by every backend)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the worker is killed when the process that started it dies (even by SIGKILL)."""
    os.setsid()
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # elsewhere the run lock still keeps a leftover worker from writing concurrently


def _dirs(run_dirs) -> list[Path]:
    return [Path(run_dirs)] if isinstance(run_dirs, (str, Path)) else [Path(d) for d in run_dirs]


def command(run_dirs, trainer: str = DEFAULT_TRAINER) -> list[str]:
    return [sys.executable, "-m", "scaling.sweep.worker", *map(str, _dirs(run_dirs)), "--trainer", trainer]


def thread_env(cpus: int | None) -> dict[str, str]:
    """Environment that keeps XLA's CPU threads within a run's `resources.cpus` (None: leave it).

    Workers that each spread tiny matrix products over every core oversubscribe the machine: on 2
    cores, two such workers ran a demo-sized step 3x slower than two single-threaded ones. A user's
    own XLA_FLAGS are left alone."""
    if not cpus or "XLA_FLAGS" in os.environ:
        return {}
    n = max(1, int(cpus))  # a fractional share (Ray) still gets one thread
    flags = f"--xla_cpu_multi_thread_eigen={'false' if n == 1 else 'true'} intra_op_parallelism_threads={n}"
    return {"XLA_FLAGS": flags}


def spawn(run_dirs, trainer: str = DEFAULT_TRAINER, attempt: int | None = None,
          cpus: int | None = None, env: dict | None = None) -> subprocess.Popen:
    """Start a worker for a run (or a pack: several run folders), appending its output to the first
    run's `log.txt` (the others' logs say where it is); `cpus`: the threads XLA may use
    (`thread_env`); `env`: more environment (a GPU assignment, `scaling.sweep.devices`)."""
    run_dirs = _dirs(run_dirs)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    what = f"attempt {attempt}" if attempt else "worker"
    for other in run_dirs[1:]:
        with open(other / LOG, "ab") as log:
            log.write(f"\n=== {what} on {os.uname().nodename} at {stamp}, packed with {len(run_dirs) - 1} "
                      f"other runs: output in ../{run_dirs[0].name}/{LOG} ===\n".encode())
    log = open(run_dirs[0] / LOG, "ab")
    packed = f", a pack of {len(run_dirs)}: {' '.join(d.name for d in run_dirs)}" if len(run_dirs) > 1 else ""
    log.write(f"\n=== {what} on {os.uname().nodename} at {stamp}{packed} ===\n".encode())
    log.flush()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **thread_env(cpus), **(env or {})}
    try:
        return subprocess.Popen(command(run_dirs, trainer), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, preexec_fn=_die_with_parent)
    finally:
        log.close()


def outcome(returncode: int, run_dir: str | Path) -> tuple[str, str]:
    """(kind, detail) of a run after its worker ended: kind is committed | infra | preempted | error.
    A committed run is committed whatever the exit code (in a pack, a member may commit before
    another fails)."""
    if records.is_committed(run_dir):
        summary = records.read_summary(run_dir) or {}
        return "committed", str(summary.get("status", "?"))
    signum = -returncode if returncode < 0 else returncode - 128 if 128 < returncode < 160 else None
    if signum is not None:
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        return "infra", f"killed by {name}"
    if returncode == EXIT_INFRA:
        return "infra", "out of memory, lost resource, or held by another worker (see its log)"
    if returncode == EXIT_REQUEUE:
        return "preempted", "preempted: checkpointed, to be run again"
    if returncode == EXIT_OK:
        return "error", "the trainer returned without writing summary.json"
    return "error", f"exit code {returncode}"


def run_subprocess(run_dirs, trainer: str = DEFAULT_TRAINER, attempt: int | None = None,
                   cpus: int | None = None) -> dict[str, tuple[str, str]]:
    """Run one worker (a run or a pack) to completion (the body of a Ray task or a Slurm job);
    returns {run folder name: (kind, detail)} (`outcome`)."""
    run_dirs = _dirs(run_dirs)
    proc = spawn(run_dirs, trainer, attempt, cpus=cpus)
    try:
        code = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return {d.name: outcome(code, d) for d in run_dirs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scaling.sweep.worker")
    parser.add_argument("run_dir", nargs="+", help="a run folder, or several: a pack trained together")
    parser.add_argument("--trainer", default=DEFAULT_TRAINER)
    args = parser.parse_args(argv)
    return run_one(args.run_dir, args.trainer)


if __name__ == "__main__":
    sys.exit(main())
