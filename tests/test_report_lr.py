"""The pretraining report on a sweep that tunes the learning rate (no training, no law fits): its
frontier machinery gets the best-lr rows, the summary gains a "Learning rates" section and the
figure its panels; a sweep with one learning rate per configuration reports as before."""

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

from scaling.claims import registry as claim_registry
from scaling.fit import lr_optimum
from scaling.records import jsonable
from scaling.report import figures
from scaling.report import pretrain as report
from test_lr_optimum import Y, ladder


@pytest.fixture(scope="module")
def sweep():
    rng = np.random.default_rng(7)
    base = ladder(rng, recipe="baseline", shift={48: 8.0})  # width 48's grid misses its optimum
    early = ladder(rng, recipe="early", a=0.0)  # an optimum flat in width
    df = pd.concat([base, early], ignore_index=True)
    return df.assign(config_id=df["recipe"] + df["model.width"].astype(str) + df["optim.lr"].map("{:.4g}".format))


class Stop(Exception):
    pass


def test_the_verdicts_and_fits_get_the_best_lr_rows(sweep, tmp_path, monkeypatch):
    seen = []

    def judge(name, df, **kw):
        seen.append(df)
        raise Stop

    monkeypatch.setattr(claim_registry, "judge_or_refuse", judge)
    cfg = report.settings({"bootstrap": 50}, "t.yaml", ["baseline", "early"])
    with pytest.raises(Stop):
        report.write(sweep, tmp_path / "rep", cfg, sweep_name="syn")
    want = lr_optimum.best_lr_rows(sweep, report.learning_rates(sweep, Y, 50))
    pd.testing.assert_frame_equal(seen[0], want)
    assert seen[0]["optim.lr"].nunique() < sweep["optim.lr"].nunique()
    assert not (tmp_path / "rep").exists()  # a failure writes nothing


def test_learning_rate_section_and_figure(sweep, tmp_path):
    lrs = report.learning_rates(sweep, Y, 100)
    md = "\n".join(report.lr_section(lrs))
    assert "## Learning rates" in md and "seeds within each of 8 configurations" in md
    table = [line for line in md.splitlines() if line.startswith("| baseline |") or line.startswith("| early |")]
    assert len(table) == 8 + 2  # recipe x width, then one law per recipe
    base_law = next(line for line in table if "lr* = c·N^a·D^b" in line and line.startswith("| baseline"))
    early_law = next(line for line in table if "lr* = c·N^a·D^b" in line and line.startswith("| early"))
    assert "| 12 (4) |" in base_law and "| no (" in base_law  # width 48 left out; a = -0.5 is not flat
    assert "| yes (" in early_law
    assert "warning: baseline: the best learning rate sits at the edge of the grid for model.width 48" in md
    assert lrs["fits"]["early"]["transfer"]["flat"] and not lrs["fits"]["baseline"]["transfer"]["flat"]
    json.dumps(jsonable({**lrs, "fits": {k: {q: w for q, w in v.items() if q != "draws"}
                                          for k, v in lrs["fits"].items()}}))
    fig = figures.lr_figure(lrs, Y, "syn")
    axes = fig.axes
    assert [a.get_title() for a in axes] == ["syn: baseline", "syn: early"]
    assert len([line for line in axes[0].get_lines() if line.get_label().startswith("model.width")]) == 4
    path = figures.plots.save(fig, tmp_path / "learning_rates.png")
    assert path.stat().st_size > 0
    matplotlib.pyplot.close("all")


def test_one_learning_rate_per_configuration_reports_as_before(sweep):
    one = sweep[np.isclose(sweep["optim.lr"], sweep.groupby(["recipe", "model.width"])["optim.lr"].transform("min"))]
    assert report.learning_rates(one, Y, 50) is None
    assert report.learning_rates(sweep.drop(columns="optim.lr"), Y, 50) is None
    assert lr_optimum.best_lr_rows(one, None) is one
    assert report.lr_section(None) == []


@pytest.mark.slow
def test_report_folder_of_a_tuned_sweep(sweep, tmp_path):
    cfg = report.settings({"bootstrap": 20}, "t.yaml", ["baseline", "early"])
    res = report.write(sweep, tmp_path / "rep", cfg, sweep_name="syn")
    out = tmp_path / "rep"
    assert (out / "learning_rates.png").stat().st_size > 0
    assert "## Learning rates" in (out / "summary.md").read_text()
    rows = pd.read_csv(out / "best_lr_rows.csv")
    want = lr_optimum.best_lr_rows(sweep, report.learning_rates(sweep, Y, 20))
    assert sorted(zip(rows["run_id"], rows["step"])) == sorted(zip(want["run_id"], want["step"]))
    assert set(res["learning_rates"]["fits"]) == {"baseline", "early"}
    assert json.loads((out / "results.json").read_text())["learning_rates"]["cells"][0]["lrs"]
