"""Preemption (`scaling.preemption`): a signal makes the loop checkpoint where it is and exit with
EXIT_REQUEUE; the run resumes from there, so a preemption loses no steps. In-process with a fake
loop, and end to end through the sweep worker and the local engine."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import yaml

from scaling import preemption, records
from scaling.cli import main
from scaling.sweep import books, lock, worker

FAKE = f"{Path(__file__).resolve().parent / 'sweep_fake_trainer.py'}:train"


def fake_loop(state: dict, steps: int, ckpt_every: int, signal_at: int | None, signum=signal.SIGUSR2) -> list[int]:
    """Steps from state['ckpt'] to `steps`, checkpointing every `ckpt_every` and on request; returns the
    steps it ran. Sends itself `signum` during step `signal_at`, as Slurm would."""
    ran = []
    guard = preemption.install()
    try:
        for step in range(state["ckpt"] + 1, steps + 1):
            if step == signal_at:
                os.kill(os.getpid(), signum)
            ran.append(step)
            if step % ckpt_every == 0 or guard.requested:
                state["ckpt"] = step
            if guard.requested and step < steps:
                raise preemption.Preempted(step, guard.signal_name)
    finally:
        guard.uninstall()
    return ran


@pytest.mark.parametrize("signum", [signal.SIGUSR2, signal.SIGTERM])
def test_a_preempted_loop_loses_no_steps(signum):
    state, ran = {"ckpt": 0}, []
    previous = signal.getsignal(signum)
    with pytest.raises(preemption.Preempted) as err:
        fake_loop(state, 100, ckpt_every=25, signal_at=37, signum=signum)
    assert err.value.step == 37 and err.value.signal_name == signal.Signals(signum).name
    assert state["ckpt"] == 37  # without the handler the run would resume from 25: 12 steps lost
    ran = fake_loop(state, 100, ckpt_every=25, signal_at=None)
    assert ran[0] == 38 and ran[-1] == 100  # steps lost per preemption: 0
    assert signal.getsignal(signum) is previous  # handlers given back


def test_worker_exit_code_contract():
    assert preemption.EXIT_REQUEUE not in (worker.EXIT_OK, worker.EXIT_ERROR, worker.EXIT_INFRA)
    assert worker.outcome(preemption.EXIT_REQUEUE, "/nonexistent")[0] == "preempted"
    assert worker.outcome(128 + 9, "/nonexistent") == ("infra", "killed by SIGKILL")
    assert worker.outcome(1, "/nonexistent")[0] == "error"


def test_preemption_through_the_worker_and_local_engine(tmp_path, monkeypatch):
    """SIGTERM to a run's worker mid-run: it checkpoints, exits 76, the engine runs it again (not
    counted against --retries 0), and the run ends with each step trained once."""
    monkeypatch.setenv("FAKE_STEP_S", "0.25")
    sweep = tmp_path / "s.yaml"
    sweep.write_text(yaml.safe_dump({"recipes": {"baseline": {"model": {"width": 16},
                                                              "train": {"tokens": 20000, "batch_size": 4,
                                                                        "eval_points": 7}}}}))
    out = tmp_path / "out"
    sent = []

    def preempt():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not sent:
            for run_dir in (out / "runs").glob("*") if (out / "runs").is_dir() else []:
                steps = (run_dir / "fake_steps").read_text().split() if (run_dir / "fake_steps").exists() else []
                pid = lock.holder(run_dir).get("pid") if lock.is_locked(run_dir) else None
                if len(steps) >= 3 and pid:
                    os.kill(pid, signal.SIGTERM)
                    sent.append(int(steps[-1]))
            time.sleep(0.05)

    thread = threading.Thread(target=preempt)
    thread.start()
    assert main(["sweep", "run", str(sweep), "--out", str(out), "--trainer", FAKE, "--retries", "0"]) == 0
    thread.join()
    assert sent, "the run finished before it could be preempted"
    run_dir = next((out / "runs").iterdir())
    steps = [int(s) for s in (run_dir / "fake_steps").read_text().split()]
    assert steps == list(range(1, 8))  # every step trained exactly once: 0 steps lost
    assert records.read_summary(run_dir)["status"] == "done"
    history = books.read_state(out, run_dir.name)["history"]
    assert [a["outcome"] for a in history] == ["retry", "done"] and "preempted" in history[0]["detail"]
