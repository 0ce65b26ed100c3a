"""The forecast calibration's design and truths (cheap: no fits), and a few draws of it (slow; the
full table: `python -m scaling.calibration forecast --draws 200`)."""

from pathlib import Path

import numpy as np
import pytest

from scaling.calibration import forecast as F
from scaling.calibration import render

DEMO = Path(__file__).resolve().parents[1] / "runs" / "demo"


def test_measure_design_recovers_a_planted_design_and_its_noise():
    des = F.DESIGNS["baseline"]
    planted = F.Design("planted", des.params, des.tokens, des.compute, 60, 0.012, 0.005, des.anchors)
    df = F.draw(planted, F.TRUTHS["well"], np.random.default_rng(3))
    df = df.assign(recipe="r", step=np.tile(np.arange(4), len(df) // 4))  # budgets by step, as records
    got = F.measure_design(df, "r", y=F.Y)
    assert got.params == planted.params and np.allclose(got.compute, planted.compute)
    assert np.allclose(got.tokens, planted.tokens) and got.seeds == 60
    # 4 widths x 59 run degrees of freedom: the sd's relative standard error is about 5%
    assert got.sd_run == pytest.approx(0.012, rel=0.2) and got.sd_point == pytest.approx(0.005, rel=0.15)
    # the anchors are the seed-mean losses at the smallest and largest compute, near the truth there
    assert got.anchors[0] == pytest.approx(des.anchors[0], rel=0.01)
    assert got.anchors[1] == pytest.approx(des.anchors[1], rel=0.01)


@pytest.mark.parametrize("name", sorted(F.TRUTHS))
def test_truths_are_anchored_on_the_design(name):
    des = F.DESIGNS["baseline"]
    L, well = F.TRUTHS[name].fn(des), F.well(des)
    C = des.C
    lo = np.unravel_index(np.argmin(C), C.shape)
    assert L[lo] == pytest.approx(des.anchors[0], rel=1e-12)  # every truth starts at the smallest run's loss
    assert np.all(np.diff(well[:, -1]) < 0)
    if name in ("well", "two_terms"):
        assert L.flat[np.argmax(C)] == pytest.approx(des.anchors[1], rel=1e-12)


def test_misspecified_truths_depart_from_the_fitted_form_where_stated():
    des = F.DESIGNS["baseline"]
    well, C = F.well(des), des.C
    # the well truth is exactly floor + A C^-alpha: log reducible loss linear in log C
    slope = np.polyfit(np.log(C.ravel()), np.log(well.ravel() - F.FLOOR), 1, full=True)
    assert slope[1][0] < 1e-20
    # broken: equal to the well truth up to the break, above it beyond (returns diminish)
    b = F.broken(des)
    cb = C[-3, -1]
    assert np.allclose(b[C <= cb], well[C <= cb]) and np.all(b[C > cb] > well[C > cb])
    # the untuned learning rate costs nothing at the smallest run and LR_SHARE of the loss at the largest
    lr = F.lr_penalty(des)
    assert lr[0, 0] == pytest.approx(well[0, 0]) and lr[-1, -1] == pytest.approx(well[-1, -1] * (1 + F.LR_SHARE))
    # two terms: same ends, different curvature in between
    t = F.two_terms(des)
    assert np.max(np.abs(t / well - 1)) > 0.005


def test_draw_has_runs_of_correlated_points():
    """A run's points share its offset: the run-level variance dominates when planted so."""
    des = F.DESIGNS["early"]
    loud = F.Design("runs", des.params, des.tokens, des.compute, 40, 0.02, 0.001, des.anchors)
    df = F.draw(loud, F.TRUTHS["well"], np.random.default_rng(0))
    assert len(df) == 4 * 4 * 40 and df["run_id"].nunique() == 160
    dev = np.log(df[F.Y]) - np.log(df.groupby(["config_id", "compute/flops"])[F.Y].transform("mean"))
    per_run = dev.groupby(df["run_id"]).agg(["mean", "std"])
    assert per_run["mean"].std() > 5 * per_run["std"].mean()


@pytest.mark.skipif(not DEMO.is_dir(), reason=f"the demo's records ({DEMO}) are absent")
def test_designs_are_the_demos_measured_design():
    import scaling

    df = scaling.load(DEMO)
    for recipe, des in F.DESIGNS.items():
        got = F.measure_design(df, recipe)
        assert np.allclose(got.compute, des.compute, rtol=1e-3) and got.params == des.params
        assert got.sd_run == pytest.approx(des.sd_run, rel=1e-2) and got.sd_point == pytest.approx(des.sd_point, rel=1e-2)


@pytest.mark.slow
def test_a_few_draws_cover_under_the_well_specified_truth():
    rows = F.calibrate(12, seed=2, n_boot=100, recipe="early", only=("well", "broken"))
    well, broken = rows
    assert well.n == 12 and well.failed == 0
    assert well.coverage >= 0.75 and well.median_err < 0.02
    assert broken.median_err > well.median_err  # a break inside the fitted range is forecast worse
    text = render("forecast", rows)
    assert "PI cover" in text and "broken" in text
