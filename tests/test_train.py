"""Training: records, determinism, resume after SIGKILL, NaN guard, and learning from the image."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from scaling import config, flops, records
from scaling.errors import ConfigError
from scaling.train import eval_steps, train

TINY = {"model.width": 32, "data.val_examples": 32, "train.batch_size": 8, "train.eval_batch_size": 32,
        "train.tokens": 8 * 320 * 40, "train.checkpoint_every": 100}  # a few checkpoints: each costs time
RESUME = {**TINY, "train.checkpoint_every": 7}  # many checkpoints, for kills to land between them
KILLS = 5  # kills at random moments before the run is let finish: each attempt is a fresh process
MEASURED = ("time/", "throughput/")  # wall-clock measurements, the only fields allowed to differ


def _tiny(**extra):
    return config.load(None, {**TINY, **extra})


def _stable(recs):
    return [{k: v for k, v in r.items() if not k.startswith(MEASURED)} for r in recs]


def test_eval_steps_are_log_spaced_and_end_at_the_last_step():
    steps = eval_steps(1000, 8)
    assert len(steps) == 8 and steps[-1] == 1000
    ratios = [b / a for a, b in zip(steps, steps[1:])]
    assert max(ratios) / min(ratios) < 1.2


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(summary, folder) of the tiny run trained once; tests that change the folder use a copy."""
    run = tmp_path_factory.mktemp("tiny") / "run"
    return train(_tiny(), run), run


def test_run_writes_records_with_exact_compute(trained, tmp_path):
    cfg = _tiny()
    summary = trained[0]
    shutil.copytree(trained[1], tmp_path / "run")
    assert summary["status"] == "done"
    recs = records.read_metrics(tmp_path / "run")
    assert len(recs) >= 8
    cost = flops.step_cost(cfg)
    for r in recs:
        assert r["compute/flops"] == r["step"] * cost.flops
        assert r["tokens/total"] == r["tokens/image"] + r["tokens/text"] == r["step"] * cost.tokens
        assert {f"eval/loss/{s}" for s in ("caption", "qa", "text", "interleaved")} <= r.keys()
        assert r["run_id"] == config.run_id(cfg)
    assert recs[-1]["eval/loss/caption"] < recs[0]["eval/loss/caption"]
    assert not (tmp_path / "run" / "checkpoint").exists()
    # A committed run is not trained again.
    mtime = os.path.getmtime(tmp_path / "run" / "metrics.jsonl")
    assert train(cfg, tmp_path / "run") == summary
    assert os.path.getmtime(tmp_path / "run" / "metrics.jsonl") == mtime


@pytest.mark.slow  # determinism in the fast set: tests/test_branches.py::test_branch_runs_are_deterministic
def test_same_config_and_seed_give_identical_records(trained, tmp_path):
    cfg = _tiny()
    train(cfg, tmp_path / "b")  # a second, separate training of the fixture's config
    a, b = records.read_metrics(trained[1]), records.read_metrics(tmp_path / "b")
    assert _stable(a) == _stable(b)
    other = _tiny(seed=1)
    train(other, tmp_path / "c")
    assert _stable(records.read_metrics(tmp_path / "c")) != _stable(a)


@pytest.mark.slow
def test_resume_after_sigkill_gives_the_same_records(tmp_path):
    """Kill `scaling train` at random moments, start it again, compare with an uninterrupted run.

    Each attempt is killed at a random delay after it reports an evaluation, so every attempt
    makes progress and the kills land mid-step, mid-evaluation or mid-checkpoint; after `KILLS`
    kills the last attempt runs to the end.
    """
    import random

    cfg = config.load(None, RESUME)
    train(cfg, tmp_path / "ref")
    ref = _stable(records.read_metrics(tmp_path / "ref"))
    run = tmp_path / "killed"
    cmd = [sys.executable, "-m", "scaling.cli.__main__", "train", "--out", str(run)]
    cmd += [a for k, v in RESUME.items() for a in ("--set", f"{k}={v}")]
    rng, kills = random.Random(0), 0
    for attempt in range(20):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                start_new_session=True)
        reported = False
        for line in iter(proc.stdout.readline, ""):
            if line.startswith("step"):  # an evaluation was written: interrupt what follows it
                reported = True
                break
        if not reported:  # the attempt finished without a new evaluation to interrupt
            proc.wait()
            break
        time.sleep(rng.uniform(0.0, 0.4))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        proc.stdout.close()
        if records.is_committed(run) or kills >= KILLS:
            break
    if not records.is_committed(run):
        assert subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode == 0
    assert kills >= 3, f"only {kills} kills landed"
    assert _stable(records.read_metrics(run)) == ref


def test_nan_guard_marks_the_run_diverged(tmp_path):
    summary = train(_tiny(**{"optim.lr": 1e30, "optim.warmup": 0.0, "optim.clip_norm": 1e30}), tmp_path / "nan")
    assert summary["status"] == "diverged"
    assert 1 <= summary["diverged_step"] <= summary["steps_planned"]
    assert records.read_summary(tmp_path / "nan")["status"] == "diverged"


def test_folder_with_another_config_is_refused_untouched(trained, tmp_path):
    shutil.copytree(trained[1], tmp_path / "run")
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()}
    with pytest.raises(ConfigError, match="different config"):
        train(_tiny(seed=3), tmp_path / "run")
    assert before == {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()}


def test_budget_below_one_step_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="train.tokens"):
        train(_tiny(**{"train.tokens": 10}), tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_early_fusion_learns_from_the_image(tmp_path):
    """Same examples and steps: the early model's caption loss is clearly below the blind control's."""
    losses = {}
    for family in ("early", "blind"):
        base = config.load(None, {"model.family": family, "model.width": 64, "data.mix_caption": 1.0,
                                  "data.mix_qa": 0.0, "data.mix_text": 0.0, "data.mix_interleaved": 0.0,
                                  "train.batch_size": 16, "data.val_examples": 64, "optim.lr": 3e-3})
        steps = 300
        cfg = config.load(None, {**config.flatten(config.to_dict(base)),
                                 "train.tokens": steps * flops.step_cost(base).tokens})
        train(cfg, tmp_path / family)
        losses[family] = records.read_metrics(tmp_path / family)[-1]["eval/loss/caption"]
    json.dump(losses, sys.stdout)
    assert losses["early"] < losses["blind"] - 0.1, losses


def test_relative_run_directory(tmp_path, monkeypatch):
    """Checkpoints (orbax needs absolute paths) and final parameters work from a relative --out."""
    monkeypatch.chdir(tmp_path)
    assert train(_tiny(), "rel/run")["status"] == "done"
    assert (tmp_path / "rel" / "run" / "final").is_dir()
