"""The report on a synthetic record table (no training): the verdict's own fits, the exact floor,
the held-out largest size, the Huber sensitivity table, and an atomic folder."""

import json

import numpy as np
import pandas as pd
import pytest

from calibration_synthetic import E, sweep
from scaling.report import pretrain as report
from scaling.errors import ConfigError


@pytest.fixture(scope="module")
def records():
    rng = np.random.default_rng(3)
    df = pd.concat([sweep("baseline", 1.0, rng), sweep("early", 2.0, rng)], ignore_index=True)
    return df.assign(**{"data/entropy_floor/caption": E})


@pytest.mark.slow
def test_report_reuses_compare_fits_and_states_the_floor(records, tmp_path):
    cfg = report.settings({"bootstrap": 100, "compare": [{"candidate": "early", "baseline": "baseline",
                                                         "claim": "2x"}]}, "t.yaml", ["baseline", "early"])
    out = tmp_path / "rep"
    res = report.write(records, out, cfg, sweep_name="synthetic")
    r = res["comparisons"][0]
    fit = res["fits"]["early"]
    assert fit["bootstrap_from"] == "early vs baseline"  # the verdict's own resamples
    lo, hi = fit["intervals"]["E"]
    assert lo <= fit["params"]["E"] <= hi and fit["floor"] == E
    assert abs(fit["heldout_largest"]["mean_rel_error"]) < 0.02  # the law holds out to the largest size
    assert [row["delta"] for row in fit["huber_sensitivity"]] == [1e-3, "auto", np.inf]
    md = (out / "summary.md").read_text()
    assert "exact floor" in md and f"{E:.4g}" in md and "Huber delta sensitivity" in md
    assert "one-sided 97.5%" in md and r["verdict"]["verdict"] in ("supported", "inconclusive", "equivalent")
    assert json.loads((out / "results.json").read_text())["fits"]["baseline"]["floor"] == E
    # a failing rerun leaves the old report intact and no temporary folder behind
    before = (out / "summary.md").read_text()
    with pytest.raises(ConfigError, match="report.metric"):
        report.write(records, out, {**cfg, "metric": "nope"})
    bad = {**cfg, "pairs": [{"candidate": "early", "baseline": "baseline", "claim": None}]}
    import scaling.report.pretrain as rep

    orig = rep.summary_md
    rep.summary_md = lambda *a: (_ for _ in ()).throw(RuntimeError("disk full"))
    try:
        with pytest.raises(RuntimeError):
            report.write(records, out, bad)
    finally:
        rep.summary_md = orig
    assert (out / "summary.md").read_text() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".rep")]
