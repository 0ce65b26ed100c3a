"""The gain claim on synthetic RL records with planted gains over each control: verdicts, the
minimum-runs refusal, false support under a planted zero gain, and bad input."""

import numpy as np
import pandas as pd
import pytest

from scaling.claims import registry
from scaling.cli import main
from scaling.errors import DataError

Y = "eval/pass@1/heldout"
STEPS = (0, 5, 10, 20)


def rl_table(runs=6, gain=0.20, control_gain=None, greedy=0.30, start=0.25, guess=0.10, noise=0.02, seed=0,
             control_runs=None, start_id="pre1"):
    """Records of `runs` RL runs (recipe baseline) whose end pass@1 is start + gain (+ run noise),
    and optionally a random-reward arm ending at start + control_gain."""
    rng = np.random.default_rng(seed)
    rows = []
    arms = [("baseline", runs, gain, "verifier")]
    if control_gain is not None:
        arms.append(("control", control_runs or runs, control_gain, "random"))
    for recipe, n, g, reward in arms:
        for r in range(n):
            end = start + g + rng.normal(0, noise)
            for s in STEPS:
                frac = s / STEPS[-1]
                rows.append({"run_id": f"{recipe}{r}", "recipe": recipe, "seed": r, "step": s,
                             "grpo.reward": reward, "pretrained/run_id": start_id,
                             Y: start + frac * (end - start) + (0 if s in (0, STEPS[-1]) else rng.normal(0, noise)),
                             "eval/greedy/pass@1/heldout": greedy if s == 0 else greedy + frac * g,
                             "eval/guess/pass@1/heldout": guess})
    return pd.DataFrame(rows)


def _parts(r):
    return {c: p["verdict"] for c, p in next(iter(r.details["metrics"].values()))["controls"].items()}


def test_a_gain_beyond_every_control_is_supported_and_each_control_is_printed():
    r = registry.judge("gain", rl_table(control_gain=0.05), n_boot=400)
    assert r.verdict == "supported" and _parts(r) == dict.fromkeys(
        ("start greedy", "start sampled", "random reward", "guess"), "supported")
    text = "\n".join(r.lines)
    for c, level in (("start greedy", "0.300"), ("start sampled", "0.250"), ("guess", "0.100")):
        assert any(line.strip().startswith(c) and level in line for line in r.lines), text
    m = next(iter(r.details["metrics"].values()))
    # the planted gains, recovered: end - control per run, and end minus the random arm's end
    assert m["controls"]["start sampled"]["gain"] == pytest.approx(0.20, abs=3 * 0.02 / np.sqrt(6))
    assert m["controls"]["start greedy"]["gain"] == pytest.approx(0.15, abs=3 * 0.02 / np.sqrt(6))
    assert m["controls"]["random reward"]["gain"] == pytest.approx(0.15, abs=3 * 0.02 * np.sqrt(2 / 6))
    assert r.test.startswith("test:") and "whole runs" in r.unit


def test_a_gain_the_random_reward_arm_also_gets_is_not_supported():
    # RL ends well above its start, but a coin for a reward ends there too: no learning shown
    r = registry.judge("gain", rl_table(gain=0.20, control_gain=0.20), n_boot=400)
    assert _parts(r)["start sampled"] == "supported" and _parts(r)["random reward"] == "inconclusive"
    assert r.verdict == "inconclusive"
    # and one that ends below the random arm is refuted
    r = registry.judge("gain", rl_table(gain=0.05, control_gain=0.20), n_boot=400)
    assert _parts(r)["random reward"] == "refuted" and r.verdict == "refuted"


def test_sharpening_alone_loses_to_the_greedy_start():
    # sampled pass@1 rises to what greedy decoding of the starting model already scored
    r = registry.judge("gain", rl_table(gain=0.05, greedy=0.40), n_boot=400)
    assert _parts(r)["start sampled"] == "supported" and _parts(r)["start greedy"] == "refuted"
    assert r.verdict == "refuted" and "random reward" not in _parts(r)


def test_min_gain_is_the_bar_for_support():
    r = registry.judge("gain", rl_table(gain=0.20, greedy=0.25), n_boot=400, min_gain=0.1)
    assert r.verdict == "supported"
    r = registry.judge("gain", rl_table(gain=0.20, greedy=0.25), n_boot=400, min_gain=0.3)
    assert r.verdict == "refuted"


def test_too_few_runs_are_refused_with_the_reason():
    with pytest.raises(DataError, match=r"3 run\(s\) give 10 distinct resamples; an interval needs at least 126"):
        registry.judge("gain", rl_table(runs=3), n_boot=100)
    r = registry.judge_or_refuse("gain", rl_table(runs=3), n_boot=100)
    assert r.verdict == "not judged" and "distinct resamples" in r.refusals[0]
    # a control arm too small to resample leaves the verdict inconclusive, and says why
    r = registry.judge("gain", rl_table(control_gain=0.0, control_runs=3), n_boot=200)
    assert _parts(r)["random reward"] == "not judged" and r.verdict == "inconclusive"
    assert any("random reward" in line and "distinct resamples" in line for line in r.lines)


def test_false_support_under_a_planted_zero_gain_stays_below_the_stated_level():
    # end = greedy start in truth (gain 0 over it), 5 runs with run noise: the one-sided 97.5% bound
    # may clear 0 in at most 2.5% of draws; allow binomial noise on 300 draws (5% ceiling)
    hits = refuted = 0
    for s in range(300):
        t = rl_table(runs=5, gain=0.10, greedy=0.35, noise=0.03, seed=100 + s)
        r = registry.judge("gain", t, n_boot=200, seed=s)
        hits += _parts(r)["start greedy"] == "supported"
        refuted += _parts(r)["start greedy"] == "refuted"
    assert hits / 300 <= 0.05 and refuted / 300 <= 0.05, (hits, refuted)


def test_groups_and_starting_models_are_matched():
    a = rl_table(control_gain=0.0).assign(**{"grpo.length_coef": 0.0})
    b = rl_table(seed=3).assign(**{"grpo.length_coef": 0.5, "run_id": lambda d: d["run_id"] + "b"})
    r = registry.judge("gain", pd.concat([a, b], ignore_index=True), group="grpo.length_coef", n_boot=200)
    assert set(r.verdicts) == {f"grpo.length_coef=0.0: {Y}", f"grpo.length_coef=0.5: {Y}"}
    ms = r.details["metrics"]
    assert "random reward" in ms[f"grpo.length_coef=0.0: {Y}"]["controls"]
    # a group without a random arm of its own cannot beat it: not judged there, so not supported
    part = ms[f"grpo.length_coef=0.5: {Y}"]
    assert part["controls"]["random reward"]["verdict"] == "not judged" and part["verdict"] == "inconclusive"
    # two starting models: judged apart, each against the random arm that starts from it
    other = rl_table(control_gain=0.0)
    moved = rl_table(control_gain=0.0, seed=4, start_id="pre2").assign(run_id=lambda d: d["run_id"] + "m")
    moved = moved[moved["recipe"] == "baseline"]
    r = registry.judge("gain", pd.concat([other, moved], ignore_index=True), n_boot=200)
    assert set(r.verdicts) == {f"pretrained/run_id=pre1: {Y}", f"pretrained/run_id=pre2: {Y}"}
    ms = r.details["metrics"]
    assert ms[f"pretrained/run_id=pre1: {Y}"]["controls"]["random reward"]["verdict"] == "supported"
    assert ms[f"pretrained/run_id=pre2: {Y}"]["controls"]["random reward"]["verdict"] == "not judged"
    assert "no run from this starting model" in "\n".join(r.lines)


@pytest.mark.parametrize("options,culprit", [({"min_gain": 1.5}, "--min-gain"),
                                             ({"y": ["eval/length/heldout"]}, "--y"),
                                             ({"candidate": "nope"}, "--candidate nope"),
                                             ({"control": "nope"}, "--control nope"),
                                             ({"candidate": "control"}, "control arm")])
def test_bad_options_are_data_errors_naming_them(options, culprit):
    t = rl_table(control_gain=0.0).assign(**{"eval/length/heldout": 3.0})
    with pytest.raises(DataError, match=culprit):
        registry.judge("gain", t, n_boot=100, **options)


def test_a_run_without_its_start_is_an_error():
    t = rl_table()
    with pytest.raises(DataError, match="step-0 evaluation"):
        registry.judge("gain", t[~((t["run_id"] == "baseline2") & (t["step"] == 0))], n_boot=100)


def test_cli_prints_the_lines_and_bad_input_exits_2(tmp_path, capsys):
    path = tmp_path / "t.csv"
    rl_table(control_gain=0.05).to_csv(path, index=False)
    assert main(["claim", "gain", str(path), "--y", Y, "--bootstrap", "200"]) == 0
    out = capsys.readouterr().out
    assert "gain claim" in out and "random reward" in out and "SUPPORTED" in out
    assert main(["claim", "gain", str(path), "--min-gain", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--min-gain" in err
