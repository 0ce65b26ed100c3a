"""Real ladders: each public ladder read as one table with its largest models held out (cheap), the
scoring in closed form, and one forecast against what its source publishes (slow). The table of
all four: `python -m scaling.calibration.ladders`."""

import numpy as np
import pytest

from external_data import external
from scaling.calibration import ladders as L


def _load(name):
    return L.load(name, external(L.LADDERS[name][0]).parent)


@pytest.mark.parametrize("name", sorted(L.LADDERS))
def test_each_ladder_holds_out_its_largest_models_whole(name):
    lad = _load(name)
    t = lad.table
    assert list(t.columns) == list(L.COLUMNS) and t[["N", "D", "C", "loss"]].gt(0).all().all()
    held, scored = lad.held, lad.scored
    assert held.any() and (~held).any() and not (scored & ~held).any()
    assert t.loc[held, "N"].min() > t.loc[~held, "N"].max()  # every held-out model is larger than every fitted one
    assert not set(t.loc[held, "run"]) & set(t.loc[~held, "run"])  # runs held out whole


def test_ladders_follow_their_sources_protocols():
    opt = _load("colpret-opt-trajectories")
    t = opt.table
    top = t[opt.held]
    assert top["N"].unique().tolist() == [175e9]
    # scored: the last 30% of OPT-175B's checkpoints (of the trajectory's own steps), fewer than held
    assert 0 < opt.scored.sum() < opt.held.sum()
    assert np.allclose(t["loss"], np.log(np.exp(t["loss"])))  # log perplexity, in nats
    mis = _load("misfitting-li2025").table
    assert not mis.duplicated(["N", "D"]).any()  # one (best learning rate) run per (model, tokens)
    por = _load("porian-rsld")
    assert por.table["N"].nunique() == 16 and por.table.loc[por.held, "N"].nunique() == 2


def test_score_in_closed_form():
    s = L.score([1.1, 2.0, 2.9], [1.0, 1.9, 2.8], [1.2, 2.1, 2.99], [1.0, 2.0, 3.0])
    assert np.allclose(s["errors"], [0.1, 0.0, -1 / 30])
    assert s["median_abs"] == pytest.approx(1 / 30) and s["max_abs"] == pytest.approx(0.1)
    assert s["coverage"] == pytest.approx(2 / 3) and s["n"] == 3


def test_unknown_ladder_or_absent_folder_is_a_data_error(tmp_path):
    with pytest.raises(L.DataError, match="no ladder 'nope'"):
        L.load("nope")
    with pytest.raises(L.DataError, match="is absent"):
        L.load("porian-rsld", tmp_path)


#: kyo-chinchilla-llm's published fit (SOURCE.md: the `chinchilla` toolkit's LLM example, fitted to
#: every point, held-out ones included, by an asymmetric loss that tracks the lower envelope)
KYO_PUBLISHED = {"E": 1.70024, "A": 184.69, "B": 1633.48, "alpha": 0.28901, "beta": 0.35579}


@pytest.mark.slow
def test_chinchilla_forecast_of_the_largest_models_within_published_errors():
    from scaling.fit import laws

    kyo = _load("kyo-chinchilla-llm")
    got = L.forecast(kyo, n_boot=50, diagnose=False)
    t = kyo.table[kyo.scored]
    p = KYO_PUBLISHED
    published = laws.chinchilla_loss(t["N"], t["D"], p["E"], p["A"], p["B"], p["alpha"], p["beta"])
    # fitted without them, the forecast of the largest models errs no more than the published fit
    # that saw them does on the same points
    assert got["median_abs"] <= np.median(np.abs((published - t["loss"]) / t["loss"]))
    opt = L.forecast(_load("colpret-opt-trajectories"), n_boot=50, diagnose=False)
    # the Hitchhiker's guide: about 4% mean absolute relative error is the best typically achieved
    assert opt["mean_abs"] <= 0.04 and opt["n"] == 10
