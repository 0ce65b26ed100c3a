"""The RL report's controls: the gain claim per recipe, pass@k beside its controls, the random
arm kept out of the trajectories' claims, and the test-time study repeated on the starting model."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from chain_vocab import chain_vocabulary
from scaling import config, rl
from scaling.claims import record
from scaling.errors import ConfigError
from scaling.report import rl as report_rl
from scaling.rl import problems as P
from scaling.train import train

PRE = {"model.width": 32, "data.val_examples": 16, "train.batch_size": 8, "train.eval_batch_size": 16,
       "train.tokens": 8 * 320 * 12, "train.eval_points": 2}
RL = {"steps": 3, "checkpoint_every": 10, "problems.kind": "reasoning", "problems.train": 16, "problems.heldout": 8,
      "problems.difficulty": "1,2", "grpo.problems": 4, "sampling.group": 4, "sampling.max_len": 10, "eval.samples": 4,
      "eval.k": "1,4", "eval.train_problems": 4, "eval.chunk": 4, "eval.points": 2}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A sweep folder: one pretrained run and one RL run from it, in the sweep layout."""
    with chain_vocabulary():
        P._build_reasoning.cache_clear()
        root = tmp_path_factory.mktemp("rep")
        assert train(config.load(None, PRE), root / "pre")["status"] == "done"
        assert rl.run(rl.load(None, RL), root / "rl", root / "pre")["status"] == "done"
        pre_id = json.loads((root / "pre" / "config.json").read_text())["run_id"]
        rid = json.loads((root / "rl" / "config.json").read_text())["run_id"]
        shutil.copytree(root / "pre", root / "sweep" / "pretrained" / "runs" / pre_id)
        shutil.copytree(root / "rl", root / "sweep" / "runs" / rid)
        yield root / "sweep", rid, pre_id
        P._build_reasoning.cache_clear()


def _records(rid, pre_id, seeds=5):
    """RL records of a baseline recipe (RL gains 0.3) and a random-reward arm (gains 0.05)."""
    rng, rows = np.random.default_rng(0), []
    for recipe, gain, reward in (("baseline", 0.3, "verifier"), ("control", 0.05, "random")):
        for seed in range(seeds):
            for j, step in enumerate([0, 1, 2, 3, 5, 8, 13, 20, 30, 40]):
                f = j / 9
                rows.append({"run_id": rid if (recipe, seed) == ("baseline", 0) else f"{recipe}{seed}", "seed": seed,
                             "recipe": recipe, "grpo.reward": reward, "pretrained/run_id": pre_id,
                             "grpo.length_coef": 0.0, "step": step, "rl/flops": step * 1e9,
                             "eval/think/heldout/mean": 5 + j * 0.1 + rng.normal(0, 0.3),
                             "eval/pass@1/heldout": 0.2 + gain * f + rng.normal(0, 0.01) * (j > 0),
                             "eval/pass@16/heldout": 0.6 + gain * f + rng.normal(0, 0.01) * (j > 0),
                             "eval/greedy/pass@1/heldout": 0.25, "eval/guess/pass@1/heldout": 0.1,
                             "eval/guess/pass@16/heldout": 0.7})
    return pd.DataFrame(rows)


def test_report_judges_gain_shows_controls_and_studies_the_starting_model(sweep, tmp_path):
    runs, rid, pre_id = sweep
    df = _records(rid, pre_id)
    cfg = report_rl.settings({"group": "grpo.length_coef", "length": "eval/think/heldout/mean", "min_seg": 2,
                              "bootstrap": 50, "testtime": {"run": {"recipe": "baseline", "seed": 0}, "m": "1,2",
                                                            "problems": 4, "start": True}}, "t.yaml")
    with chain_vocabulary():
        res = report_rl.write(df, tmp_path / "rep", cfg, runs=runs, sweep_name="t", timings={})
    verdicts = [record.validate(r) for r in res["verdicts"]]
    gains = [r for r in verdicts if r["claim"] == "gain"]
    assert [r["subject"] for r in gains] == ["baseline: eval/pass@1/heldout, eval/pass@16/heldout"]
    g = res["gain"][0]["details"]["metrics"]
    p1 = g["grpo.length_coef=0.0: eval/pass@1/heldout"]["controls"]
    assert set(p1) == {"start greedy", "start sampled", "random reward", "guess"}
    assert p1["random reward"]["verdict"] == "supported" and p1["start greedy"]["control"] == pytest.approx(0.25)
    # pass@16: guessing reaches 0.7 at k = 16 (start 0.6): the gain over the guess is only ~0.2
    assert g["grpo.length_coef=0.0: eval/pass@16/heldout"]["controls"]["guess"]["control"] == pytest.approx(0.7)
    # the random arm is not part of the trajectories' claims
    rl_rows = int((df["grpo.reward"] == "verifier").sum())
    assert {r["claim"]: r["inputs"]["rows"] for r in verdicts if r["claim"] in ("phases", "loglinear")} == \
        {"phases": rl_rows, "loglinear": rl_rows}
    md = (tmp_path / "rep" / "summary.md").read_text()
    assert "## Pass@k beside its controls" in md and "## Gain claim" in md and "random reward" in md
    assert "| 0.0 | control | 5 | eval/pass@1/heldout |" in md
    # the test-time study of the starting model: the pretrained run, on the RL run's problems and budget
    start = res["testtime_start"]["summary"]
    assert start["run_id"] == pre_id and start["stage"] == "pretrain" and res["testtime"]["summary"]["stage"] == "rl"
    for key in ("kind", "max_len", "problems", "M", "seeds", "temperature"):
        assert start[key] == res["testtime"]["summary"][key]
    assert start["problem_config"]["difficulty"] == RL["problems.difficulty"]
    assert (runs / "testtime" / f"{rid}-start" / "summary.json").is_file()
    assert "## Test-time accuracy: RL run against its starting model" in md
    assert sum(r["claim"] == "parallel" for r in verdicts) == 6


def test_testtime_start_must_be_a_boolean():
    with pytest.raises(ConfigError, match="report.testtime.start"):
        report_rl.settings({"testtime": {"run": {"seed": 0}, "start": "yes"}}, "t.yaml")
    assert report_rl.settings({"testtime": {"run": {"seed": 0}}}, "t.yaml")["testtime"]["start"] is False
