"""`claim loglinear` on RL-shaped data: the unit is the run, the warmup is left out, the held-out
check is summarised per run, too few runs are refused, bends are judged against the slope's sign,
and a sigmoid the data cannot pin down decides nothing (issue 18, L1-L8)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from scaling.calibration import design as D
from scaling.claims import loglinear_claim, registry
from scaling.claims.loglinear import _sigmoid_identified
from scaling.errors import DataError
from scaling.fit import resample

C8 = np.geomspace(1e15, 1e18, 8)


def _runs(n_runs, curve, *, slope_sd=0.0, offset_sd=0.0, noise=0.001, seed=0, C=C8):
    """Runs sharing the compute values C: curve(log10 C/C0) + offset + a per-run slope change."""
    rng = np.random.default_rng(seed)
    u = np.log10(C / C[0])
    return pd.concat([pd.DataFrame({"run_id": f"r{r}", "C": C, "p": curve(u) + rng.normal(0, offset_sd)
                                    + rng.normal(0, slope_sd) * u + rng.normal(0, noise, C.size)})
                      for r in range(n_runs)], ignore_index=True)


def _metric(df, **kw):
    return loglinear_claim(df, "C", ["p"], **{"n_boot": 2000, **kw})["metrics"]["all/p"]


def test_run_weights_keep_a_runs_points_together_and_draw_runs_with_replacement():
    runs = np.repeat(["a", "b", "c", "d", "e"], [3, 4, 2, 5, 1])
    W, u = resample.run_weights(runs, 4000, np.random.default_rng(0))
    assert W.shape == (4000, runs.size) and u.n_items == 5
    for r in "abcde":
        cols = W[:, runs == r]
        assert (cols == cols[:, :1]).all()  # every point of a run weighs the run's count
    counts = np.stack([W[:, np.flatnonzero(runs == r)[0]] for r in "abcde"], axis=1)
    assert (counts.sum(axis=1) == 5).all()  # 5 runs drawn per resample
    # multinomial(5, 1/5): mean 1, variance 4/5 per run
    assert np.allclose(counts.mean(axis=0), 1, atol=0.06) and np.allclose(counts.var(axis=0), 0.8, atol=0.08)


def test_L1_slope_interval_reflects_the_spread_between_runs():
    """Runs whose slopes differ (sd 0.03) and tiny noise along each: the slope's interval is that of
    a brute-force bootstrap of the runs' own slopes (shared x: the pooled slope of a resample is
    the mean of its runs' slopes), widened by t/z on runs - 1 df and sqrt(R/(R-1)); resampling points within runs
    (the old path) gives an interval orders of magnitude narrower."""
    R = 8
    df = _runs(R, lambda u: 0.3 + 0.05 * u, slope_sd=0.03, offset_sd=0.05, seed=3)
    m = _metric(df, holdout=0.3)
    x = np.log10(C8)
    s = np.array([np.polyfit(x, g.p, 1)[0] for _, g in df.groupby("run_id")])
    rng = np.random.default_rng(99)
    boot = s[rng.integers(0, R, size=(20000, R))].mean(axis=1)
    lo, hi = np.quantile(boot, [0.025, 0.975])
    f = stats.t.ppf(0.975, R - 1) / stats.norm.ppf(0.975) * np.sqrt(R / (R - 1))
    med = np.median(boot)
    want = (med - f * (med - lo), med + f * (hi - med))
    width = want[1] - want[0]
    assert abs(m["slope_interval"][0] - want[0]) < 0.1 * width and abs(m["slope_interval"][1] - want[1]) < 0.1 * width
    assert width > 4 * 0.03 / np.sqrt(R) * 0.8  # and that is the between-run spread (analytic sd / sqrt(R))
    assert m["bootstrap_unit"].startswith("whole runs (8")


def _warm_design():
    # dense evaluations through a 10-step warmup (as runs made before eval.start)
    return D.RLDesign(steps=(0, 2, 4, 6, 8, 10, 12, 14, 17, 20, 24, 29, 34, 40), warmup=10, seeds=6,
                      noise_sd=0.002, seed_sd=0.005)


def test_L2_the_fit_leaves_out_the_warmup_and_holds_out_each_runs_last_steps():
    """A truth log-linear in learning-rate-weighted compute is bent in compute through the warmup
    (progress ~ n^2, then ~ n): fitted through it, the old claim never supported it (inconclusive,
    held-out z about +3); after the warmup and a burn-in, on lr-weighted compute, it is supported
    and never refuted. The warmup is read from the sweep's columns (steps, optim.warmup)."""
    d = _warm_design()
    verdicts = []
    for i in range(5):
        df = D.draw(d, D.TRUTHS["loglinear_rising"], np.random.default_rng(i))
        r = loglinear_claim(df, "rl/flops", ["y"], n_boot=300, seed=i)
        m = r["metrics"]["all/y"]
        assert m["warmup_steps"] == [10] and m["burn_in_steps"] == [2]
        assert min(m["fit_steps"]) >= 12 and max(m["fit_steps"]) < min(m["heldout_steps"])
        assert m["heldout_steps"] == [29.0, 34.0, 40.0]  # the same last steps in every run
        verdicts.append(m["verdict"])
    assert "refuted" not in verdicts and verdicts.count("supported") >= 3, verdicts
    # the warmup given as an option wins; in steps, so it needs a step column
    m = loglinear_claim(df, "rl/flops", ["y"], n_boot=100, warmup=20, burn_in=0)["metrics"]["all/y"]
    assert min(m["fit_steps"]) == 20
    with pytest.raises(DataError, match="step column"):
        loglinear_claim(df.drop(columns="step"), "rl/flops", ["y"], n_boot=100)
    with pytest.raises(DataError, match="--warmup"):
        registry.judge("loglinear", df, x="rl/flops", y=["y"], warmup=-1)


def test_L3_heldout_departures_are_one_number_per_run_with_t_on_runs_minus_1_df():
    R = 6
    df = _runs(R, lambda u: 0.3 + 0.05 * u - 0.004 * u ** 2, offset_sd=0.02, noise=0.003, seed=5,
               C=np.geomspace(1e15, 1e18, 12))
    m = _metric(df, holdout=1 / 3)
    e = []
    for _, g in df.groupby("run_id"):
        x = np.log10(g.C.to_numpy())
        held = x > x.max() - (x.max() - x.min()) / 3
        b, a = np.polyfit(x[~held], g.p.to_numpy()[~held], 1)
        e.append(np.mean(g.p.to_numpy()[held] - (a + b * x[held])))
    e = np.array(e)
    assert m["heldout_df"] == R - 1 and np.allclose(sorted(m["heldout_departures"]), sorted(e))
    assert m["heldout_t"] == pytest.approx(e.mean() / (e.std(ddof=1) / np.sqrt(R)))
    half = stats.t.ppf(0.975, R - 1) * e.std(ddof=1) / np.sqrt(R)
    assert np.allclose(m["heldout_interval"], [e.mean() - half, e.mean() + half])


@pytest.mark.parametrize("n_runs", [1, 2, 3, 4])
def test_L4_too_few_runs_are_not_judged_with_the_reason(n_runs):
    """A clear saturation on fewer than 5 runs: no verdict (whole-run resampling of n runs has
    C(2n-1, n) < 126 distinct resamples), never a fall-back to points that refutes."""
    sat = lambda u: 0.3 + 0.2 * (1 - np.exp(-1.5 * u))  # noqa: E731
    r = loglinear_claim(_runs(n_runs, sat, noise=0.001, C=np.geomspace(1e15, 1e18, 12)), "C", ["p"], n_boot=200)
    m = r["metrics"]["all/p"]
    assert m["verdict"] == "not judged" == r["combined"]
    assert f"{n_runs} run(s)" in m["refusal"] and "needs 126 (5 runs" in m["refusal"]
    res = registry.judge("loglinear", _runs(n_runs, sat, C=np.geomspace(1e15, 1e18, 12)), x="C", y=["p"], n_boot=50)
    assert res.verdict == "not judged" and res.refusals and "5 runs" in res.refusals[0]


def test_L5_intervals_are_widened_by_t_over_z_on_runs_minus_1_df():
    R = 5
    df = _runs(R, lambda u: 0.3 + 0.05 * u, slope_sd=0.01, offset_sd=0.02, noise=0.002, seed=8)
    m = _metric(df, seed=4)
    W, _ = resample.run_weights(df.run_id.to_numpy(), 2000, np.random.default_rng(4))
    x = np.log10(df.C.to_numpy())
    slopes = np.array([np.polyfit(x, df.p, 1, w=np.sqrt(w))[0] for w in W])
    lo, hi = resample.interval(slopes)
    # t/z at 4 df (1.42), and sqrt(R/(R-1)): a resample of R runs spreads (R-1)/R as much
    f = stats.t.ppf(0.975, R - 1) / stats.norm.ppf(0.975) * np.sqrt(R / (R - 1))
    got = m["slope_interval"]
    assert (got[1] - got[0]) == pytest.approx(f * (hi - lo), rel=1e-6)


def test_L6_curvature_is_judged_against_the_slopes_sign():
    C = np.geomspace(1e15, 1e18, 12)
    # a falling metric that levels off (convex): saturation toward a floor -> refuted
    floor = _metric(_runs(6, lambda u: 0.3 + 0.3 * np.exp(-1.2 * u), offset_sd=0.01, noise=0.002, C=C))
    assert floor["slope_per_decade"] < 0 and floor["curvature"] > 0 and floor["verdict"] == "refuted"
    # a falling metric whose fall speeds up (concave): not a saturation -> not refuted, flagged
    fast = _metric(_runs(6, lambda u: 0.7 - 0.03 * u - 0.02 * u ** 2, offset_sd=0.01, noise=0.002, C=C))
    assert fast["slope_per_decade"] < 0 and fast["curvature"] < 0
    assert fast["verdict"] != "refuted" and fast["accelerating"]
    # the rising mirror images
    assert _metric(_runs(6, lambda u: 0.3 + 0.3 * (1 - np.exp(-1.2 * u)), offset_sd=0.01, noise=0.002, C=C))[
        "verdict"] == "refuted"
    assert _metric(_runs(6, lambda u: 0.3 + 0.03 * u + 0.02 * u ** 2, offset_sd=0.01, noise=0.002, C=C))[
        "verdict"] != "refuted"


def test_L8_a_sigmoid_the_data_cannot_pin_down_decides_nothing():
    class Fit:
        def __init__(self, **p):
            self.params, self.converged = p, True

    C = np.geomspace(1, 100, 8)
    ok = dict(R0=0.2, A=0.6, C_mid=10.0, B=1.5)
    assert _sigmoid_identified(Fit(**ok), C, C) == (True, "")
    assert not _sigmoid_identified(Fit(**ok), C[:5], C)[0]  # 4 parameters on 5 points
    assert "midpoint" in _sigmoid_identified(Fit(**{**ok, "C_mid": 1e4}), C, C)[1]
    assert "narrower" in _sigmoid_identified(Fit(**{**ok, "B": 80.0}), C, C)[1]
    assert "extrapolation" in _sigmoid_identified(Fit(**{**ok, "B": 0.3}), C, C)[1]  # 6 decades of rise on 2
    # on a straight line the sigmoid fitted to the early part has nothing to pin its midpoint to
    m = _metric(_runs(6, lambda u: 0.3 + 0.05 * u, offset_sd=0.01, noise=0.002, C=np.geomspace(1e15, 1e18, 12)))
    assert not m["sigmoid_identified"] and m["sigmoid_not_identified"]
    # decided on the bend alone (the sigmoid's held-out error is not consulted)
    assert (m["verdict"] == "refuted") == (m["bends"] or m["falls_short"])


def test_the_test_is_stated():
    r = registry.judge("loglinear", _runs(5, lambda u: 0.3 + 0.05 * u, offset_sd=0.01), x="C", y=["p"], n_boot=50)
    assert "whole runs" in r.test and "runs-1 df" in r.test and "after the warmup" in r.test
    assert r.unit.startswith("whole runs (5 drawn with replacement")
    assert any("t=" in line and "on 4 df" in line for line in r.lines)
