"""Parallel-agents claim, coverage law and majority-vote null against closed forms."""

import math

import numpy as np
import pytest

from scaling.claims import parallel as PC
from scaling.cli import main
from scaling.fit import coverage

MS = (1, 2, 4, 8, 16)


def study(gain=0.05, p0=0.2, crit=lambda m: 5.0, lat=lambda m: 0.01, seeds=(0, 1), problems=40):
    """Rows whose mean accuracy is exactly p0 + gain*log2 M (problem i correct iff i < share*P)."""
    rows = []
    for s in seeds:
        for m in MS:
            k = round((p0 + gain * math.log2(m)) * problems)
            for i in range(problems):
                common = {"seed": s, "M": m, "problem": i, "tt/tokens_critical": crit(m), "tt/latency_s": lat(m),
                          "n_correct": min(m, i % (m + 1)), "answers": [["a", m, True]]}
                for scheme in PC.SCHEMES:
                    rows.append({**common, "scheme": scheme, "correct": i < k})
    return rows


def test_gain_per_doubling_and_flat_latency_supported():
    r = PC.parallel_claim(study(), n_boot=300)
    assert r["gain_per_doubling"] == pytest.approx(0.05, abs=1e-12)
    assert r["critical_ratio"] == 1 and r["latency_ratio"] == pytest.approx(1)
    assert r["gain_ci"][0] > 0 and r["verdict_critical_path"] == r["verdict_latency"] == "supported"
    assert r["resampled"] == "seeds and problems"


def test_latency_growing_with_m_is_refuted_and_no_gain_is_refuted():
    r = PC.parallel_claim(study(crit=lambda m: 5 + 0.1 * m, lat=lambda m: 0.01 * m), n_boot=300)
    assert r["critical_ratio"] == pytest.approx(6.6 / 5.1) and r["latency_ratio"] == pytest.approx(16)
    assert r["verdict_critical_path"] == "refuted" and r["verdict_latency"] == "refuted"
    flat = PC.parallel_claim(study(gain=0.0), n_boot=300)
    assert flat["gain_per_doubling"] == 0 and flat["verdict_latency"] == "refuted"


def test_coverage_law_uses_the_unbiased_estimator():
    rows = study()
    cov = PC.coverage_law(rows)
    top = [r for r in rows if r["scheme"] == "best" and r["M"] == 16]
    truth = [np.mean([1 - math.comb(16 - r["n_correct"], k) / math.comb(16, k) for r in top]) for k in MS]
    np.testing.assert_allclose(cov["pass_at_k"], truth, rtol=1e-12)
    np.testing.assert_allclose(cov["predicted"], coverage(np.array(MS, float), cov["a"], cov["b"]))
    assert cov["a"] < 0 and cov["b"] < 0
    assert cov["a_ci"][0] < cov["a"] < cov["a_ci"][1] and cov["b_ci"][0] < cov["b"] < cov["b_ci"][1]


@pytest.mark.parametrize("p,right,m,truth", [
    ([0.6, 0.4, 0.0], [True, False, False], 1, 0.6),
    ([0.6, 0.4, 0.0], [True, False, False], 2, 0.36 + 0.6 * 0.4),       # a tie goes to the first drawn
    ([0.6, 0.4, 0.0], [True, False, False], 3, 0.6 ** 3 + 3 * 0.6 ** 2 * 0.4),
    ([0.3, 0.7], [True, False], 2, 1 - 0.7 ** 2),                        # last: unfinished, never wins
    ([0.3, 0.35, 0.35, 0.0], [True, False, False, False], 3, 0.3 ** 3 + 3 * 0.3 ** 2 * 0.7 + 6 * 0.3 * 0.35 * 0.35 / 3),
])
def test_vote_null_simulation_against_closed_forms(p, right, m, truth):
    n = 40000
    got = PC._simulate(np.array(p), np.array(right), m, n, np.random.default_rng(0))
    assert abs(got - truth) < 4 * math.sqrt(truth * (1 - truth) / n) + 1e-12, (got, truth)


def test_cli_parallel_errors(tmp_path, capsys):
    assert main(["claim", "parallel", str(tmp_path)]) == 2
    assert "no test-time records" in capsys.readouterr().err
    import json

    (tmp_path / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in study()))
    assert main(["claim", "parallel", str(tmp_path), "--scheme", "oracle"]) == 2
    assert "unknown scheme 'oracle'" in capsys.readouterr().err
    assert main(["claim", "parallel", str(tmp_path), "--bootstrap", "100"]) == 0
    out = capsys.readouterr().out
    assert "SUPPORTED" in out and "coverage c(k)" in out and "majority-vote null" in out
