"""Resume: a sweep whose launcher, and separately whose workers, are SIGKILLed at random moments,
several times, ends with the records of an uninterrupted sweep (none lost, none duplicated, no
half-written file). See tests/sweep_harness.py; `python tests/sweep_harness.py` prints the counts."""

from __future__ import annotations

import os

import pytest

import sweep_harness as H


def _check(counts: dict, kills: int) -> None:
    assert counts["launcher_kills"] >= 2 and counts["worker_kills"] >= 2, counts
    assert counts["launcher_kills"] + counts["worker_kills"] <= kills
    assert counts["runs_committed"] == counts["runs"], counts
    assert counts["records_lost"] == 0 and counts["records_extra"] == 0, counts
    assert counts["records_duplicated"] == 0 and counts["records_different"] == 0, counts
    assert counts["half_written_files"] == 0, counts


@pytest.mark.slow
def test_kill_launcher_and_workers_then_resume(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_STEP_S", "0.1")
    sweep = tmp_path / "chaos.yaml"
    sweep.write_text(H.FAKE_SWEEP.replace("[16, 32, 48]", "[16, 32]"))
    env = dict(os.environ)
    assert H.run_to_end(sweep, tmp_path / "ref", H.FAKE, 2, env) == 0
    counts = H.chaos(sweep, tmp_path / "chaos", H.FAKE, kills=8, seed=7, workers=2, window=(0.2, 2.0))
    counts.update(H.compare(tmp_path / "ref", tmp_path / "chaos"))
    _check(counts, 8)


@pytest.mark.slow
def test_kill_and_resume_with_the_real_trainer(tmp_path):
    pytest.importorskip("scaling.train")
    sweep = tmp_path / "chaos.yaml"
    sweep.write_text(H.REAL_SWEEP)
    env = dict(os.environ)
    assert H.run_to_end(sweep, tmp_path / "ref", None, 2, env) == 0
    counts = H.chaos(sweep, tmp_path / "chaos", None, kills=6, seed=3, workers=2, window=(0.5, 3.0))
    counts.update(H.compare(tmp_path / "ref", tmp_path / "chaos"))
    _check(counts, 6)
