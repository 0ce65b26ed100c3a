"""Problem sets, rewards and advantages, RL config."""

import json
import numpy as np
import pytest

from scaling import config
from scaling.data import check_answer, is_val_scene, tokenizer
from scaling.errors import ConfigError
from scaling.rl import config as R
from scaling.rl import grpo
from scaling.rl.problems import build


def test_train_and_heldout_sets_are_disjoint_fixed_and_tiered():
    data = config.load().data
    pc = R.ProblemConfig(train=300, heldout=150, tiers="0,1,2")
    tr, ho = build(data, pc, "train"), build(data, pc, "heldout")
    assert len(tr) == 300 and len(ho) == 150
    assert not {k[0] for k in tr.keys} & {k[0] for k in ho.keys}  # no scene in common
    assert len(set(tr.keys)) == len(tr)
    assert sorted(set(tr.tiers.tolist())) == [0, 1, 2]
    tok = tokenizer()
    for i in range(len(tr)):
        ids = tr.prompt[i, 0, :tr.prompt_len[i]].tolist()
        assert ids[0] == tok.start_id["qa"] and ids[-1] == tok.answer_id
        assert tok.decode(ids[1:-1]) == tr.questions[i]
        assert (tr.prompt[i, 0, tr.prompt_len[i]:] == 0).all()
    again = build(data, R.ProblemConfig(train=300, heldout=150, tiers="0,1,2", seed=0), "train")
    assert again.keys == tr.keys
    other = build(data, R.ProblemConfig(train=300, heldout=150, seed=1), "train")
    assert other.keys != tr.keys
    only = build(data, R.ProblemConfig(train=40, heldout=4, tiers="1"), "train")
    assert set(only.tiers.tolist()) == {1} and all(q.startswith("how many") for q in only.questions)


def test_heldout_scenes_come_from_the_validation_pool():
    from scaling.data.scenes import Obj, Scene

    data = config.load().data
    ho = build(data, R.ProblemConfig(train=4, heldout=20), "heldout")
    tr = build(data, R.ProblemConfig(train=20, heldout=4), "train")
    def scene(key):  # rebuild the scene from its canonical key and ask the pool hash
        from scaling.data.scenes import COLOUR_NAMES, GRID, SHAPES, SIZES
        objs = []
        for j in range(0, len(key), 2):
            code = int.from_bytes(key[j:j + 2], "little")
            cell, code = code % (GRID * GRID), code // (GRID * GRID)
            size, code = code % len(SIZES), code // len(SIZES)
            colour, shape = code % len(COLOUR_NAMES), code // len(COLOUR_NAMES)
            objs.append(Obj(SHAPES[shape], COLOUR_NAMES[colour], SIZES[size], cell % GRID, cell // GRID))
        return Scene(tuple(objs))
    assert all(is_val_scene(scene(k[0])) for k in ho.keys)
    assert not any(is_val_scene(scene(k[0])) for k in tr.keys)


def test_rewards_check_answers_exactly_and_never_pay_for_abstaining():
    tok = tokenizer()
    e, p = tok.eos_id, tok.pad_id
    red, blue = tok.id("red"), tok.id("blue")
    tokens = np.array([[red, e, p], [blue, e, p], [e, p, p], [red, red, e], [red, red, red]])
    correct = grpo.correctness(tokens, ["red"], 5)
    assert correct.tolist() == [True, False, False, False, False]
    assert check_answer("red", "red")
    length = np.array([2, 2, 1, 3, 3])
    for form in ("none", "correct", "group"):
        r = grpo.rewards(correct, length, 5, form, 0.9, 3)
        assert r[0] > max(r[1:]) and r[2] <= 0 and r[2] == r[1]  # the empty answer earns no more than a wrong one
    r = grpo.rewards(np.array([True, True, False, False]), np.array([2, 4, 1, 1]), 4, "correct", 0.5, 4)
    assert r[0] > r[1] > r[2] == r[3] == 0  # shorter correct answers earn more
    r = grpo.rewards(np.array([True, True, False, False]), np.array([2, 4, 1, 1]), 4, "group", 0.5, 4)
    assert r[0] > 1 > r[1] > 0 and r[2] == 0


def test_group_relative_advantages():
    r = np.array([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    adv, informative = grpo.advantages(r, 4, std_norm=True)
    assert adv[:4].sum() == pytest.approx(0) and adv[0] > 0 > adv[1]
    assert np.std(adv[:4]) == pytest.approx(1, rel=1e-4)
    assert (adv[4:] == 0).all() and informative.tolist() == [True] * 4 + [False] * 4
    raw, _ = grpo.advantages(r, 4, std_norm=False)
    assert raw[0] == pytest.approx(0.75)


def test_config_is_strict_and_names_the_key(tmp_path):
    assert R.load(None).eval.samples >= max(R.int_list(R.load(None).eval.k, "eval.k"))
    path = tmp_path / "rl.yaml"
    path.write_text("grpo:\n  problems: 4\n  kl: 0.01\nsampling:\n  group: 4\n")
    cfg = R.load(path, ["optim.lr=3e-4"])
    assert cfg.grpo.kl == 0.01 and cfg.sampling.group == 4 and cfg.optim.lr == 3e-4
    bad = [(["sampling.group=1"], "sampling.group"), (["eval.k=1,64"], "eval.k"),
           (["problems.train=0"], "problems.train"), (["grpo.length_coef=1.0"], "grpo.length_coef"),
           (["problems.tiers=0,7"], "problems.tiers"), (["samplng.group=4"], "samplng")]
    for overrides, culprit in bad:
        with pytest.raises(ConfigError, match=culprit):
            R.load(None, overrides)
    a, b = R.with_pretrained(cfg, "aaa"), R.with_pretrained(cfg, "bbb")
    assert R.run_id(a) != R.run_id(b) and R.run_id(a) == R.run_id(R.with_pretrained(cfg, "aaa"))
    with pytest.raises(ConfigError, match="pretrained"):
        R.with_pretrained(a, "bbb")


def test_demo_sweep_file_expands_and_bad_keys_are_named(tmp_path):
    from scaling.sweep.spec import load_sweep

    sweep = load_sweep("sweeps/rl_demo.yaml")  # an ordinary sweep file with `stage: rl`
    assert sweep.stage == "rl" and len(sweep.pretrained) >= 1 and len(sweep.runs) >= 1
    ids = {r.run_id for r in sweep.runs}
    # distinct run ids: baseline on every pretrained model, the penalty recipe and the random-reward
    # control arm on the smallest, 5 seeds each (the RL claims' minimum of whole runs)
    seeds = {r.cfg.seed for r in sweep.runs}
    assert len(seeds) == 5 and len(ids) == len(sweep.runs) == (len(sweep.pretrained) + 2) * len(seeds)
    assert {r.recipe for r in sweep.runs} == {"baseline", "penalty", "control"}
    assert {r.cfg.grpo.reward for r in sweep.runs if r.recipe == "control"} == {"random"}
    assert {r.cfg.grpo.reward for r in sweep.runs if r.recipe != "control"} == {"verifier"}
    for r in sweep.runs:
        assert r.run_id == R.run_id(R.with_pretrained(r.cfg, config.run_id(r.pretrained.cfg)))
    R.load("sweeps/rl.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("stage: rl\npretrained:\n  - {model.width: 32}\nrecipes: {baseline: {}}\ngrid:\n  grpo.lr: [0.1]\n")
    with pytest.raises(ConfigError, match="grpo.lr"):
        load_sweep(bad)
    bad.write_text("stage: rl\npretrained: []\nrecipes: {baseline: {}}\n")
    with pytest.raises(ConfigError, match="pretrained"):
        load_sweep(bad)


def test_testtime_demo_has_a_random_reward_arm_at_lambda_0_with_the_same_seeds():
    from scaling.report import rl as report_rl
    from scaling.sweep.spec import load_sweep

    sweep = load_sweep("sweeps/testtime_demo.yaml")
    arm = [r for r in sweep.runs if r.recipe == "control"]
    base = [r for r in sweep.runs if r.recipe == "baseline" and r.cfg.grpo.length_coef == 0.0]
    assert {r.cfg.grpo.reward for r in arm} == {"random"} and {r.cfg.grpo.length_coef for r in arm} == {0.0}
    assert sorted(r.cfg.seed for r in arm) == sorted(r.cfg.seed for r in base)
    strip = lambda c: {**config.to_dict(c), "recipe": None, "grpo": {**config.to_dict(c)["grpo"], "reward": None}}  # noqa: E731
    assert {json.dumps(strip(r.cfg), sort_keys=True) for r in arm} == {json.dumps(strip(r.cfg), sort_keys=True) for r in base}
    cfg = report_rl.settings(sweep.raw["report"], "testtime_demo.yaml")
    assert cfg["testtime"]["start"] is True
