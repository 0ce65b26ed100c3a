"""A short GRPO run on a tiny pretrained model raises held-out pass@1 beyond seed noise."""

import json
import sys

import pytest

from scaling import config, records
from scaling import rl
from scaling.train import train

PRE = {"model.width": 32, "train.tokens": 300_000, "train.eval_points": 2}
RL = {"steps": 80, "problems.train": 2048, "problems.heldout": 256, "grpo.problems": 32, "sampling.group": 8,
      "optim.lr": 1e-3, "optim.warmup": 0.25, "eval.points": 2, "eval.train_problems": 32}


@pytest.mark.slow
def test_grpo_raises_heldout_pass_at_1_beyond_seed_noise(tmp_path):
    pre = tmp_path / "pre"
    assert train(config.load(None, PRE), pre)["status"] == "done"
    before, after = [], []
    for seed in (0, 1):
        out = tmp_path / f"rl{seed}"
        assert rl.run(rl.load(None, {**RL, "seed": seed}), out, pre)["status"] == "done"
        recs = records.read_metrics(out)
        before.append(recs[0]["eval/pass@1/heldout"])  # the same model, evaluated with this seed's keys
        after.append(recs[-1]["eval/pass@1/heldout"])
    gains = [a - b for a, b in zip(after, before)]
    # noise: how far two seeds land apart (RL seed), and how far two evaluations of one model do
    noise = max(abs(after[0] - after[1]), abs(before[0] - before[1]), 0.01)
    json.dump({"before": before, "after": after, "gains": gains, "noise": noise}, sys.stdout)
    assert min(gains) > 3 * noise, (before, after)
