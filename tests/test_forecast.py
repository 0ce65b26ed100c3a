"""`scaling forecast` / `scaling score` in-process: a forecast written before its target runs exist,
scored once they do, on a planted power-law ladder (tests/test_fit_predict.py); every refusal one
line naming the culprit, exit 2, nothing written; `fit --predict-at` agrees with the frontier fit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scaling import forecast as fc
from scaling.cli import main
from test_fit_predict import ladder, truth

TOP = 64  # the planted ladder's largest width (compute 1e12): the target


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """before.csv: the ladder without its largest width; after.csv: with it (the runs came in);
    forecast.json: a forecast of the largest width, written from before.csv."""
    w = tmp_path_factory.mktemp("forecast")
    df = ladder(np.random.default_rng(7))
    df[df["model.width"] != TOP].to_csv(w / "before.csv", index=False)
    df.to_csv(w / "after.csv", index=False)
    rc = main(["forecast", str(w / "before.csv"), "--law", "power", "--target", "compute=1e12", "--match",
               f"model.width={TOP}", "--y", "loss", "--bootstrap", "50", "--out", str(w / "forecast.json")])
    assert rc == 0
    return w


def _snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _refused(world, capsys, argv: list, culprit: str) -> None:
    capsys.readouterr()
    before = _snapshot(world)
    rc = main([a.format(w=world) for a in argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert culprit in err, err
    assert _snapshot(world) == before  # nothing written, nothing changed


def test_forecast_record_is_sealed_and_holds_what_it_rests_on(world):
    rec = fc.read_forecast(world / "forecast.json")
    assert rec["law"] == "power" and rec["target"] == {"at": {"compute": 1e12}, "match": {"model.width": str(TOP)}}
    assert rec["inputs"]["rows"] == 28 and rec["inputs"]["target_rows_seen"] == 0
    assert len(rec["inputs"]["hash"]) == 64 and rec["code"]["version"]
    p = rec["prediction"]
    assert p["lo"] < p["fit_lo"] <= p["value"] <= p["fit_hi"] < p["hi"]
    assert abs(p["value"] - truth(1e12)) < 0.01  # the planted law, 2x beyond the fitted runs


def test_score_reads_the_target_runs_and_writes_a_sealed_score(world, capsys):
    capsys.readouterr()
    assert main(["score", str(world / "forecast.json"), str(world / "after.csv")]) == 0
    out = capsys.readouterr().out
    rec = json.loads((world / "forecast.score.json").read_text())
    assert rec["checksum"] == fc.checksum(rec) and rec["n_runs"] == 4
    df = ladder(np.random.default_rng(7))
    actual = df.loc[df["model.width"] == TOP, "loss"].mean()
    assert rec["actual"] == pytest.approx(actual)
    assert rec["error"] == pytest.approx((rec["value"] - actual) / actual)
    assert rec["covered"] == (rec["interval"][0] <= actual <= rec["interval"][1])
    assert f"{rec['error']:+.2%}" in out
    (world / "forecast.score.json").unlink()  # the refusals below check that nothing is written


@pytest.mark.parametrize("argv, culprit", [
    (["forecast", "{w}/before.csv", "--law", "power", "--target", "compute=-1", "--y", "loss", "--out", "{w}/x.json"], "compute must be finite and positive"),
    (["forecast", "{w}/before.csv", "--law", "power", "--target", "compute=nan", "--y", "loss", "--out", "{w}/x.json"], "compute=nan"),
    (["forecast", "{w}/before.csv", "--law", "power", "--target", "compute=1e20", "--y", "loss", "--out", "{w}/x.json"], "more than 10000x"),
    (["forecast", "{w}/before.csv", "--law", "chinchilla", "--target", "compute=1e12", "--y", "loss", "--out", "{w}/x.json"], "takes params, tokens"),
    (["forecast", "{w}/before.csv", "--law", "power", "--target", "compute=1e12", "--y", "nope", "--out", "{w}/x.json"], "nope"),
    (["forecast", "{w}/before.csv", "--law", "power", "--target", "compute=1e12", "--y", "loss", "--out", "{w}/forecast.json"], "never overwritten"),
    (["forecast", "{w}/before.csv", "--law", "power", "--target", "compute=1e12", "--where", "colour=red", "--y", "loss", "--out", "{w}/x.json"], "colour"),
])
def test_forecast_refusals(world, capsys, argv, culprit):
    _refused(world, capsys, argv, culprit)


def _variant(world, name: str, edit) -> str:
    rec = json.loads((world / "forecast.json").read_text())
    rec = edit(rec)
    (world / name).write_text(json.dumps(rec))
    return name


def test_score_refusals(world, capsys):
    def reseal_as(law):
        return lambda r: fc.seal({k: v for k, v in {**r, "law": law}.items() if k != "checksum"})

    edited = _variant(world, "edited.json", lambda r: {**r, "prediction": {**r["prediction"], "value": 0.5}})
    other_law = _variant(world, "other_law.json", reseal_as("chinchilla"))
    df = ladder(np.random.default_rng(7))
    df.loc[0, "loss"] += 0.01  # a fitted run changed after the forecast
    df.to_csv(world / "changed.csv", index=False)
    for name, source, culprit in ((edited, "after.csv", "edited after it was written"),
                                  (other_law, "after.csv", "does not match the record's law 'chinchilla'"),
                                  ("forecast.json", "before.csv", "no finished rows match the target"),
                                  ("forecast.json", "changed.csv", "inputs hash differs")):
        _refused(world, capsys, ["score", f"{{w}}/{name}", f"{{w}}/{source}"], culprit)
    for name in (edited, other_law, "changed.csv"):
        (world / name).unlink()


def test_fit_predict_at_agrees_with_the_frontier_fit(world, capsys):
    capsys.readouterr()
    rc = main(["fit", str(world / "before.csv"), "--law", "power", "--y", "loss", "--bootstrap", "50",
               "--predict-at", "compute=1e12", "--predict-at", "compute=2e12", "--check-above", "3e11", "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    p = res["params"]
    for pred, c in zip(res["predictions"], (1e12, 2e12)):  # two implementations of the frontier fit agree
        assert pred["value"] == pytest.approx(p["E"] + p["A"] * c ** -p["alpha"], rel=1e-6)
        assert pred["lo"] < pred["value"] < pred["hi"]
    e = res["extrapolation"]
    assert e["n_test_runs"] == 4 and len(e["targets"]) == 1 and e["max_abs_rel_error"] < 0.02  # width 56 held out


@pytest.mark.parametrize("flag, culprit", [("compute=0", "compute must be finite and positive"),
                                           ("params=1e5,tokens=1e6", "takes compute"),
                                           ("compute=1e17", "more than 10000x"), ("compute", "ROLE=VALUE")])
def test_fit_predict_at_refusals(world, capsys, flag, culprit):
    _refused(world, capsys, ["fit", "{w}/before.csv", "--law", "power", "--y", "loss", "--predict-at", flag], culprit)


def test_report_forecasts_the_top_rung_of_each_recipe():
    from scaling.report.forecast import lines, summary, top_rung

    rng = np.random.default_rng(11)
    df = ladder(rng).assign(recipe="a")
    df = df.assign(**{"params/total": 1000.0 * df["model.width"]})
    two = pd.concat([df, df.assign(recipe="b", run_id="b" + df["run_id"], config_id="b" + df["config_id"],
                                   loss=df["loss"] + 0.05)], ignore_index=True)
    rows = top_rung(two, "loss", laws=("power",), n_boot=50)
    assert [(r["recipe"], r["target"]["compute"]) for r in rows] == [("a", pytest.approx(1e12)), ("b", pytest.approx(1e12))]
    a = rows[0]
    actual = df.loc[df["model.width"] == TOP, "loss"].mean()
    assert a["actual"] == pytest.approx(actual) and a["n_seeds"] == 4
    assert a["error"] == pytest.approx((a["value"] - actual) / actual)
    s = summary(rows)["power"]
    assert s["targets"] == 2 and s["max_abs_error"] == pytest.approx(max(abs(r["error"]) for r in rows))
    md = "\n".join(lines(rows))
    assert "| a | power | compute 1e+12 |" in md and f"{a['error']:+.2%}" in md
    assert top_rung(df.drop(columns=["params/total", "model.width"]), "loss", laws=("power",))[0]["refused"]


def test_target_runs_are_the_nearest_point_of_each_matching_run():
    df = ladder(np.random.default_rng(2))
    two = pd.concat([df.assign(recipe="a"), df.assign(recipe="b", run_id="b" + df["run_id"])], ignore_index=True)
    rec = {"law": "power", "target": {"at": {"compute": 1.03e12}, "match": {"model.width": str(TOP)}},
           "options": {"where": {"recipe": "a"}, "columns": {"compute": "compute/flops", "loss": "loss"},
                       "run_col": "run_id"}}
    runs = fc.target_runs(two, rec)
    assert sorted(runs["run_id"]) == [f"r7s{s}" for s in range(4)]  # recipe b's runs are not the target's
    far = {**rec, "target": {**rec["target"], "at": {"compute": 1.1e12}}}  # 10% away: beyond the tolerance
    assert len(fc.target_runs(two, far)) == 0
