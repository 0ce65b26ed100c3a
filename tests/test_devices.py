"""GPUs per worker: round-robin CUDA_VISIBLE_DEVICES, shares of a card, hidden GPUs for CPU runs;
Slurm refuses a fraction of a GPU. No GPU is needed: the visible ones are named by the environment."""

import json
import subprocess
import sys

import pytest

from scaling.cli import main
from scaling.sweep.devices import device_env, visible_gpus

GPUS = ["0", "1", "2", "3"]


def test_whole_gpus_go_round_robin_over_the_visible_ones():
    assert [device_env(1, slot, GPUS)["CUDA_VISIBLE_DEVICES"] for slot in range(6)] == ["0", "1", "2", "3", "0", "1"]
    assert [device_env(2, slot, GPUS)["CUDA_VISIBLE_DEVICES"] for slot in range(3)] == ["0,1", "2,3", "0,1"]
    assert "XLA_PYTHON_CLIENT_MEM_FRACTION" not in device_env(1, 0, GPUS, workers=4)
    # 4 workers on one card: each may take a quarter of 90% of its memory, not 75% each
    assert device_env(1, 3, ["0"], workers=4) == {"CUDA_VISIBLE_DEVICES": "0", "XLA_PYTHON_CLIENT_MEM_FRACTION": "0.225"}


def test_a_share_of_a_card_sets_the_memory_fraction():
    envs = [device_env(0.25, slot, GPUS) for slot in range(8)]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["0", "0", "0", "0", "1", "1", "1", "1"]
    assert {e["XLA_PYTHON_CLIENT_MEM_FRACTION"] for e in envs} == {"0.250"}


def test_cpu_runs_do_not_see_the_gpus_and_nothing_is_set_without_gpus():
    assert device_env(0, 0, GPUS) == {"CUDA_VISIBLE_DEVICES": ""}
    assert device_env(1, 0, []) == {}


def test_visible_gpus_follow_the_launchers_environment(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert visible_gpus() == ["3", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []


TRAINER = '''
import json, os
from pathlib import Path
from scaling import config as C, records

def train(cfg, run_dir):
    records.prepare_run_dir(run_dir, C.to_dict(cfg), C.run_id(cfg))
    seen = {k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "XLA_PYTHON_CLIENT_MEM_FRACTION")}
    records.write_summary(run_dir, {"run_id": C.run_id(cfg), "status": "done", "env": seen})
    return records.read_summary(run_dir)
'''


def _sweep(tmp_path, gpus):
    (tmp_path / "env_trainer.py").write_text(TRAINER)
    path = tmp_path / "gpus.yaml"
    path.write_text("recipes:\n  baseline: {train: {tokens: 20000, batch_size: 4}}\n"
                    f"grid:\n  model.width: [16, 24, 32, 48]\nresources: {{gpus: {gpus}}}\n")
    return path


def test_the_local_engine_gives_each_worker_its_own_gpu(tmp_path, monkeypatch, capsys):
    sweep = _sweep(tmp_path, 1)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # the launcher's environment; workers are processes
    assert main(["sweep", "run", str(sweep), "--out", str(tmp_path / "out"), "--workers", "2",
                 "--trainer", f"{tmp_path / 'env_trainer.py'}:train"]) == 0, capsys.readouterr().err
    seen = [json.loads(p.read_text())["env"] for p in (tmp_path / "out" / "runs").glob("*/summary.json")]
    assert len(seen) == 4 and {s["CUDA_VISIBLE_DEVICES"] for s in seen} <= {"0", "1"}
    assert all(s["XLA_PYTHON_CLIENT_MEM_FRACTION"] is None for s in seen)  # 2 workers, 2 GPUs: no sharing


def test_slurm_refuses_a_fraction_of_a_gpu_before_writing_anything(tmp_path):
    pytest.importorskip("submitit")
    sweep = _sweep(tmp_path, 0.5)
    # a real process: in-process after tests/test_branches.py's runs, this refusal ended the pytest
    # process ("lost sys.stderr": something wrote to an earlier test's closed capture)
    cmd = [sys.executable, "-m", "scaling.cli", "sweep", "run", str(sweep), "--out", str(tmp_path / "out"),
           "--backend", "slurm"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "resources.gpus" in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()
