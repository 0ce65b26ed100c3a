"""The main job end to end on a tiny sweep (sweep -> fit -> compare -> report), and the notebooks."""

import json
from pathlib import Path

import pytest

from scaling.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny_sweep.yaml"


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory):
    base = tmp_path_factory.mktemp("tiny")
    rc = main(["report", str(TINY), "--runs", str(base / "runs"), "--out", str(base / "report"), "--workers", "2"])
    assert rc == 0
    return base


def test_report_folder(tiny_report):
    out = tiny_report / "report"
    for name in ("frontier.png", "isoflop.png", "summary.md", "results.json"):
        assert (out / name).stat().st_size > 200, name
    summary = (out / "summary.md").read_text()
    results = json.loads((out / "results.json").read_text())
    assert results["runs"] == 9
    # 3 runs per recipe (one seed each) allow 10 distinct resamples: an interval cannot rest on
    # them, so the report says so instead of printing a verdict (see tests/test_report_synthetic.py)
    assert results["comparisons"] == [] and len(results["refused"]) == 2
    assert "early vs baseline: not compared (recipe 'baseline' has 3 independent configurations" in summary
    assert not (out / "multiplier_early_vs_baseline.png").exists()
    # every verdict the report states is a verdict record of the claim registry, refused ones included
    from scaling.claims import record

    assert [record.validate(r)["claim"] for r in results["verdicts"]] == ["multiplier", "multiplier"]
    refusal = results["verdicts"][0]
    assert refusal["verdict"] == "not judged" and refusal["subject"].startswith("early vs ")
    assert "3 independent configurations" in refusal["refusals"][0] and refusal["inputs"]["rows"] > 0


def test_report_prints_one_line_per_verdict_record(tiny_report, capsys):
    capsys.readouterr()
    assert main(["report", str(TINY), "--runs", str(tiny_report / "runs"), "--out", str(tiny_report / "r4")]) == 0
    lines = capsys.readouterr().out.splitlines()
    records = json.loads((tiny_report / "r4" / "results.json").read_text())["verdicts"]
    assert [ln for ln in lines if ln.startswith("multiplier ")] == [r["summary"] for r in records]
    assert all(": NOT JUDGED (" in r["summary"] for r in records)


def test_report_section_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.read_text().replace("candidate: early, baseline: blind", "candidate: early, baseline: nope"))
    assert main(["report", str(bad), "--runs", str(tmp_path / "r"), "--no-train"]) == 2
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("name", ["compute_frontier", "compare_recipes", "rl_gains"])
def test_notebook_runs_top_to_bottom(tiny_report, name, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("SCALING_SWEEP", str(tiny_report / "runs"))
    monkeypatch.setenv("SCALING_RL_SWEEP", str(tiny_report / "no_rl_runs"))
    monkeypatch.setenv("SCALING_SCALERL", str(ROOT.parent / "shared" / "data" / "external" / "scalerl-fig1" /
                                              "fig1_digitized.csv"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(ROOT / "notebooks")}})
    client.execute()  # raises CellExecutionError on the first failing cell
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors


def test_report_json_is_the_results_alone_and_trains_nothing_again(tiny_report, capsys):
    runs = tiny_report / "runs" / "runs"
    before = {p.name: (p / "metrics.jsonl").stat().st_mtime for p in runs.iterdir()}
    capsys.readouterr()
    assert main(["report", str(TINY), "--runs", str(tiny_report / "runs"), "--out", str(tiny_report / "r3"),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)  # nothing but the JSON on stdout, NaN as null
    assert out["runs"] == 9 and out == json.loads((tiny_report / "r3" / "results.json").read_text())
    assert before == {p.name: (p / "metrics.jsonl").stat().st_mtime for p in runs.iterdir()}  # a report again
