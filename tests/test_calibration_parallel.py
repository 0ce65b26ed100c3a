"""`claim parallel` calibrated on the test-time demo's design (fast: 40 draws per truth; the
table's 200 come from `python -m scaling.calibration parallel --draws 200`)."""

from scaling.calibration import parallel as C


def test_planted_truths_are_what_they_say():
    p = {t.name: C.planted(t) for t in C.TRUTHS}
    assert abs(p["flat accuracy"]["gain"]) < 1e-9 and p["rising accuracy"]["gain"] > 0.15
    assert p["flat critical path"]["critical_ratio"] < 1.2 < 2 < p["rising critical path"]["critical_ratio"]


def test_false_verdicts_at_most_5_percent_on_the_demo_design():
    rows = C.calibrate(draws=40, seed=1)
    assert [r["truth"] for r in rows] == [t.name for t in C.TRUTHS]
    for r in rows:
        # P(more than 5 of 40 | a 5% rate) ~ 1.4%: a claim above 5% fails here
        assert r[r["false_verdict"]] <= 5, r
    by = {r["truth"]: r for r in rows}
    assert by["rising accuracy"]["supported"] > 0 and by["rising critical path"]["refuted"] > 30
