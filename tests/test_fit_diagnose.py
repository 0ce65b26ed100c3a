"""The misspecification diagnostic: seed noise measured from runs, the lack-of-fit test against a
planted truth (well specified: quiet; not: a warning), and the widened interval in closed form."""

from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from scaling.calibration import forecast as F
from scaling.fit import diagnose as dg


def test_measure_noise_recovers_planted_run_and_point_sd():
    rng = np.random.default_rng(0)
    K, S, B = 100, 5, 4
    truth = rng.normal(0, 1, (K, 1, B))  # any per-configuration curve: the ANOVA removes it
    t = truth + rng.normal(0, 0.02, (K, S, 1)) + rng.normal(0, 0.01, (K, S, B))
    sd_run, sd_pt, dof = dg.measure_noise(t)
    assert dof == K * (S - 1)
    assert sd_run == pytest.approx(0.02, rel=0.1) and sd_pt == pytest.approx(0.01, rel=0.06)


def test_measure_noise_needs_two_seeds():
    with pytest.raises(dg.DataError, match="2 seeds"):
        dg.measure_noise(np.zeros((3, 1, 4)))


def test_widen_adds_the_misspecification_term_in_quadrature():
    p = SimpleNamespace(value=1.0, lo=0.97, hi=1.04, level=0.9)
    d = dg.Diagnosis(None, 1.0, 0.5, (5, 12), 0.02, np.nan, np.nan, "")
    z = stats.norm.ppf(0.95)
    lo, hi = dg.widen(p, d)
    assert lo == pytest.approx(1.0 - np.hypot(0.03, z * 0.02)) and hi == pytest.approx(1.0 + np.hypot(0.04, z * 0.02))
    none = dg.Diagnosis(None, 1.0, 0.5, (5, 12), 0.0, np.nan, np.nan, "")
    assert dg.widen(p, none) == (pytest.approx(0.97), pytest.approx(1.04))


def _held_in(truth_fn, seed, **noise):
    des = F.DESIGNS["baseline"]
    des = F.Design("t", des.params, des.tokens, des.compute, 5, noise.get("sd_run", des.sd_run),
                   noise.get("sd_point", des.sd_point), des.anchors)
    df = F.draw(des, F.Truth("t", truth_fn, ""), np.random.default_rng(seed))
    return df[df["config_id"] != "w3"]


def _steepening(des):
    """Returns that speed up: the reducible loss falls 4x slower than the well truth's up to the
    middle of the fitted range (log compute), then 3x faster. A floor + A C^-alpha can bend the
    other way only (towards its floor), so its residuals must show the shape."""
    c0, _, r0, _, a = F._ends(des)
    x, xb = des.C / c0, np.sqrt(des.C[:-1].max() / c0)
    return F.FLOOR + r0 * np.where(x <= xb, x ** (-a / 4), xb ** (-a / 4) * (x / xb) ** (-3 * a))


def test_lack_of_fit_is_quiet_on_the_fitted_form_and_warns_on_a_bent_one():
    quiet = dg.diagnose(_held_in(F.well, 1), "power", y=F.Y)
    assert quiet.warning is None and quiet.p_value > dg.ALPHA and np.isfinite(quiet.statistic)
    assert quiet.dof[1] == 3 * 4  # run degrees of freedom: 3 configurations x (5 seeds - 1), not points
    loud = dg.diagnose(_held_in(_steepening, 0), "power", y=F.Y)
    assert loud.warning is not None and "residuals exceed seed noise" in loud.warning
    assert loud.p_value < 1e-3 and loud.scale > 0.005


def test_run_offsets_are_not_mistaken_for_misfit():
    """Large run offsets shared by a run's points and tiny point noise: the frontier's seed means
    scatter by the runs' offsets, which the test counts as noise (per run), so it stays quiet."""
    d = dg.diagnose(_held_in(F.well, 4, sd_run=0.02, sd_point=0.0005), "power", y=F.Y)
    assert d.warning is None, d.test


def test_no_seeds_no_lack_of_fit_test():
    df = _held_in(F.well, 0).drop(columns=["config_id"])
    assert dg.lack_of_fit(df, "power", y=F.Y) is None
    d = dg.diagnose(df[df["params/total"] < df["params/total"].max()], "power", y=F.Y)
    assert d.warning is None and np.isnan(d.statistic) and d.test.startswith("no test")
