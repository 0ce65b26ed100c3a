"""`scaling.fit.predict`: prediction intervals that hold the law's bootstrap and the seed spread,
checked against a planted truth (a power-law ladder with known seed noise), and the held-out
check of `scaling.fit.extrapolate` (split by run)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from scaling.errors import DataError
from scaling.fit.extrapolate import heldout_check
from scaling.fit.predict import combine, predict, seed_spread

TRUTH = {"E": 0.6, "A": 500.0, "alpha": 0.3}
SIGMA = 0.005  # seed-to-seed standard deviation of the planted ladder
TARGET = 3e12  # 3x beyond the ladder's largest compute


def truth(C):
    return TRUTH["E"] + TRUTH["A"] * np.asarray(C, float) ** -TRUTH["alpha"]


def ladder(rng, n_sizes: int = 8, seeds: int = 4, sigma: float = SIGMA) -> pd.DataFrame:
    """A planted ladder: size i trains to compute C_i (1e10..1e12, one finished point per run), its
    loss the power law plus a seed's N(0, sigma); 'seeds' runs per configuration."""
    C = np.geomspace(1e10, 1e12, n_sizes)
    rows = [{"run_id": f"r{i}s{s}", "config_id": f"c{i}", "seed": s, "model.width": 8 * (i + 1),
             "compute/flops": c, "loss": float(truth(c) + rng.normal(0, sigma)), "point": "finished"}
            for i, c in enumerate(C) for s in range(seeds)]
    return pd.DataFrame(rows)


def test_combine_adds_law_and_seed_parts_in_quadrature():
    z = stats.norm.ppf(0.95)
    lo, hi = combine(1.0, 0.9, 1.2, 0.1 / z, math.inf, 0.9)
    assert lo == pytest.approx(1 - math.hypot(0.1, 0.1))
    assert hi == pytest.approx(1 + math.hypot(0.2, 0.1))
    # the mean of 4 seeds: half the seed part; few degrees of freedom: t, not z
    lo4, _ = combine(1.0, 0.9, 1.2, 0.1 / z, math.inf, 0.9, n_seeds=4)
    assert lo4 == pytest.approx(1 - math.hypot(0.1, 0.05))
    lo_t, _ = combine(1.0, 1.0, 1.0, 1.0, 3, 0.9)
    assert lo_t == pytest.approx(1 - stats.t.ppf(0.95, 3))


def test_seed_spread_recovers_the_planted_sigma():
    df = ladder(np.random.default_rng(1), n_sizes=40, seeds=5, sigma=0.02)
    sd, dof, how = seed_spread(df["loss"].to_numpy(), [df["compute/flops"].to_numpy()], df["run_id"], df["config_id"])
    assert dof == 40 * 4 and "seeds" in how
    assert sd == pytest.approx(0.02, rel=0.15)  # 160 degrees of freedom: sd within ~6% (1 se)
    none = seed_spread(df["loss"].to_numpy(), [df["compute/flops"].to_numpy()], df["run_id"], df["run_id"])
    assert none[2] is None  # one seed per configuration: no seed spread to measure


@pytest.mark.parametrize("target, culprit", [({"compute": -1.0}, "compute=-1"), ({"compute": float("nan")}, "compute=nan"),
                                             ({"params": 1e5}, "params"), ({"compute": 1e17}, "more than 10000x")])
def test_targets_out_of_range_are_refused_before_fitting(target, culprit):
    df = ladder(np.random.default_rng(0))
    with pytest.raises(DataError, match=culprit.replace("+", r"\+")):
        predict(df, "power", [target], y="loss", n_boot=20)


def _coverage(draws: int, n_boot: int) -> tuple[float, float]:
    hits, law_hits = 0, 0
    for k in range(draws):
        rng = np.random.default_rng(100 + k)
        (p,) = predict(ladder(rng), "power", [{"compute": TARGET}], y="loss", n_boot=n_boot, seed=k)
        new_run = truth(TARGET) + rng.normal(0, SIGMA)
        hits += p.lo <= new_run <= p.hi
        law_hits += p.fit_lo <= new_run <= p.fit_hi
    return hits / draws, law_hits / draws


def test_prediction_interval_covers_new_runs_on_a_planted_ladder():
    cover, law_only = _coverage(12, 50)
    assert cover >= 10 / 12  # 90% intended; 60 draws of this design gave 0.90
    assert law_only < cover  # the seed spread is what a new run needs beyond the law's interval


@pytest.mark.slow
def test_prediction_interval_coverage_is_near_its_level():
    cover, _ = _coverage(200, 200)
    assert 0.85 <= cover <= 0.95  # binomial sd at 200 draws: 2.1 points


def test_heldout_check_holds_out_whole_runs_and_predicts_them():
    df = ladder(np.random.default_rng(3))
    C = np.sort(df["compute/flops"].unique())
    res = heldout_check(df, "power", float(C[5]), y="loss", n_boot=50)
    assert (res["n_train_runs"], res["n_test_runs"]) == (24, 8)
    assert [t["at"]["compute"] for t in res["targets"]] == pytest.approx(list(C[6:]))
    assert all(t["n_seeds"] == 4 for t in res["targets"])
    for t in res["targets"]:  # a planted truth, 2x beyond the fitted runs: the law holds
        assert abs(t["value"] - truth(t["at"]["compute"])) < 0.01
        assert t["lo"] < t["value"] < t["hi"]
    assert res["fitted_up_to"] == pytest.approx(C[5])
