"""Preemption: a signal asks the training loop to checkpoint and exit, to be requeued.

Slurm sends SIGUSR2 (`--signal=USR2@90`, as submitit sets it) or SIGTERM before it preempts or
times out a job; a plain SIGKILL gives nothing. The handler only sets a flag; the loop checks it
after each step, saves a checkpoint at that step and raises `Preempted`, which the sweep worker
(`scaling.sweep.worker`) turns into exit code EXIT_REQUEUE, and `scaling train` too. A requeued
run resumes from that checkpoint, so a preemption costs no steps.

    guard = preemption.install()          # once, before the loop (main thread)
    for step in range(start, steps):
        ...one step...
        if guard.requested:
            checkpoint.save(run_dir, step + 1, state, meta)
            raise preemption.Preempted(step + 1, guard.signal_name)
    guard.uninstall()                     # optional: the old handlers come back

A second signal while the loop is still finishing its step is ignored (the flag is already set);
the scheduler's SIGKILL after its grace time ends the process in any case.
"""

from __future__ import annotations

import signal
import threading

SIGNALS = (signal.SIGTERM, signal.SIGUSR2)
# The worker's exit-code contract (scaling.sweep.worker): 0 committed, 1 error, 75 infrastructure
# failure (retried, counts against retries); this one: checkpointed on request, run it again.
EXIT_REQUEUE = 76


class Preempted(Exception):
    """Raised by a training loop that checkpointed at `step` because `signal_name` asked it to stop."""

    def __init__(self, step: int, signal_name: str | None = None):
        super().__init__(f"preempted by {signal_name or 'a signal'}: checkpointed at step {step}")
        self.step = step
        self.signal_name = signal_name


class Guard:
    """The flag a loop checks; set by the signal handler (or by `request`, e.g. in tests)."""

    def __init__(self, signals=SIGNALS):
        self.signals = tuple(signals)
        self.signal_name: str | None = None
        self._event = threading.Event()
        self._previous: dict = {}

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def request(self, signum: int | None = None) -> None:
        if not self._event.is_set():
            self.signal_name = signal.Signals(signum).name if signum else "request"
            self._event.set()

    def _handle(self, signum, frame) -> None:  # noqa: ARG002 - the signal module's signature
        self.request(signum)

    def install(self) -> "Guard":
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def uninstall(self) -> None:
        for sig, old in self._previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
        self._previous.clear()


def install(signals=SIGNALS) -> Guard:
    """A Guard whose handlers are installed for `signals` (SIGTERM, SIGUSR2); main thread only."""
    return Guard(signals).install()
