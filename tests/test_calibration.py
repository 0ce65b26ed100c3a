"""Calibration on synthetic sweeps with a known truth (issue 10, item 9).

Sweeps have 3 or 5 seeds per configuration, run-level noise shared by a run's points, two
finished points per run, and a planted multiplier k that is exact at every loss. Coverage is
counted over 100 independent sweeps; a 95% interval should cover in ~95 of them, and >= 90 is
required (the 1-in-1000 lower tail of Binomial(100, 0.95) is 87). With 3 seeds the interval
rests on a seed spread with few degrees of freedom (Welch-Satterthwaite over the configurations
near the target, :func:`scaling.claims.seeds.seed_dof`), which the t/z widening accounts for.
"""

import numpy as np
import pandas as pd
import pytest

from calibration_synthetic import pair, sweep
from scaling.claims import compare, loglinear_claim

DRAWS = 100
SEEDS = (3, 5)  # seeds per configuration


def _coverage(k: float, seed0: int, seeds: int):
    hits = {"nonparametric": 0, "parametric": 0}
    mid = {"nonparametric": 0, "parametric": 0}
    for i in range(DRAWS):
        r = compare(pair(k, seed0 + i, seeds=seeds), "base", "cand", n_boot=100, seed=i)
        h, t = r["headline"][0], r["targets"][4]  # pre-specified: the headline and the 5th of 8 losses
        for name in hits:
            hits[name] += h[name]["lo"] <= k <= h[name]["hi"]
            mid[name] += t[name]["lo"] <= k <= t[name]["hi"]
    print(f"\ncoverage of k={k} over {DRAWS} sweeps, {seeds} seeds per configuration: headline {hits}, "
          f"mid-range target {mid}")
    return hits, mid


@pytest.mark.slow
@pytest.mark.parametrize("seeds", SEEDS)
def test_planted_multiplier_is_covered(seeds):
    hits, mid = _coverage(3.0, 1000, seeds)
    for name in hits:
        assert hits[name] >= 90 and mid[name] >= 90, (name, hits, mid)


@pytest.mark.slow
@pytest.mark.parametrize("seeds", SEEDS)
def test_same_recipe_control_covers_one(seeds):
    hits, mid = _coverage(1.0, 5000, seeds)
    for name in hits:
        assert hits[name] >= 90 and mid[name] >= 90, (name, hits, mid)


def test_a_recipe_that_never_reaches_the_target_gives_zero_not_a_number():
    rng = np.random.default_rng(7)
    # the candidate's floor (2.5) lies above the baseline's final loss (about 1.8 + 0.6)
    df = pd.concat([sweep("base", 1.0, rng), sweep("cand", 1.0, rng, E_=2.5)], ignore_index=True)
    r = compare(df, "base", "cand", n_boot=100)
    h = r["headline"][0]
    assert h["loss"] < df[df.recipe == "cand"]["eval/loss/caption"].min()
    npar, par = h["nonparametric"], h["parametric"]
    # every draw is censored (0) or undefined (the baseline missed its own end too): no finite m
    # (the undefined draws count as inf for the upper bound: "could be anything")
    assert npar["value"] == 0 and npar["lo"] == 0 and npar["hi"] == np.inf
    assert npar["frac_zero"] + (1 - npar["defined_frac"]) == pytest.approx(1.0) and npar["frac_zero"] > 0.5
    # the power law extrapolates: its fitted floor sits above the target in the estimate and in
    # most draws (m = 0); a draw whose floor dips below it gives a tiny finite m, never a large one
    assert par["value"] == 0 and par["lo"] == 0 and par["frac_zero"] >= 0.9
    assert np.isfinite(par["hi"]) and par["hi"] < 0.01
    assert h["extrapolated"]
    # the reverse pair: the baseline never reaches its target, so the multiplier is inf
    between = 0.5 * (h["loss"] + df[df.recipe == "cand"]["eval/loss/caption"].min())
    r2 = compare(df, "cand", "base", targets=[between], extrapolate=True, n_boot=100)
    e = r2["headline"][0]["nonparametric"]
    assert e["value"] == np.inf and e["lo"] == np.inf


def _loglinear_runs(rng, shape: str, n_runs: int = 5):
    rows = []
    C = np.geomspace(1, 100, 8)
    for run in range(n_runs):
        off = rng.normal(0, 0.01)
        x = np.log10(C)
        if shape == "line":
            p = 0.3 + 0.1 * x
        else:  # saturating: the ScaleRL sigmoid, bending inside the range
            p = 0.2 + (0.6 - 0.2) / (1 + (3.0 / C) ** 1.5)
        p = p + off + rng.normal(0, 0.004, C.size)
        rows += [{"run_id": f"r{run}", "C": c, "p": v} for c, v in zip(C, p)]
    return pd.DataFrame(rows)


@pytest.mark.slow
def test_loglinear_verdict_error_rates():
    """5 runs (the fewest the claim judges) along 8 shared compute values; the claim's default 1000
    resamples (its bend test reads the 1.25% tail of the draws: 100 resamples leave it to 1 or 2 draws)."""
    rng = np.random.default_rng(11)
    counts = {"line": {}, "bend": {}}
    for shape in counts:
        for i in range(DRAWS):
            v = loglinear_claim(_loglinear_runs(rng, shape), "C", ["p"], n_boot=1000, seed=i)["combined"]
            counts[shape][v] = counts[shape].get(v, 0) + 1
    print(f"\nloglinear verdicts over {DRAWS} draws each: log-linear truth {counts['line']}, "
          f"saturating truth {counts['bend']}")
    assert counts["line"].get("refuted", 0) <= 5  # false refutation
    assert counts["bend"].get("supported", 0) <= 5  # false support
    assert counts["bend"].get("refuted", 0) >= 80  # and the bend is found


# --- the RL design and its synthetic trajectories (scaling.calibration.design) ---

from pathlib import Path  # noqa: E402

from scaling.calibration import design as D  # noqa: E402

DEMO = Path(__file__).resolve().parent.parent / "sweeps" / "testtime_demo.yaml"


def _design(**kw):
    return D.RLDesign(**{"steps": (0, 2, 4, 6, 8, 10, 20, 40, 80), "warmup": 10, "seeds": 400, **kw})


def test_design_of_the_demo_is_the_trainers_schedule():
    from scaling.schedule import rl_eval_steps
    from scaling.sweep.spec import load_sweep

    d = D.design_of(DEMO)
    cfg = load_sweep(DEMO).runs[0].cfg
    assert d.steps == (0, *rl_eval_steps(cfg)) and d.steps[1] == d.warmup == 10 and d.seeds == 5
    assert D.design_of(DEMO, seeds=3).seeds == 3


def test_seed_offsets_and_compute_that_differs_by_seed():
    d = _design(noise_sd=0.0, flops_step_sd=0.05, seed_sd=0.03)
    df = D.draw(d, D.TRUTHS["flat"], np.random.default_rng(1))
    late = df[df.step >= 2 * d.warmup].pivot(index="seed", columns="step", values="y")
    offsets = late.to_numpy() - 0.40
    assert np.allclose(offsets, offsets[:, :1])  # one offset per seed, the same at every later step
    assert np.std(offsets[:, 0], ddof=1) == pytest.approx(0.03, rel=0.15)  # 400 seeds: se of an sd ~3.5%
    assert np.allclose(df[df.step == 0].y, 0.40)  # the seeds start from one model
    x = df[df.step == 40].groupby("seed")["rl/flops"].first()
    assert x.nunique() == d.seeds and x.std() / x.mean() > 0.005  # seeds do not share x values


def test_noise_is_autocorrelated_along_a_seeds_evaluations():
    d = _design(seed_sd=0.0, noise_sd=0.02, ar=0.6)
    e = D.draw(d, D.TRUTHS["flat"], np.random.default_rng(2)).pivot(index="seed", columns="step", values="y").to_numpy() - 0.40
    assert e.std() == pytest.approx(0.02, rel=0.05)
    lag1 = np.mean([np.corrcoef(e[:, i], e[:, i + 1])[0, 1] for i in range(e.shape[1] - 1)])
    assert lag1 == pytest.approx(0.6, abs=0.05)  # 8 lags x 400 seeds: se ~0.015


def test_warmup_progress_is_quadratic_then_linear_in_steps():
    """A truth log-linear in effective compute rises twice as fast per decade of steps inside the
    warmup (lr grows with the step: progress ~ n^2) as long after it (~ n)."""
    d = _design(seeds=1, noise_sd=0.0, seed_sd=0.0, flops_step_sd=0.0, flops_seed_sd=0.0)
    df = D.draw(d, D.TRUTHS["loglinear_rising"], np.random.default_rng(0)).set_index("step")
    slope = lambda a, b: (df.y[b] - df.y[a]) / np.log10(b / a)  # noqa: E731
    ratio = slope(6, 8) / slope(40, 80)
    # exact: d log E / d log n is (2n + 1)/(n + 1) inside the warmup, n/(n - 4.5) after it
    assert 1.7 < ratio < 2.0, ratio
    assert slope(40, 80) > 0 and np.isclose(slope(40, 80), D.TRUTHS["loglinear_rising"].fn(1) - 0.30, rtol=0.5)


def test_a_planted_loglinear_truth_on_the_demo_design_is_rarely_refuted():
    """40 synthetic sweeps on the test-time demo's design with 5 seeds (3 are below the claim's
    minimum: never judged), a truth log-linear in lr-weighted compute: at a true false-REFUTED rate
    of 5% more than 7 of 40 happens once in ~1000 (Binomial(40, 0.05)); a saturating truth is
    never supported more often."""
    from scaling.calibration import loglinear as cal

    d3, d5, _ = cal.designs(DEMO)
    assert set(cal.verdicts(d3, "loglinear_rising", 5, seed=1)) == {"not judged"}
    line = cal.verdicts(d5, "loglinear_rising", 40, seed=1)
    bend = cal.verdicts(d5, "saturating", 40, seed=2)
    assert line.count("refuted") <= 7, line
    assert bend.count("supported") <= 7 and bend.count("refuted") >= 10, bend


def test_calibration_cli_names_a_bad_claim_in_one_line(capsys):
    from scaling.calibration.__main__ import main

    assert main(["nope", "--draws", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'nope'" in err[0] and "loglinear" in err[0]
    assert main(["loglinear", "--draws", "0"]) == 2 and "--draws 0" in capsys.readouterr().err
