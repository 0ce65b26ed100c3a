"""The local engine: one worker process per pack of runs, at most `workers` at a time.

A crash in one run cannot take down the others (each is its own process, its output in its own
log). Infrastructure failures (a worker killed by a signal, out of memory) are retried up to
`retries` times; anything else, and `diverged`, is final. Workers die with the launcher (Linux
parent-death signal), and a run's lock keeps any leftover worker from writing beside a new one.
"""

from __future__ import annotations

import subprocess
import time
from collections import deque
from typing import Callable

from scaling.sweep import worker
from scaling.sweep.devices import device_env, visible_gpus
from scaling.sweep.engine import Event, settle_pack

POLL_S = 0.05


def execute(packs: list, *, workers: int, retries: int, trainer: str, resources: dict, sweep_dir,
            on_event: Callable) -> None:
    """Each worker gets its own GPU (or share of one) from `resources.gpus` (`scaling.sweep.devices`)."""
    queue = deque(packs)
    running: dict[int, tuple] = {}  # worker slot -> (Popen, pack, monotonic start)
    gpus = visible_gpus()
    try:
        while queue or running:
            while queue and len(running) < workers:
                pack = queue.popleft()
                slot = min(set(range(workers)) - set(running))
                for job in pack:
                    job.attempt += 1
                proc = worker.spawn([j.run_dir for j in pack], trainer, pack[0].attempt, cpus=resources.get("cpus"),
                                    env=device_env(resources.get("gpus", 0), slot, gpus, workers))
                running[slot] = (proc, pack, time.monotonic())
                for job in pack:
                    job.job_id = f"pid {proc.pid}"
                    on_event(Event("start", job))
            finished = [(slot, entry) for slot, entry in running.items() if entry[0].poll() is not None]
            for slot, (proc, pack, t0) in finished:
                del running[slot]
                outcomes = {j.run_dir.name: worker.outcome(proc.returncode, j.run_dir) for j in pack}
                settle_pack(pack, outcomes, time.monotonic() - t0, retries, queue, on_event)
            if not finished:
                time.sleep(POLL_S)
    finally:  # interrupted (Ctrl-C): stop our workers; their runs resume next time
        for proc, _, _ in running.values():
            _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
