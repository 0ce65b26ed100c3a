"""The Slurm engine's real path (submitit's SlurmExecutor, one job array, sacct polling) against the
fake Slurm of `tests/fake_slurm.py`: job ids in the books, and a relaunch after the launcher was
killed that leaves live jobs alone, resubmits only the dead, and duplicates nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import fake_slurm
import scaling
from scaling.sweep import books

FAKE = f"{Path(__file__).resolve().parent / 'sweep_fake_trainer.py'}:train"
STABLE = ["run_id", "step", "recipe", "train/loss", "eval/loss/text", "model.width"]

pytest.importorskip("submitit")


def _sweep(tmp_path: Path, widths) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({
        "recipes": {"baseline": {"model": {"width": 16}, "train": {"tokens": 20000, "batch_size": 4, "eval_points": 4}}},
        "grid": {"model.width": widths}, "resources": {"retries": 1, "slurm": {"cluster": "slurm"}}}))
    return path


def _launch(sweep: Path, out: Path, env: dict, workers: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "scaling.cli", "sweep", "run", str(sweep), "--out", str(out), "--backend", "slurm",
           "--workers", str(workers), "--trainer", FAKE]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _started(out: Path) -> dict[str, int]:
    """Worker starts per run (the attempt headers in each log.txt)."""
    return {p.name: sum(line.startswith("=== ") for line in (p / "log.txt").read_text().splitlines())
            if (p / "log.txt").exists() else 0 for p in (out / "runs").iterdir()}


@pytest.mark.slow  # over 10 s (a fake cluster's timed jobs, two launcher processes); the full run has it
def test_slurm_job_array_relaunch_skips_live_jobs(tmp_path):
    env = fake_slurm.install(tmp_path / "bin", tmp_path / "slurm")
    env["FAKE_STEP_S"] = "0.3"
    sweep, out = _sweep(tmp_path, [16, 24, 32, 40, 48, 56]), tmp_path / "out"
    first = _launch(sweep, out, env, workers=3)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill the launcher once a run is committed and others are pending
        committed = [p for p in (out / "runs").glob("*") if (p / "summary.json").exists()] if (out / "runs").is_dir() else []
        if committed:
            break
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)
    first.wait()
    tasks = fake_slurm.tasks(tmp_path / "slurm")
    assert len(tasks) == 6  # one array of 6 tasks
    state = {p.stem: books.read_state(out, p.stem) for p in (out / "runs").iterdir()}
    assert all(s["job_id"] in tasks for s in state.values())  # every run's job id is in its books
    pending = sorted(t for t, info in tasks.items() if info["state"] == "PENDING")
    assert pending, "every job started before the relaunch: nothing to test"
    victim = pending[-1]
    subprocess.run(["scancel", victim], env=env, check=True)
    alive = {t for t, info in fake_slurm.tasks(tmp_path / "slurm").items() if info["state"] in fake_slurm.ALIVE}

    second = _launch(sweep, out, env, workers=3)
    log, _ = second.communicate(timeout=180)
    assert second.returncode == 0, log
    after = fake_slurm.tasks(tmp_path / "slurm")
    resubmitted = set(after) - set(tasks)
    starts = _started(out)
    duplicated = {rid: n for rid, n in starts.items() if n > 1}
    print(f"relaunch: {len(alive)} runs alive, {len(resubmitted)} resubmitted, {len(duplicated)} duplicated")
    assert len(resubmitted) == 1 and not duplicated  # only the cancelled run's job is submitted again
    assert set(starts.values()) == {1}
    runs = scaling.load_runs(out)
    assert len(runs) == 6 and set(runs["status"]) == {"done"}
    victim_run = next(rid for rid, s in state.items() if s["job_id"] == victim)
    history = books.read_state(out, victim_run)["history"]
    assert history[-1]["job_id"] in resubmitted and history[-1]["outcome"] == "done"
