"""The phase claim's calibration on the test-time demo's RL design, scaled down (a few draws; the
full table: `python -m scaling.calibration phases --draws 200`)."""

from scaling.calibration import phases as cal


def test_phase_calibration_on_the_demo_design_in_few_draws():
    rows = {(r.design, r.truth): r for r in cal.calibrate(12, seed=1, n_boot=100, only=("three_min", "rise_fall"))}
    demo, five, loud, fan = (d.label for d, _ in cal.designs())
    assert demo.endswith("3 seeds") and five.endswith("5 seeds")
    for truth in ("three_min", "rise_fall"):  # 3 seeds: below the minimum, every draw inconclusive, said why
        r = rows[demo, truth]
        assert r.rate("inconclusive") == 1.0 and "10 distinct resamples" in r.note
    # 5 seeds: three phases of the stated minimum are found, never refuted; a rise then fall is never
    # called three phases, and the noisier design is refused rather than refuted on a real shape
    assert rows[five, "three_min"].rate("supported") >= 0.75 and rows[five, "three_min"].false_refuted == 0
    assert rows[five, "rise_fall"].false_supported == 0 and rows[loud, "rise_fall"].false_supported == 0
    assert rows[loud, "three_min"].false_refuted <= 1 / 12
    assert rows[fan, "rise_fall"].false_supported <= 1 / 12  # seeds drifting apart are not phases
