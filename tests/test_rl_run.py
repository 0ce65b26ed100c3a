"""RL runs: records and compute, determinism, resume after SIGKILL, bad input (exit 2)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from scaling import config, records
from scaling import rl
from scaling.cli import main
from scaling.train import train

PRE = {"model.width": 32, "data.val_examples": 16, "train.batch_size": 8, "train.eval_batch_size": 16,
       "train.tokens": 8 * 320 * 20, "train.eval_points": 2}
RL = {"steps": 10, "checkpoint_every": 2, "problems.train": 32, "problems.heldout": 12, "grpo.problems": 4,
      "sampling.group": 4, "sampling.max_len": 4, "eval.samples": 4, "eval.k": "1,2,4",
      "eval.train_problems": 8, "eval.chunk": 4, "eval.points": 8, "optim.lr": 1e-3, "grpo.kl": 0.05}
MEASURED = ("time/",)


def _stable(recs):
    return [{k: v for k, v in r.items() if not k.startswith(MEASURED)} for r in recs]


def _args(d):
    return [a for k, v in d.items() for a in ("--set", f"{k}={v}")]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    run = tmp_path_factory.mktemp("pre") / "run"
    assert train(config.load(None, PRE), run)["status"] == "done"
    return run


@pytest.fixture(scope="module")
def reference(pretrained, tmp_path_factory):
    out = tmp_path_factory.mktemp("rl") / "ref"
    summary = rl.run(rl.load(None, RL), out, pretrained)
    return out, summary


def test_records_hold_compute_and_pass_at_k_at_log_spaced_points(reference, pretrained):
    out, summary = reference
    assert summary["status"] == "done"
    recs = records.read_metrics(out)
    cfg = json.loads((out / "config.json").read_text())
    pre_id = json.loads((pretrained / "config.json").read_text())["run_id"]
    assert cfg["stage"] == "rl" and cfg["pretrained"] == pre_id and cfg["pretrained_config"]["model"]["width"] == 32
    assert cfg["run_id"] == rl.run_id(rl.with_pretrained(rl.load(None, RL), pre_id)) == recs[0]["run_id"]
    steps = [r["step"] for r in recs]
    assert steps[0] == 0 and steps[-1] == RL["steps"] and len(steps) >= 1 + 8 and steps == sorted(set(steps))
    assert recs[0]["rl/flops"] == 0
    for a, b in zip(recs, recs[1:]):
        assert b["rl/flops"] > a["rl/flops"] and b["rl/flops_sampling"] > a["rl/flops_sampling"]
    for r in recs:
        assert r["rl/flops"] == pytest.approx(r["rl/flops_sampling"] + r["rl/flops_update"] + r["rl/flops_reference"])
        assert r["rl/rollouts"] == r["step"] * 4 * 4  # every rollout counted, filtered or not
        for name in ("train", "heldout"):
            p = [r[f"eval/pass@{k}/{name}"] for k in (1, 2, 4)]
            assert 0 <= p[0] <= p[1] <= p[2] <= 1
            assert 1 <= r[f"eval/length/{name}"] <= RL["sampling.max_len"]
            assert f"eval/reward/{name}" in r
            # the controls beside every pass@k: greedy decoding and the question-blind guess
            assert 0 <= r[f"eval/greedy/pass@1/{name}"] <= 1
            g = [r[f"eval/guess/pass@{k}/{name}"] for k in (1, 2, 4)]
            assert 0 <= g[0] <= g[1] <= g[2] <= 1 and 0 <= r[f"eval/guess/modal/pass@1/{name}"] <= 1
            assert g == [recs[0][f"eval/guess/pass@{k}/{name}"] for k in (1, 2, 4)]  # a property of the set
    assert recs[-1]["rl/flops_reference"] > 0 and recs[-1]["train/kl"] >= 0
    assert (out / "final").is_dir() and not (out / "checkpoint").exists()
    # a committed run is not run again
    mtime = os.path.getmtime(out / "metrics.jsonl")
    assert rl.run(rl.load(None, RL), out, pretrained) == summary
    assert os.path.getmtime(out / "metrics.jsonl") == mtime


def test_same_seed_same_records_other_seed_other_records(reference, pretrained, tmp_path):
    out, _ = reference
    rl.run(rl.load(None, RL), tmp_path / "again", pretrained)
    assert _stable(records.read_metrics(tmp_path / "again")) == _stable(records.read_metrics(out))
    rl.run(rl.load(None, {**RL, "seed": 1, "steps": 2, "eval.points": 1}), tmp_path / "seed1", pretrained)
    first = records.read_metrics(out)
    other = records.read_metrics(tmp_path / "seed1")
    assert other[0]["run_id"] != first[0]["run_id"]
    assert _stable(other)[1:] != [r for r in _stable(first) if r["step"] == 2]


@pytest.mark.slow  # about 25 s; the preemption test covers resume in the fast set
def test_random_reward_arm_pays_independently_of_correctness_and_is_deterministic(pretrained, tmp_path):
    arm = {**RL, "steps": 4, "eval.points": 2, "grpo.kl": 0.0, "grpo.reward": "random", "grpo.reward_p": 0.5}
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert rl.run(rl.load(None, arm), out, pretrained)["status"] == "done"
    recs = records.read_metrics(a)
    assert _stable(recs) == _stable(records.read_metrics(b))
    # with the verifier and no length penalty the reward is the accuracy; here it is a coin
    assert any(r["train/reward"] != r["train/accuracy"] for r in recs[1:])
    assert json.loads((a / "config.json").read_text())["grpo"]["reward"] == "random"


@pytest.mark.slow  # three processes, about 40 s; resume is in the fast set in the preemption test below
def test_resume_after_sigkill_gives_the_same_records(reference, pretrained, tmp_path):
    out, _ = reference
    run = tmp_path / "killed"
    cmd = [sys.executable, "-m", "scaling.cli.__main__", "rl", "-q", "--from", str(pretrained), "--out", str(run),
           *_args(RL)]
    kills = 0
    for wait_for in (2, 6):  # kill once a checkpoint at (or past) this step exists
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            ckpt = [int(p.name) for p in (run / "checkpoint").glob("*") if p.name.isdigit()]
            if ckpt and max(ckpt) >= wait_for:
                break
            time.sleep(0.05)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
    assert kills >= 1, "the run finished before it could be killed"
    assert not records.is_committed(run)
    assert subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode == 0
    assert _stable(records.read_metrics(run)) == _stable(records.read_metrics(out))


def _error(capsys, args):
    rc = main(args)
    err = capsys.readouterr().err.strip()
    return rc, err


def test_bad_input_is_one_line_naming_the_culprit_and_exit_2(pretrained, tmp_path, capsys):
    out = str(tmp_path / "out")
    base = ["rl", "--out", out, "-q"]
    cases = []
    cases.append((["--from", str(tmp_path / "nope")], "no such pretrained run"))
    unfinished = tmp_path / "unfinished"
    shutil.copytree(pretrained, unfinished)
    (unfinished / "summary.json").unlink()
    cases.append((["--from", str(unfinished)], "unfinished"))
    edited = tmp_path / "edited"
    shutil.copytree(pretrained, edited)
    raw = json.loads((edited / "config.json").read_text())
    raw["model"]["width"] = 64
    raw["model"]["heads"] = raw["model"]["depth"] = 0
    cfg = config.build({k: v for k, v in raw.items() if k != "run_id"})
    (edited / "config.json").write_text(json.dumps({**config.to_dict(cfg), "run_id": config.run_id(cfg)}))
    cases.append((["--from", str(edited)], "config.json: the file changed after the run was committed"))
    older = tmp_path / "older"  # the same edit in a run committed before checksums: the parameters tell
    shutil.copytree(edited, older)
    summary = json.loads((older / "summary.json").read_text())
    summary.pop("checksums")
    (older / "summary.json").write_text(json.dumps(summary))
    cases.append((["--from", str(older)], "final: checkpoint does not match"))
    stale = tmp_path / "stale"
    shutil.copytree(pretrained, stale)
    raw = json.loads((stale / "config.json").read_text())
    raw["optim"]["lr"] = 0.5
    (stale / "config.json").write_text(json.dumps(raw))
    cases.append((["--from", str(stale)], "config.json: the file changed after the run was committed"))
    ok = ["--from", str(pretrained)]
    cases.append((ok + ["--set", "eval.k=1,32", "--set", "eval.samples=16"], "eval.k"))
    cases.append((ok + ["--set", "problems.heldout=0"], "problems.heldout"))
    cases.append((ok + ["--set", "problems.tiers="], "problems.tiers"))
    cases.append((ok + ["--set", "grpo.length_penalty=shortest"], "grpo.length_penalty"))
    cases.append((ok + ["--set", "grpo.clipp=0.1"], "grpo.clipp"))
    cases.append((ok + ["--set", "grpo.reward=coin"], "grpo.reward"))
    for extra, culprit in cases:
        rc, err = _error(capsys, base + extra)
        assert rc == 2, (extra, err)
        assert len(err.splitlines()) == 1 and culprit in err, (extra, err)
    assert not (tmp_path / "out").exists()


def test_cli_runs_and_reports(pretrained, tmp_path, capsys):
    args = ["rl", "--from", str(pretrained), "--out", str(tmp_path / "cli"), *_args({**RL, "steps": 2, "eval.points": 2})]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "done:" in text and "pass@1/heldout=" in text


def test_preemption_checkpoints_at_the_step_and_resumes_to_the_same_records(reference, pretrained, tmp_path):
    from scaling.preemption import Preempted

    out = tmp_path / "pre"

    def notice(step, steps, rec):  # a scheduler's SIGUSR2 arrives during step 3's evaluation
        if step == 3:
            os.kill(os.getpid(), signal.SIGUSR2)

    with pytest.raises(Preempted) as err:
        rl.run(rl.load(None, RL), out, pretrained, progress=notice)
    assert err.value.step == 3 and not records.is_committed(out)  # checkpointed at the step it was on
    assert signal.getsignal(signal.SIGUSR2) is not None  # the old handler is back
    rl.run(rl.load(None, RL), out, pretrained)
    assert _stable(records.read_metrics(out)) == _stable(records.read_metrics(reference[0]))
    # the train log (every 10 steps) was cut back to the checkpoint and made again the same way
    from scaling import tracking

    live = lambda d: [{k: v for k, v in r.items() if not k.startswith(("time/", "throughput/"))}  # noqa: E731
                      for r in tracking.read(d)]
    assert [r["step"] for r in live(out)] == [10] and live(out) == live(reference[0])
