"""The local engine: one worker process per run, at most `workers` at a time.

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
from scaling.sweep.engine import Event, settle

POLL_S = 0.05


def execute(jobs: list, *, workers: int, retries: int, trainer: str, resources: dict, sweep_dir,
            on_event: Callable) -> None:
    queue = deque(jobs)
    running: dict[str, tuple] = {}  # run_id -> (Popen, job, monotonic start)
    try:
        while queue or running:
            while queue and len(running) < workers:
                job = queue.popleft()
                job.attempt += 1
                proc = worker.spawn(job.run_dir, trainer, job.attempt, cpus=resources.get("cpus"))
                job.job_id = f"pid {proc.pid}"
                running[job.spec.run_id] = (proc, job, time.monotonic())
                on_event(Event("start", job))
            finished = [(rid, entry) for rid, entry in running.items() if entry[0].poll() is not None]
            for rid, (proc, job, t0) in finished:
                del running[rid]
                kind, detail = worker.outcome(proc.returncode, job.run_dir)
                seconds = time.monotonic() - t0
                settle(job, kind, detail, seconds, retries, queue, on_event)
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
