"""Compute multipliers with planted truth, verdicts, the log-linear claim on ScaleRL, bad input."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from claims_synthetic import runs
from external_data import EXTERNAL
from scaling.claims import compare, loglinear_claim, parse_claim, verdict
from scaling.cli import main
from scaling.errors import DataError, FitError

SCALERL = EXTERNAL / "scalerl-fig1" / "fig1_digitized.csv"


def _covers(est, truth):
    return est["lo"] <= truth <= est["hi"]


@pytest.mark.parametrize("k, seed", [(4.0, 0), (0.5, 1)])
def test_planted_multiplier_is_covered(k, seed):
    df = pd.concat([runs("base", 1.0, seed), runs("cand", k, seed + 100)])
    r = compare(df, "base", "cand", n_boot=300, claim=k)
    inside = [t for t in r["targets"] if not t["extrapolated"]]
    for name in ("nonparametric", "parametric"):
        covered = [_covers(t[name], k) for t in inside]
        assert sum(covered) >= len(covered) - 1, (name, [(t["loss"], t[name]) for t in inside])
        # and the estimate is informative: the interval excludes 1 (no saving) for k = 4 or 0.5
        assert all(not _covers(t[name], 1.0) for t in inside), name
    assert r["verdict"]["verdict"] != "refuted"


def test_control_pair_covers_one_and_refutes_a_large_claim():
    df = pd.concat([runs("base", 1.0, 3), runs("same", 1.0, 4)])
    r = compare(df, "base", "same", n_boot=300, claim=10.0)
    inside = [t for t in r["targets"] if not t["extrapolated"]]
    for name in ("nonparametric", "parametric"):
        assert sum(_covers(t[name], 1.0) for t in inside) >= len(inside) - 1, name
    assert r["verdict"]["verdict"] == "refuted"


def test_extrapolated_targets_are_refused_unless_asked():
    df = pd.concat([runs("base", 1.0, 5), runs("cand", 2.0, 6)])
    with pytest.raises(FitError, match="--extrapolate"):
        compare(df, "base", "cand", targets=[1.0], n_boot=50)
    r = compare(df, "base", "cand", targets=[1.0], n_boot=50, extrapolate=True)
    assert r["targets"][0]["extrapolated"]
    assert np.isnan(r["targets"][0]["nonparametric"]["value"])


def test_verdicts_and_claim_parsing():
    assert verdict(10.5, 20, 10) == "supported"
    assert verdict(2, 9.9, 10) == "refuted"
    assert verdict(5, 15, 10) == "inconclusive"
    assert parse_claim("10x") == parse_claim("10") == 10.0
    assert parse_claim("0.1x") == 0.1
    for bad in ("ten", "10y", "-3x", "0x"):
        with pytest.raises(DataError, match="claim"):
            parse_claim(bad)


def test_bad_recipes_and_too_few_runs():
    df = runs("base", 1.0, 0)
    with pytest.raises(DataError, match=r"'nope' not found \(present: base\)"):
        compare(df, "base", "nope")
    few = pd.concat([df, runs("tiny", 1.0, 1, sizes=[1e7], lrs=(1.0,))])
    with pytest.raises(DataError, match="'tiny' has 1 runs"):
        compare(few, "base", "tiny")
    far = pd.concat([df, runs("far", 1.0, 2).assign(**{"eval/loss/caption": lambda d: d["eval/loss/caption"] + 10})])
    with pytest.raises(DataError, match="no overlapping loss range"):
        compare(far, "base", "far")


def test_compare_cli_on_csv(tmp_path, capsys):
    csv = tmp_path / "runs.csv"
    pd.concat([runs("base", 1.0, 0), runs("cand", 4.0, 1)]).to_csv(csv, index=False)
    assert main(["compare", str(csv), "--baseline", "base", "--candidate", "cand", "--claim", "2x",
                 "--bootstrap", "100", "--plot", str(tmp_path / "m.png")]) == 0
    out = capsys.readouterr().out
    assert "claim: cand needs 2x less compute than base" in out
    assert (tmp_path / "m.png").stat().st_size > 1000
    for args, culprit in ((["--candidate", "nope"], "nope"), (["--candidate", "cand", "--claim", "lots"], "lots")):
        proc = subprocess.run([sys.executable, "-m", "scaling.cli.__main__", "compare", str(csv), "--baseline",
                               "base", *args], capture_output=True, text=True)
        assert proc.returncode == 2 and culprit in proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not SCALERL.exists(), reason="../shared/data/external/scalerl-fig1 is absent")
def test_loglinear_claim_on_scalerl():
    df = pd.read_csv(SCALERL)
    r = loglinear_claim(df, "compute_kgpuh", ["pass_rate"], group="run", split_col="split", n_boot=300)
    dense, moe = r["metrics"]["8B_dense/pass_rate"], r["metrics"]["17Bx16_MoE/pass_rate"]
    # SOURCE.md: sigmoid refit on the fit points (R0, A, C_mid, B) and held-out RMSE.
    for m, ref in ((dense, (0.396, 0.634, 9.94, 1.78)), (moe, (0.510, 0.701, 6.44, 1.73))):
        got = [m["sigmoid_fit_part"][p] for p in ("R0", "A", "C_mid", "B")]
        assert np.allclose(got, ref, rtol=0.01, atol=0.002), got
        assert m["heldout_rmse"]["sigmoid"] == pytest.approx(0.011, abs=0.001)
        assert m["slope_interval"][0] > 0
        assert m["verdict"] == "refuted"  # the held-out points bend below the line
    assert dense["heldout_rmse"]["loglinear"] == pytest.approx(0.025, abs=0.001)
    assert moe["heldout_rmse"]["loglinear"] == pytest.approx(0.017, abs=0.001)


def test_loglinear_claim_supports_a_straight_line():
    rng = np.random.default_rng(0)
    C = np.geomspace(1e15, 1e18, 30)
    P = 0.2 + 0.05 * np.log10(C / 1e15) + rng.normal(0, 0.005, C.size)
    r = loglinear_claim(pd.DataFrame({"C": C, "p": P}), "C", ["p"], n_boot=300)
    m = r["metrics"]["all/p"]
    assert m["slope_interval"][0] < 0.05 < m["slope_interval"][1]
    assert m["verdict"] == "supported"


def test_envelope_against_its_definition():
    """A point is on the envelope iff its loss is below every point with less compute (ties:
    the cheaper-then-lower point wins), checked by brute force on data with many ties."""
    from scaling.fit.frontier import envelope_index

    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 30))
        c, l = rng.integers(1, 8, n).astype(float), rng.integers(1, 8, n).astype(float)
        order = list(np.lexsort((l, c)))
        brute = [i for k, i in enumerate(order) if all(l[i] < l[j] for j in order[:k])]
        assert list(envelope_index(c, l)) == brute
