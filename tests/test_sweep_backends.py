"""Ray (a local `ray.init(num_cpus=2)`) and submitit (its local executor) run the same sweep as the
local engine: same run ids, same records, same resume behaviour."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import scaling
from scaling.cli import main

FAKE = f"{Path(__file__).resolve().parent / 'sweep_fake_trainer.py'}:train"
BASE = {"model": {"width": 16}, "train": {"tokens": 20000, "batch_size": 4, "eval_points": 3}}
STABLE = ["run_id", "step", "recipe", "train/loss", "eval/loss/text", "model.width", "model.mlp_ratio"]


def sweep_file(tmp_path: Path, **resources) -> Path:
    path = tmp_path / "s.yaml"
    # mlp_ratio 7: the worker is killed on its first attempt, so the engine must retry it
    path.write_text(yaml.safe_dump({"recipes": {"baseline": BASE},
                                    "grid": {"model.width": [16, 32], "model.mlp_ratio": [4, 7]},
                                    "resources": {"retries": 2, **resources}}))
    return path


def records(out: Path):
    return scaling.load(out)[STABLE].sort_values(["run_id", "step"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def local_records(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("local")
    out = tmp / "out"
    assert main(["sweep", "run", str(sweep_file(tmp)), "--out", str(out), "--trainer", FAKE]) == 0
    return records(out)


def _attempts(out: Path) -> int:
    return sum(len([h for h in (p / "log.txt").read_text().splitlines() if h.startswith("=== ")])
               for p in (out / "runs").iterdir())


def test_ray_backend(tmp_path, local_records):
    ray = pytest.importorskip("ray")
    out = tmp_path / "out"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=200 * 2**20)
    try:
        sweep = sweep_file(tmp_path)
        assert main(["sweep", "run", str(sweep), "--out", str(out), "--backend", "ray", "--workers", "2",
                     "--trainer", FAKE]) == 0
        assert _attempts(out) == 4 + 2  # the two mlp_ratio=7 runs were retried by the launcher
        states = [json.loads(p.read_text()) for p in (out / "state").iterdir()]
        retried = [s for s in states if s["attempts"] == 2]
        assert len(retried) == 2  # every attempt in the books, each with its own Ray task
        assert all([a["outcome"] for a in s["history"]] == ["retry", "done"] for s in retried)
        assert len({a["job_id"] for s in retried for a in s["history"]}) == 4
        assert all(not s["whole"] for s in retried) and all(s["whole"] for s in states if s["attempts"] == 1)
        assert main(["sweep", "run", str(sweep), "--out", str(out), "--backend", "ray", "--trainer", FAKE]) == 0
        assert _attempts(out) == 6  # nothing ran again
    finally:
        ray.shutdown()
    assert records(out).equals(local_records)


def test_submitit_local_backend(tmp_path, local_records):
    pytest.importorskip("submitit")
    out = tmp_path / "out"
    sweep = sweep_file(tmp_path, slurm={"cluster": "local", "timeout_min": 5})
    # a half-done run (as after a preemption) resumes from its checkpoint
    args = ["sweep", "run", str(sweep), "--out", str(out), "--backend", "slurm", "--workers", "2", "--trainer", FAKE]
    assert main(args) == 0
    assert _attempts(out) == 4 + 2
    assert (out / "submitit").is_dir()
    victim = next((out / "runs").iterdir())
    (victim / "summary.json").unlink()
    book = out / "state" / f"{victim.name}.json"  # booked as a preempted run is: not committed
    book.write_text(json.dumps({**json.loads(book.read_text()), "status": "running"}))
    lines = (victim / "metrics.jsonl").read_text().splitlines()
    (victim / "metrics.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:10])  # torn tail
    assert main(args) == 0
    assert records(out).equals(local_records)
    assert json.loads((victim / "summary.json").read_text())["status"] == "done"


def test_unknown_backend_is_a_one_line_error(tmp_path, capsys):
    assert main(["sweep", "run", str(sweep_file(tmp_path)), "--out", str(tmp_path / "o"),
                 "--backend", "mpi", "--trainer", FAKE]) == 2
    assert "unknown backend 'mpi'" in capsys.readouterr().err
