"""Parallel claim against planted truths: the single-sample baseline, the oracle label, the
question-blind guess baseline, the minimum effect, the device's tau(B) knee, the coverage law with
a ceiling and the cross-fitted majority-vote null."""

import json
import math

import numpy as np
import pytest

from scaling.claims import parallel as PC
from scaling.claims import registry
from scaling.cli import main
from scaling.fit import coverage_ceiling, fit_coverage_ceiling
from scaling.testtime import latency

MS = (1, 2, 4, 8, 16)


def study(gain=0.05, acc=None, crit=lambda m: 5.0, tau=lambda b: 1e-3, seeds=(0, 1), problems=40,
          target=lambda i: f"t{i % 7}"):
    """Rows whose mean accuracy per (M, scheme) is exactly acc(M, scheme) (default 0.2 + gain log2 M):
    problem i correct iff i < acc * P. The single sample is the vote at M = 1. tau(B): the device's
    decode-step time."""
    acc = acc or (lambda m, s: 0.2 + gain * math.log2(m))
    rows = []
    for s in seeds:
        for m in MS:
            for i in range(problems):
                common = {"seed": s, "M": m, "problem": i, "tier": i % 3, "target": target(i),
                          "tt/tokens_critical": crit(m), "tt/flops": 10.0 * m, "tt/step_s": tau(m),
                          "tt/step_lo_s": 0.9 * tau(m), "tt/step_hi_s": 1.1 * tau(m),
                          "tt/latency_s": crit(m) * tau(m), "n_correct": min(m, i % (m + 1)),
                          "answers": [["a", m, True]]}
                for scheme in PC.SCHEMES:
                    k = round(acc(m, scheme) * problems)
                    rows.append({**common, "scheme": scheme, "correct": i < k})
    return rows


def test_knee_of_synthetic_tau():
    assert latency.knee([1, 2, 4, 8, 16, 32], [1.0, 1.02, 1.05, 1.1, 2.0, 4.0], 1.25) == 8
    assert latency.knee([32, 1, 2], [9.0, 1.0, 1.1], 1.25) == 2  # order of the input does not matter
    assert latency.knee([1, 2, 4], [1.0, 1.5, 1.1], 1.25) == 1  # flat only before the first jump
    assert latency.knee([1, 2, 4], [1.0, 1.0, 1.2], 1.25) == 4
    s = latency.summarise(4, np.arange(1.0, 12.0))
    assert (s["tau_s"], s["repeats"], s["lo_s"] < s["tau_s"] < s["hi_s"]) == (6.0, 11, True)
    with pytest.raises(Exception, match="10 positive"):
        latency.summarise(4, [1.0] * 9)


def test_device_not_flat_is_not_testable_and_the_scheme_is_judged_apart():
    rows = study(tau=lambda b: 1e-3 * (1 if b <= 4 else b / 2))
    r = PC.parallel_claim(rows, scheme="vote", n_boot=300)
    assert r["verdict_scheme"] == "supported"
    d = r["device"]
    assert d["verdict"] == "not judged" and d["knee"] == 4 and "latency not testable on this device" in d["reason"]
    res = registry.judge("parallel", rows, scheme="vote", n_boot=300)
    assert res.verdict == "supported" and res.verdicts == {"scheme": "supported", "device": "not judged"}
    assert any("latency not testable on this device" in x for x in res.refusals)
    assert r["latency_s"] == pytest.approx([5.0 * 1e-3 * (1 if m <= 4 else m / 2) for m in MS])
    flat = PC.parallel_claim(study(), scheme="vote", n_boot=300)["device"]
    assert flat["verdict"] == "supported" and flat["latency_ratio"] == pytest.approx(1)


def test_every_scheme_is_compared_with_a_single_sample():
    # agents are flat in M (0.5 at every M: their M = 1 is already two rounds), a single sample is 0.2
    rows = study(acc=lambda m, s: 0.5 if s == "agents" else 0.2)
    r = PC.parallel_claim(rows, scheme="agents", n_boot=300)
    assert r["single"] == pytest.approx(0.2) and r["gain"] == pytest.approx(0.3)
    assert r["gain_per_doubling"] == pytest.approx(0) and r["verdict_scheme"] == "supported"
    assert r["resampled"].startswith("problems") and "single sample" in "\n".join(
        registry.judge("parallel", rows, n_boot=300).lines)


def test_oracle_selection_is_labelled_and_never_supported():
    res = registry.judge("parallel", study(target=str), scheme="best", n_boot=300)  # every answer unique: guess 0
    r = res.details["claim"]
    assert r["selection"] == "oracle (upper bound)" and r["gain_ci"][0] > 0.05 and r["margin_over_guess_ci"][0] > 0
    assert res.verdict == "inconclusive" and any("oracle (upper bound)" in n for n in res.warnings)
    assert "oracle (upper bound)" in res.lines[0] and "oracle (upper bound)" in res.estimates[0].name
    assert res.to_record()["verdict"] == "inconclusive"


def test_guess_baseline_closed_form_and_a_gain_guessing_reaches_is_no_gain():
    rows = study()
    prior = PC.answer_prior(rows)
    # problem 0: tier 0, answer t0; the other tier-0 problems 3, 6, ..., 39 (13 of them) have answers 3k mod 7
    others = [f"t{i % 7}" for i in range(3, 40, 3)]
    q = others.count("t0") / len(others)
    g = PC.guess(prior, [0], MS, "best")[:, 0]
    np.testing.assert_allclose(g, [1 - (1 - q) ** m for m in MS], rtol=1e-12)
    # one answer per tier: guessing is always right, so no accuracy below 1 beats it
    same = study(target=lambda i: f"t{i % 3}")
    r = PC.parallel_claim(same, scheme="vote", n_boot=300)
    assert r["guess"][-1] == pytest.approx(1) and r["margin_over_guess_ci"][1] < 0
    assert r["gain_ci"][0] > 0.05 and r["verdict_scheme"] == "inconclusive"


def test_minimum_effect_size():
    # a planted gain of 0.03: positive, but below the default minimum of 0.05
    rows = study(acc=lambda m, s: 0.2 + (0.03 if m == 16 else 0.0), problems=400)
    small = PC.parallel_claim(rows, scheme="vote", n_boot=300)
    assert small["gain"] == pytest.approx(0.03) and small["gain_ci"][0] > 0
    assert small["verdict_scheme"] != "supported"
    assert PC.parallel_claim(rows, scheme="vote", min_gain=0.0, n_boot=300)["verdict_scheme"] == "supported"
    assert PC.parallel_claim(rows, scheme="vote", min_gain=0.1, n_boot=300)["verdict_scheme"] == "refuted"


def test_rising_critical_path_is_refuted():
    r = PC.parallel_claim(study(crit=lambda m: 5 + 0.5 * m), scheme="vote", n_boot=300)
    assert r["critical_ratio"] == pytest.approx(13 / 5.5) and r["verdict_scheme"] == "refuted"
    assert r["flop_ratio"] == pytest.approx(16)


def test_coverage_law_with_a_ceiling_recovers_planted_truth():
    k = np.array(MS + (32, 64), float)
    f = fit_coverage_ceiling(k, coverage_ceiling(k, 0.8, -1.5, -0.5))
    assert f.params == pytest.approx({"c_max": 0.8, "a": -1.5, "b": -0.5}, rel=1e-5)
    # 30% of problems unsolvable, the others with success probability uniform on (0, 1): ceiling 0.7
    # (coverage at k = 64 is 0.689: the law must not stop at the last point nor run on to 1)
    p = np.random.default_rng(0).uniform(0, 1, 200_000)
    p[:60_000] = 0
    cov = np.array([np.mean(1 - (1 - p) ** kk) for kk in k])
    assert abs(fit_coverage_ceiling(k, cov).params["c_max"] - 0.7) < 0.02
    law = PC.coverage_law(study(), n_boot=20)
    assert 0 < law["c_max"] <= 1 and law["selection"] == "oracle (upper bound)" and len(law["guess"]) == len(MS)


def test_coverage_without_a_visible_ceiling_is_not_called_one():
    """Coverage still rising like a power of k (every problem solvable: success probabilities
    Beta(0.3, 1), no ceiling below 1 within k <= 64) must not be read as a low ceiling: an
    unconstrained fit found c_max = 0.13 with a > 0 and b > 0, a curve that runs past 1. The fit keeps
    a <= 0, b < 0, c_max <= 1, and says when it sits on a bound."""
    k = np.array(MS + (32, 64), float)
    p = np.random.default_rng(1).beta(0.3, 1.0, 200_000)
    cov = np.array([np.mean(1 - (1 - p) ** kk) for kk in k])
    f = fit_coverage_ceiling(k, cov, allow_unconverged=True).params
    assert f["a"] <= 0 and f["b"] < 0 and 0 < f["c_max"] <= 1
    assert f["c_max"] >= cov[-1]  # a ceiling never below what was measured
    law = PC.coverage_law(study(), n_boot=20)
    assert law["identified"] == (law["c_max"] < 1 - 1e-6 and law["a"] < 0 and law["converged"])


def test_vote_null_is_fitted_apart_from_the_draws_it_predicts():
    rows = study(seeds=(0,))
    for r in rows:  # the largest M's samples all right, every other M's all wrong
        r["answers"] = [["a", r["M"], r["M"] == 16]]
    null = PC.vote_null(rows, n_sim=200)
    assert null["predicted"] == [1.0] * 4 + [0.0]  # M = 16 predicted from M = 8's samples, not its own
    two = study()
    for r in two:  # seed 0's samples all right, seed 1's all wrong: each predicts the other
        r["answers"] = [["a", r["M"], r["seed"] == 0]]
    assert PC.vote_null(two, n_sim=200)["predicted"] == pytest.approx([0.5] * len(MS))


def test_cli_parallel_errors(tmp_path, capsys):
    assert main(["claim", "parallel", str(tmp_path)]) == 2
    assert "no test-time records" in capsys.readouterr().err
    (tmp_path / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in study()))
    assert main(["claim", "parallel", str(tmp_path), "--scheme", "oracle"]) == 2
    assert "unknown scheme 'oracle'" in capsys.readouterr().err
    assert main(["claim", "parallel", str(tmp_path), "--min-gain", "1.5"]) == 2
    err = capsys.readouterr().err
    assert "--min-gain" in err and len(err.strip().splitlines()) == 1
    assert main(["claim", "parallel", str(tmp_path), "--bootstrap", "100", "--scheme", "vote"]) == 0
    out = capsys.readouterr().out
    assert "SUPPORTED" in out and "c_max" in out and "majority-vote null" in out and "sampling seed" in out


@pytest.mark.parametrize("p,right,m,truth", [
    ([0.6, 0.4, 0.0], [True, False, False], 1, 0.6),
    ([0.6, 0.4, 0.0], [True, False, False], 2, 0.36 + 0.6 * 0.4),       # a tie goes to the first drawn
    ([0.6, 0.4, 0.0], [True, False, False], 3, 0.6 ** 3 + 3 * 0.6 ** 2 * 0.4),
    ([0.3, 0.7], [True, False], 2, 1 - 0.7 ** 2),                        # last: unfinished, never wins
])
def test_vote_simulation_against_closed_forms(p, right, m, truth):
    n = 40000
    got = PC._simulate(np.array(p), np.array(right), m, n, np.random.default_rng(0))
    assert abs(got - truth) < 4 * math.sqrt(truth * (1 - truth) / n) + 1e-12, (got, truth)
