"""Calibration of `claim loglinear` on the test-time demo's own RL design.

Designs: `sweeps/testtime_demo.yaml` as it is (3 seeds: below the 5-run minimum, so every verdict
is "not judged"), the same with 5 seeds, and 5 seeds with a fifth of the noise (to show the
claim can reach a verdict at all). Truths (`scaling.calibration.design.TRUTHS`) and the verdict
each should get; a false SUPPORTED is "supported" for a curve that bends, a false REFUTED is
"refuted" for one that is log-linear in (learning-rate-weighted) compute or flat.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from scaling.calibration import row
from scaling.calibration import design as D
from scaling.claims.loglinear import loglinear_claim

SWEEP = Path(__file__).resolve().parents[2] / "sweeps" / "testtime_demo.yaml"
N_BOOT = 400  # resamples per claim: the demo report's `bootstrap`

#: (truth, expected verdict)
TRUTHS = (
    ("loglinear_rising", "supported"),
    ("loglinear_falling", "supported"),
    ("flat", "not refuted"),
    ("saturating", "refuted"),
    ("sigmoid", "refuted"),
)


def designs(source=SWEEP) -> list[D.RLDesign]:
    base = D.design_of(source, seeds=3)  # below the claims' minimum: never judged
    five = D.design_of(source, seeds=5)  # the demo's seeds
    quiet = five.with_(noise_sd=five.noise_sd / 5, seed_sd=five.seed_sd / 5,
                       label=f"{five.label}, noise / 5")
    return [base, five, quiet]


def verdicts(design: D.RLDesign, truth: str, draws: int, seed: int, key: int = 0) -> list[str]:
    """The claim's verdict on `draws` synthetic sweeps of `truth` on `design`."""
    out = []
    for i in range(draws):
        df = D.draw(design, D.truth(truth), np.random.default_rng([seed, key, i]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow inside unconverged sigmoid fits
            r = loglinear_claim(df, "rl/flops", ["y"], run_col="run_id", n_boot=N_BOOT, seed=i)
        out.append(r["combined"])
    return out


def calibrate(draws: int = 200, seed: int = 0, source=SWEEP) -> list:
    rows = []
    for di, d in enumerate(designs(source)):
        for ti, (name, expected) in enumerate(TRUTHS):
            rows.append(row("loglinear", d.label, name, expected, verdicts(d, name, draws, seed, 100 * di + ti)))
    return rows
