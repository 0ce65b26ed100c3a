"""The report from Python (`scaling.report.build`, no CLI): each stage's report module is picked
by the stage table and has one signature; a report without committed runs is refused."""

import importlib
import inspect
from pathlib import Path

import pytest

from scaling.errors import DataError
from scaling.report import build
from scaling.sweep import spec, stages

TINY = Path(__file__).resolve().parent / "data" / "tiny_sweep.yaml"


def test_every_stage_report_has_one_signature():
    mods = [importlib.import_module(s.report) for s in stages.STAGES.values()]
    assert len(mods) >= 2
    for name in ("settings", "write"):
        sigs = {str(inspect.signature(getattr(m, name))) for m in mods}
        assert len(sigs) == 1, (name, sigs)


def test_the_stage_table_picks_the_report():
    sweep = spec.load_sweep(TINY)
    assert build.report_module(sweep).__name__ == stages.get(sweep.stage).report


def test_no_committed_runs_is_refused(tmp_path):
    with pytest.raises(DataError):
        build.build(TINY, runs=tmp_path / "none", out=tmp_path / "rep", train=False)
    assert not (tmp_path / "rep").exists()
