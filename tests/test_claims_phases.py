"""Phase claim: steps as the points (x = log10 of the seeds' mean compute), seed means, the
three-phase strength with seed-bootstrap intervals (breakpoints refitted), the minimum-seeds rule,
refuted only through an equivalence bound after a power check, the chain rate beside the
closed-chain length, and error rates over synthetic curves on log-spaced steps after warmup."""

import zlib

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from scaling.claims import phases as ph
from scaling.cli import main

S, NPTS = 5, 12
XG = np.linspace(0.0, 3.0, NPTS)  # log10 compute, shared by the seeds (the contract test's table)
X = np.tile(XG, S)
SEEDS = np.repeat(np.arange(S), NPTS)
STEPS = np.unique(np.round(np.geomspace(10, 40, 10)).astype(int))  # log-spaced after a 10-step warmup
Y = "eval/think/heldout/closed/mean"


def three_shape(u: np.ndarray, a: float) -> np.ndarray:
    """On u in [0, 1]: lengthens, compresses, lengthens again by `a` per third."""
    return a * (np.minimum(u, 1 / 3) - np.clip(u - 1 / 3, 0, 1 / 3) + np.clip(u - 2 / 3, 0, None))


def draws(kind: str, noise: float, D: int, rng) -> np.ndarray:
    """D datasets on the shared grid X: the shape + a random offset and slope per seed + noise."""
    u = X / 3.0
    shape = {"three": 10 + 9 * three_shape(u, 1.0), "line": 10 + X}[kind]
    off = rng.normal(0, 0.5, (D, S))[:, SEEDS]
    slope = rng.normal(0, 0.2, (D, S))[:, SEEDS]
    return shape[None] + off + slope * X + rng.normal(0, noise, (D, len(X)))


TRUTHS = {  # length against u in [0, 1] (a step's position in log compute after warmup)
    "three": lambda u, a: 6 + three_shape(u, a),
    "flat": lambda u, a: 6 + 0 * u,
    "monotone": lambda u, a: 6 + a * u,
    "u_shape": lambda u, a: 6 + a * np.abs(u - 0.5),
    "rise_fall": lambda u, a: 6 + a * (0.5 - np.abs(u - 0.5)),
}


def table(kind: str, rng, seeds: int = 5, a: float = 3.0, noise: float = 0.15, offset: float = 0.5,
          jitter: float = 0.03) -> pd.DataFrame:
    """One RL sweep's rows: per seed its own compute at each step (decode lengths differ: a
    per-seed factor and per-step jitter), a seed offset, AR(1) noise along the steps."""
    x = np.log10(STEPS * 1e9)
    u = (x - x[0]) / np.ptp(x)
    rows = []
    for s in range(seeds):
        eps, e = [], 0.0
        for _ in STEPS:
            e = 0.5 * e + rng.normal(0, noise)
            eps.append(e)
        c = 10 ** x * np.exp(rng.normal(0, jitter) + rng.normal(0, jitter / 3, len(STEPS)))
        y = TRUTHS[kind](u, a) + rng.normal(0, offset) + np.array(eps)
        rows += [{"run_id": f"r{s}", "seed": s, "step": int(t), "rl/flops": ci, Y: yi,
                  "eval/chain_rate/heldout": 0.9 - 0.01 * j} for j, (t, ci, yi) in enumerate(zip(STEPS, c, y))]
    return pd.DataFrame(rows)


def one(df, **kw) -> dict:
    return next(iter(ph.phases_claim(df, "rl/flops", [Y], **{"n_boot": 200, "min_seg": 2, **kw})["metrics"].values()))


def test_hinge_fit_matches_lstsq_at_its_breakpoints():
    rng = np.random.default_rng(0)
    x = np.log10(STEPS)
    Yc = rng.normal(size=(3, len(x)))
    f = ph.fit(x, Yc, 2, 2)
    for d in range(3):
        Xd = ph.design(x, f["breaks"][d][None])[0]
        ref, *_ = np.linalg.lstsq(Xd, Yc[d], rcond=None)
        np.testing.assert_allclose(f["beta"][d], ref, atol=1e-9)
        np.testing.assert_allclose(f["rss"][d], np.sum((Yc[d] - Xd @ ref) ** 2), rtol=1e-9)
        for t in ph.candidates(x, 2, 2):  # no other grid set fits better
            Xt = ph.design(x, t[None])[0]
            assert np.sum((Yc[d] - Xt @ np.linalg.lstsq(Xt, Yc[d], rcond=None)[0]) ** 2) >= f["rss"][d] - 1e-9


def test_segments_count_steps():
    x = np.log10(STEPS)
    for c in ph.candidates(x, 2, 3):
        assert np.diff(np.concatenate([[0], np.searchsorted(x, c), [len(x)]])).min() >= 3
    assert len(ph.candidates(x[:5], 2, 3)) == 0


def test_seed_compute_jitter_and_offsets_are_not_phases():
    # each seed flat at its own offset; the seed with more compute at a step is the shorter one: on
    # pooled points every step is a steep little segment of two seeds; on steps the curve is flat
    rows = []
    for s, (off, f) in enumerate(zip([3.0, 1.0, 2.0, 0.0, 4.0], [1.0, 1.3, 1.15, 1.45, 0.85])):
        rows += [{"seed": s, "step": t, "rl/flops": t * 1e9 * f, Y: 10 + off} for t in STEPS]
    m = one(pd.DataFrame(rows))
    assert m["n_steps"] == len(STEPS) and m["steps_left_out"] == 0
    np.testing.assert_allclose(m["slopes_per_decade"], 0, atol=1e-9)
    x_step = np.log10(STEPS * 1e9 * np.mean([1.0, 1.3, 1.15, 1.45, 0.85]))
    assert np.all([np.any(np.isclose(b, (x_step[:-1] + x_step[1:]) / 2)) for b in np.log10(m["breaks_compute"])])


def test_planted_three_phases_are_recovered_and_supported():
    x = np.log10(STEPS * 1e9)
    t1, t2 = ph.candidates(x, 2, 2)[5]
    truth = 2 * np.minimum(x, t1) - 3 * np.clip(x - t1, 0, t2 - t1) + 4 * np.clip(x - t2, 0, None)
    rows = [{"seed": s, "step": t, "rl/flops": 10 ** xi, Y: yi + s} for s in range(5)
            for t, xi, yi in zip(STEPS, x, truth)]
    m = one(pd.DataFrame(rows))
    np.testing.assert_allclose(m["slopes_per_decade"], [2, -3, 4], atol=1e-8)
    np.testing.assert_allclose(np.log10(m["breaks_compute"]), [t1, t2], atol=1e-9)
    assert m["theta"] == pytest.approx(2) and m["verdict"] == "supported" and m["replicated"] == "5/5"


def test_three_seeds_give_no_verdict_however_clear():
    rng = np.random.default_rng(1)
    m = one(table("three", rng, seeds=3, a=6.0, noise=0.02, offset=0.05))
    assert m["theta_interval"][0] > 0  # the shape is plain to see ...
    assert m["verdict"] == "inconclusive" and m["refused"]  # ... but 3 seeds give 10 distinct resamples
    assert "10 distinct resamples" in m["reason"] and "5 seeds" in m["reason"]
    m5 = one(table("three", rng, seeds=5, a=6.0, noise=0.02, offset=0.05))
    assert m5["verdict"] == "supported"
    assert m5["t_factor"] == pytest.approx(stats.t.ppf(0.975, 4) / stats.norm.ppf(0.975))


def test_refuted_only_when_powered_and_within_the_equivalence_bound():
    rng = np.random.default_rng(2)
    quiet = one(table("monotone", rng, a=1.0, noise=0.03))
    assert quiet["verdict"] == "refuted" and quiet["power"] >= 0.8
    assert quiet["theta_interval"][1] < quiet["delta_per_decade"]
    noisy = one(table("monotone", rng, a=1.0, noise=1.0))  # the data could not have found the phases
    assert noisy["verdict"] == "inconclusive" and noisy["power"] < 0.8 and "power" in noisy["reason"]
    few = one(table("monotone", rng, a=1.0, noise=0.03), min_seg=4)  # 10 steps cannot hold 3 x 4
    assert few["verdict"] == "inconclusive" and "not detectable with 10 steps" in few["reason"]
    # a stated minimum larger than any shape the noise could hide makes the same data refutable
    wide = one(table("monotone", rng, a=1.0, noise=1.0), min_change=5.0)
    assert wide["power"] > noisy["power"]


@pytest.mark.parametrize("kind", list(TRUTHS))
def test_error_rates_on_log_spaced_steps_with_seed_effects(kind):
    """60 sweeps per truth (5 seeds, 10 steps): the scaled-down version of `python -m
    scaling.calibration phases` (false supported and false refuted each <= 5%)."""
    rng = np.random.default_rng(zlib.crc32(kind.encode()))
    a = 4.0  # a three-phase truth of about twice the stated minimum (20% of the mean per phase)
    v = np.array([one(table(kind, rng, a=a), n_boot=100)["verdict"] for _ in range(60)])
    supported, refuted = np.mean(v == "supported"), np.mean(v == "refuted")
    if kind == "three":
        assert refuted == 0 and supported >= 0.5, (supported, refuted)
    else:
        assert supported <= 0.05, (kind, supported)
    if kind == "monotone":
        assert refuted >= 0.5, refuted  # powered and clearly not three phases: refuted, not left open


def test_chain_rate_beside_and_unchained_length_warned():
    df = table("three", np.random.default_rng(3))
    r = ph.judge(df, y=[Y], n_boot=50, min_seg=2)
    m = r.details["metrics"][f"all/{Y}"]
    assert m["chain_rate"] == pytest.approx({"column": "eval/chain_rate/heldout", "first": 0.9, "last": 0.81,
                                             "min": 0.81, "max": 0.9})
    assert any("chain rate" in ln for ln in r.lines) and not r.warnings
    r2 = ph.judge(df.rename(columns={Y: "eval/think/heldout/mean"}), y=["eval/think/heldout/mean"], n_boot=50,
                  min_seg=2)
    assert len(r2.warnings) == 1 and "abandoned" in r2.warnings[0] and Y in r2.warnings[0]


def test_steps_some_seed_lacks_are_left_out():
    df = table("three", np.random.default_rng(4))
    df.loc[(df["seed"] == 2) & (df["step"] == STEPS[3]), Y] = np.nan  # no closed chain at that evaluation
    m = one(df)
    assert m["n_steps"] == len(STEPS) - 1 and m["steps_left_out"] == 1


def test_cli_groups_and_bad_input(tmp_path, capsys):
    rng = np.random.default_rng(5)
    df = pd.concat([table("monotone", rng, a=1.0, noise=0.03).assign(**{"grpo.length_coef": 0.0}),
                    table("three", rng, a=6.0, noise=0.02).assign(**{"grpo.length_coef": 0.5})])
    same_ids = df.copy()
    df["run_id"] = df["run_id"] + "-" + df["grpo.length_coef"].astype(str)  # one run per (group, seed)
    df = pd.concat([df, pd.DataFrame([{"seed": 0, "step": 0, "rl/flops": 0.0, Y: 1.0, "grpo.length_coef": 0.0,
                                       "run_id": "r0-0.0"}])])  # the starting evaluation: skipped
    path = tmp_path / "len.csv"
    df.to_csv(path, index=False)
    assert main(["claim", "phases", str(path), "--group", "grpo.length_coef", "--min-seg", "2"]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith(("0.0/", "0.5/"))]
    assert len(lines) == 2 and "REFUTED" in lines[0] and "SUPPORTED" in lines[1] and "5/5" in lines[1]
    assert main(["claim", "phases", str(path), "--y", "nope"]) == 2
    assert "--y 'nope': no such column" in capsys.readouterr().err
    assert main(["claim", "phases", str(path), "--step-col", "nope"]) == 2
    assert "--step-col 'nope': no such column" in capsys.readouterr().err
    assert main(["claim", "phases", str(path), "--min-change", "0"]) == 2
    assert "--min-change 0.0: must be a fraction" in capsys.readouterr().err
    assert main(["claim", "phases", str(tmp_path / "missing.csv")]) == 2
    assert main(["claim", "phases", str(path), "--bootstrap", "0"]) == 2
    same_ids.to_csv(tmp_path / "pooled.csv", index=False)  # two studies' rows: one run id in both groups
    assert main(["claim", "phases", str(tmp_path / "pooled.csv"), "--group", "grpo.length_coef"]) == 2
    assert "rows of two studies concatenated" in capsys.readouterr().err
    pd.concat([df, df.iloc[[5]].assign(**{Y: 9.0})]).to_csv(tmp_path / "twice.csv", index=False)
    assert main(["claim", "phases", str(tmp_path / "twice.csv"), "--group", "grpo.length_coef"]) == 2
    assert "rows share a key" in capsys.readouterr().err
    bad = df.astype({"rl/flops": object}).reset_index(drop=True)
    bad.loc[3, "rl/flops"] = "lots"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    assert main(["claim", "phases", str(tmp_path / "bad.csv"), "--group", "grpo.length_coef"]) == 2
    err = capsys.readouterr().err
    assert "column 'rl/flops' row 3 (run 'r0-0.0'): not a number ('lots')" in err
    bad.loc[3, "rl/flops"] = -1.0
    bad.to_csv(tmp_path / "neg.csv", index=False)
    assert main(["claim", "phases", str(tmp_path / "neg.csv"), "--group", "grpo.length_coef"]) == 2
    assert "column 'rl/flops' row 3 (run 'r0-0.0'): compute must be finite and positive, got -1" in capsys.readouterr().err
