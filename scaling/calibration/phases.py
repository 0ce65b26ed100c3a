"""Calibration of `claim phases` on the test-time demo's RL design (`python -m scaling.calibration phases`).

Each draw is one synthetic sweep on the design of `sweeps/testtime_demo.yaml`
(:func:`scaling.calibration.design.design_of`: step 0, then log-spaced evaluations from the end of
the warmup; seed-specific compute; seed offsets; AR(1) noise), judged as `scaling claim phases`
judges a sweep (the same table path, `--min-seg 2` as in the demo's report). 3 seeds are below
the claim's minimum (5: 126 distinct resamples), so every draw there must come back inconclusive;
5 seeds, the demo's, is the smallest design that can give a verdict, and a noisier
one shows the power check at work, and one whose seeds drift apart (each its own trend) shows that
seeds, not points, are the unit.

Truths: closed-chain length in thinking tokens against u (the design's log effective compute,
0 at the end of the warmup, 1 at the last step), around :data:`BASE` tokens. A three-phase truth
is planted at a stated multiple of the claim's smallest shape, in the claim's own coordinates:
its amplitude is solved on the design (:func:`amplitude`) so that the noiseless curve at the
evaluated steps has theta = multiple x delta ("three": 1.5, "three_min": exactly 1, the boundary
of the equivalence test). The other truths move the length by :data:`SIZE` tokens per half.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scaling.calibration import design as D
from scaling.calibration import row
from scaling.claims import phases as ph

SWEEP = Path(__file__).resolve().parents[2] / "sweeps" / "testtime_demo.yaml"
BASE = 4.0  # thinking tokens of a closed chain (the demo's chains: about 3.3)
SIZE = 1.2  # tokens a two-phase or monotone truth moves per half of the span
#: the demo's length noise: evaluation noise (1024 rows per evaluation plus the policy's step-to-step
#: drift), seed offsets, and compute that differs by seed and by step (decode lengths)
NOISE = {"noise_sd": 0.1, "seed_sd": 0.3, "ar": 0.5, "flops_seed_sd": 0.05, "flops_step_sd": 0.1}
MIN_SEG = 2  # as the demo's report
N_BOOT = 200


def _three(u, a):
    u = np.clip(np.asarray(u, float), 0, None)
    return BASE + a * (np.minimum(u, 1 / 3) - np.clip(u - 1 / 3, 0, 1 / 3) + np.clip(u - 2 / 3, 0, None))


def _clip(u):
    return np.clip(np.asarray(u, float), 0, 1)


#: (name, length as a function of (u, amplitude), multiple of the smallest shape (three-phase
#: truths; None: amplitude SIZE), expected verdict, shape in words)
TRUTHS = (
    ("three", _three, 1.5, "supported", "lengthens, compresses, lengthens: theta 1.5x the stated minimum"),
    ("three_min", _three, 1.0, "not refuted", "three phases with theta exactly the stated minimum"),
    ("monotone", lambda u, a: BASE - a * _clip(u), None, "refuted", "shortens steadily (as the demo's chains)"),
    ("u_shape", lambda u, a: BASE + 2 * a * np.abs(_clip(u) - 0.5), None, "refuted", "compresses, then lengthens"),
    ("rise_fall", lambda u, a: BASE + 2 * a * (0.5 - np.abs(_clip(u) - 0.5)), None, "refuted",
     "lengthens, then compresses"),
    ("flat", lambda u, a: BASE + 0 * _clip(u), None, "not supported", "no change"),
)


def amplitude(des: D.RLDesign, shape, multiple: float) -> float:
    """The amplitude a of y = shape(u, a) = BASE + a g(u) whose noiseless curve on the design's
    steps (mean compute per step) has theta = multiple x delta, delta = MIN_CHANGE |mean| / (span / 3)
    as the claim computes them: theta is a x theta_g (the best breakpoints do not move with a)."""
    C, E = D.progress(des, np.full(des.total, des.flops_per_step))
    keep = C > 0
    x, u = np.log10(C[keep]), D.u_of(des, E[keep])
    g = shape(u, 1.0) - BASE
    theta_g = float(ph.strength(ph.fit(x, g[None], 2, MIN_SEG)["slopes"])[0])
    k = multiple * ph.MIN_CHANGE / (np.ptp(x) / 3)
    return k * BASE / (theta_g - k * float(g.mean()))


def designs() -> list[tuple[D.RLDesign, float]]:
    """(design, sd of a seed's own trend) rows: the demo's design at 3 seeds (refused), at its 5 seeds,
    that variant with 3x the noise, and with seeds whose trends differ (each seed's length drifts
    by its own N(0, SIZE) tokens over the span after the warmup: trajectories that fan out)."""
    demo = D.design_of(SWEEP, seeds=3, **NOISE)
    five = D.design_of(SWEEP, seeds=5, **NOISE)
    return [(demo, 0.0), (five, 0.0), (five.with_(noise_sd=3 * NOISE["noise_sd"], label=f"{five.label}, noise x3"), 0.0),
            (five.with_(label=f"{five.label}, seed trends"), SIZE)]


def fan_out(df, trend_sd: float, rng):
    """Add a trend of its own to every seed: N(0, trend_sd) tokens per unit of log compute span
    after the first evaluation with compute (the starting evaluation stays)."""
    if trend_sd == 0:
        return df
    c = df["rl/flops"].to_numpy(float)
    lc = np.log10(np.where(c > 0, c, np.nan))
    lo, hi = np.nanmin(lc), np.nanmax(lc)
    u = np.nan_to_num((lc - lo) / (hi - lo))
    b = rng.normal(0.0, trend_sd, df["seed"].max() + 1)[df["seed"].to_numpy()]
    return df.assign(y=df["y"] + b * u)


def verdict(df, n_boot: int = N_BOOT) -> tuple[str, str]:
    """(verdict, reason) of the claim on one synthetic sweep."""
    m = next(iter(ph.phases_claim(df, "rl/flops", ["y"], n_boot=n_boot, min_seg=MIN_SEG)["metrics"].values()))
    return m["verdict"], m["reason"]


def calibrate(draws: int, seed: int = 0, n_boot: int = N_BOOT, only=None) -> list:
    """Rows (`scaling.calibration.Row`) per design and truth over `draws` synthetic sweeps;
    `only`: truth names to keep (a fast test's subset)."""
    rows = []
    for i, (des, trend) in enumerate(designs()):
        for j, (name, shape, multiple, expected, words) in enumerate(TRUTHS):
            if only is not None and name not in only:
                continue
            a = SIZE if multiple is None else amplitude(des, shape, multiple)
            fn = lambda u, shape=shape, a=a: shape(u, a)  # noqa: E731
            rng = np.random.default_rng([seed, i, j])
            got = [verdict(fan_out(D.draw(des, fn, rng), trend, rng), n_boot) for _ in range(draws)]
            refused = sorted({r for v, r in got if "distinct resamples" in r})
            rows.append(row("phases", des.label, name, expected, [v for v, _ in got],
                            note=f"{words}" + (f"; every draw: {refused[0]}" if refused else "")))
    return rows
