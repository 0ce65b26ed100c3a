"""The one bootstrap module and the power planner, against direct counts and closed forms."""

import math

import numpy as np
import pytest

from scaling.errors import FitError
from scaling.claims import plan as power
from scaling.fit import resample


def test_two_stage_counts_respect_configurations_and_seeds():
    cfg = np.repeat(["a", "b", "c", "d"], [1, 2, 3, 1])  # uneven seeds; one seed -> configurations drawn
    u = resample.units(cfg)
    assert not resample.stratified(u) and u.seeds.tolist() == [1, 2, 3, 1]
    W = resample.draw(u, 4000, np.random.default_rng(0))
    per_cfg = np.stack([W[:, m].sum(1) for m in u.members], axis=1)
    # stage 1: configurations drawn K at a time; stage 2: each drawn copy brings s_j seeds
    assert np.all((per_cfg / u.seeds).round(9) % 1 == 0)
    assert np.all((per_cfg / u.seeds).sum(1) == 4)
    assert (per_cfg / u.seeds).mean(0) == pytest.approx(np.ones(4), abs=0.05)
    # within a configuration every seed equally likely
    b = W[:, u.members[2]].sum(0)
    assert b / b.sum() == pytest.approx(np.ones(3) / 3, abs=0.02)


def test_fixed_grid_and_pairing():
    u = resample.units(np.repeat(["x", "y", "z"], 3))
    assert resample.stratified(u)
    W = resample.draw(u, 500, np.random.default_rng(1))
    assert np.all(np.stack([W[:, m].sum(1) for m in u.members], 1) == 3)  # grid kept, seeds resampled
    D = resample.draw_configs(3, 50, np.random.default_rng(2))
    u1 = resample.units(["x", "y", "z"])
    a = resample.draw(u1, 50, np.random.default_rng(3), D, fixed_grid=False)
    b = resample.draw(u1, 50, np.random.default_rng(4), D, fixed_grid=False)
    assert np.array_equal(a, b)  # one seed each: paired draws are identical
    assert resample.n_distinct(3) == 10 and resample.n_distinct(5) == 126


def test_censored_draws_count_and_failures_are_capped():
    draws = np.r_[np.full(90, 2.0), np.full(10, np.inf)][:, None]
    s = resample.summarize(2.0, draws)
    assert s["hi"][0] == np.inf and s["lo"][0] == 2.0 and s["frac_inf"][0] == 0.1
    # dropping them would have given hi = 2: censoring moves the bound
    und = resample.summarize(1.0, np.r_[np.ones(90), np.full(10, np.nan)][:, None])
    assert und["lo"][0] == 0 and und["hi"][0] == np.inf and und["frac_undefined"][0] == 0.1
    assert resample.check_failures(np.r_[np.ones(95, bool), np.zeros(5, bool)], "x") == 5
    with pytest.raises(FitError, match="recipe 'r'.*6 of 100"):
        resample.check_failures(np.r_[np.ones(94, bool), np.zeros(6, bool)], "recipe 'r'")
    # small-sample widening: t over z
    assert resample.small_sample_factor(8) == pytest.approx(2.306 / 1.960, rel=1e-3)


def test_seed_dof_is_welch_satterthwaite_over_the_configurations_that_move_the_statistic():
    rng = np.random.default_rng(5)
    u = resample.units(np.repeat(["a", "b", "c"], [3, 3, 5]))
    rows, cfg = resample.jackknife(u)
    assert rows.shape == (11, 11) and np.all(rows.sum(1) == 10) and cfg.tolist() == [0] * 3 + [1] * 3 + [2] * 5
    x = rng.normal(size=11)
    # a linear statistic: the mean of config a plus twice the mean of config c (b does not move it)
    stat = lambda r: sum(w * (r[m] @ x[m]) / r[m].sum() for w, m in zip((1.0, 0.0, 2.0), u.members))  # noqa: E731
    var, dof = resample.seed_variances(np.array([[stat(r)] for r in rows]), cfg, u.seeds, rescaled=False)
    exact = [np.var(x[m], ddof=1) / len(m) * w**2 for w, m in zip((1.0, 0.0, 2.0), u.members)]
    assert var[:, 0] == pytest.approx(exact) and dof.tolist() == [2, 2, 4]  # the jackknife is exact here
    nu = resample.satterthwaite(var, dof)[0]
    assert nu == pytest.approx(sum(exact) ** 2 / (exact[0] ** 2 / 2 + exact[2] ** 2 / 4))
    assert 2 <= nu <= 6  # between the fewest and the sum of the moving configurations' dof
    # one configuration carries it all: its own s - 1; a statistic no seed moves: no widening
    assert resample.satterthwaite(np.array([[1.0], [0.0]]), np.array([2, 4]))[0] == pytest.approx(2)
    assert resample.satterthwaite(np.zeros((2, 1)), np.array([2, 4]))[0] == np.inf
    assert resample.small_sample_factor(np.array([2.0, np.inf]))[1] == 1.0


def test_power_planner_closed_form_matches_simulation():
    sigma, sb, sc, m, k = 0.01, 0.05, 0.04, 2.0, 1.5
    n = power.seeds_needed(sigma, sb, sc, m, k, power=0.8)
    se = power.se_log_multiplier(sigma, sb, sc, n)
    assert (math.log(m / k) / se - power.Z) == pytest.approx(0.8416, abs=1e-3)  # z_0.8
    # simulate: ln m_hat ~ N(ln m, se); supported when the lower 97.5% bound exceeds k
    rng = np.random.default_rng(0)
    est = math.log(m) + se * rng.normal(size=20000)
    assert np.mean(est - power.Z * se > math.log(k)) == pytest.approx(0.8, abs=0.01)
    assert power.seeds_needed(sigma, sb, sc, k, k) == math.inf
