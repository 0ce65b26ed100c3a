"""Phase claim: the piecewise-linear fit against lstsq, exact recovery, and error rates of the
verdict over hundreds of synthetic curves with seed noise (vectorised: a few seconds)."""

import zlib

import numpy as np
import pandas as pd
import pytest

from scaling.claims import phases as ph
from scaling.cli import main

S, NPTS = 3, 12
XG = np.linspace(0.0, 3.0, NPTS)  # log10 compute, shared by the seeds
X = np.tile(XG, S)
SEEDS = np.repeat(np.arange(S), NPTS)


def shape(kind: str, a: float = 3.0) -> np.ndarray:
    if kind == "three":  # lengthens, compresses, lengthens again: breaks at 1 and 2
        return 10 + a * np.minimum(X, 1) - a * np.clip(X - 1, 0, 1) + a * np.clip(X - 2, 0, None)
    if kind == "line":
        return 10 + 1.0 * X
    if kind == "flat":
        return 10 + 0.0 * X
    if kind == "risefall":
        return 10 + a * np.minimum(X, 1.5) - a * np.clip(X - 1.5, 0, None)
    raise ValueError(kind)


def draws(kind: str, noise: float, D: int, rng) -> np.ndarray:
    """D datasets: the shape + a random offset and slope per seed + noise per point."""
    off = rng.normal(0, 0.5, (D, S))[:, SEEDS]
    slope = rng.normal(0, 0.2, (D, S))[:, SEEDS]
    return shape(kind)[None] + off + slope * X + rng.normal(0, noise, (D, len(X)))


def test_weighted_least_squares_matches_lstsq_per_candidate():
    rng = np.random.default_rng(0)
    cand = ph.candidates(X, 2)
    Xd = ph.design(X, cand)
    Y = rng.normal(size=(2, len(X)))
    W = rng.integers(0, 3, size=(3, len(X))).astype(float) + 0.5
    beta, rss = ph.wls(Xd, Y, W)
    for d, b, k in [(0, 0, 0), (1, 2, len(cand) // 2), (1, 1, len(cand) - 1)]:
        sw = np.sqrt(W[b])
        ref, *_ = np.linalg.lstsq(Xd[k] * sw[:, None], Y[d] * sw, rcond=None)
        np.testing.assert_allclose(beta[d, b, k], ref, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(rss[d, b, k], np.sum(W[b] * (Y[d] - Xd[k] @ ref) ** 2), rtol=1e-8, atol=1e-10)


def test_candidates_keep_min_points_per_segment():
    for breaks in (1, 2):
        cand = ph.candidates(XG, breaks, min_seg=3)
        assert len(cand) > 0
        for c in cand:
            counts = np.diff(np.concatenate([[0], np.searchsorted(XG, c), [NPTS]]))
            assert counts.min() >= 3
    assert len(ph.candidates(XG[:5], 2, min_seg=3)) == 0


def test_noiseless_planted_phases_are_recovered_exactly():
    # breakpoints between grid points: put them on the candidate grid
    cand = ph.candidates(XG, 2)
    t1, t2 = cand[len(cand) // 3]
    y = 5 + 2 * np.minimum(X, t1) - 1.5 * np.clip(X - t1, 0, t2 - t1) + 4 * np.clip(X - t2, 0, None)
    r = ph.analyse(10 ** X, y, SEEDS, n_boot=50)
    assert r["breakpoints"] == 2 and r["verdict"] == "supported" and r["replicated"] == "3/3"
    np.testing.assert_allclose(r["slopes_per_decade"], [2, -1.5, 4], atol=1e-8)
    np.testing.assert_allclose(np.log10(r["breaks_compute"]), [t1, t2], atol=1e-9)


@pytest.mark.parametrize("kind,noise,min_supported,max_supported,max_refuted", [
    ("three", 0.5, 0.95, 1.0, 0.02),     # planted phases, clear: power
    ("three", 1.5, 0.0, 1.0, 0.08),      # planted, noisy: may lack power, but is rarely refuted
    ("line", 1.0, 0.0, 0.02, 1.0),       # no phases: false positives
    ("flat", 1.0, 0.0, 0.02, 1.0),
    ("risefall", 1.0, 0.0, 0.02, 1.0),   # one phase change only
])
def test_verdict_error_rates_over_draws(kind, noise, min_supported, max_supported, max_refuted):
    D = 200
    rng = np.random.default_rng([zlib.crc32(kind.encode()), int(noise * 10)])
    r = ph.analyse_many(X, draws(kind, noise, D, rng), SEEDS, n_boot=200)
    supported = float(np.mean(r["verdict"] == "supported"))
    refuted = float(np.mean(r["verdict"] == "refuted"))
    assert min_supported <= supported <= max_supported, (kind, noise, supported, refuted)
    assert refuted <= max_refuted, (kind, noise, supported, refuted)
    if kind != "three":  # no planted phases: the bulk of the null curves is refuted, not left open
        assert refuted >= 0.5, (kind, noise, refuted)


def test_phases_in_one_seed_only_are_not_replicated():
    rng = np.random.default_rng(3)
    y = shape("line") + rng.normal(0, 0.05, len(X))
    y[SEEDS == 0] = shape("three", 6.0)[SEEDS == 0] + rng.normal(0, 0.05, NPTS)
    r = ph.analyse(10 ** X, y, SEEDS, n_boot=100)
    assert r["replicated"] == "1/3" and r["verdict"] != "supported"
    r2 = ph.analyse(10 ** X, y, SEEDS, n_boot=100, replicate=0.3)  # 1/3 > 0.3 suffices
    assert r2["k"] == 1


def test_cli_groups_and_bad_input(tmp_path, capsys):
    rng = np.random.default_rng(4)
    rows = []
    for lam, kind in ((0.0, "line"), (0.5, "three")):
        y = draws(kind, 0.3, 1, rng)[0]
        rows += [{"rl/flops": 10 ** (9 + x), "eval/length/heldout": v, "seed": s, "grpo.length_coef": lam}
                 for x, v, s in zip(X, y, SEEDS)]
    rows += [{"rl/flops": 0.0, "eval/length/heldout": 1.0, "seed": 0, "grpo.length_coef": 0.0}]  # start: skipped
    path = tmp_path / "len.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    assert main(["claim", "phases", str(path), "--group", "grpo.length_coef"]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith(("0.0/", "0.5/"))]
    assert len(lines) == 2 and "REFUTED" in lines[0] and "SUPPORTED" in lines[1] and "3/3" in lines[1]
    assert main(["claim", "phases", str(path), "--y", "nope"]) == 2
    assert "--y 'nope': no such column" in capsys.readouterr().err
    assert main(["claim", "phases", str(tmp_path / "missing.csv")]) == 2
    assert main(["claim", "phases", str(path), "--bootstrap", "0"]) == 2
    bad = pd.DataFrame(rows).astype({"rl/flops": object})
    bad.loc[3, "rl/flops"] = "lots"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    assert main(["claim", "phases", str(path)]) == 2  # two groups' rows pooled: each (seed, compute) twice
    assert "rows share a key (seed=0.0, rl/flops=1000000000.0 appears more than once)" in capsys.readouterr().err
    assert main(["claim", "phases", str(tmp_path / "bad.csv"), "--group", "grpo.length_coef"]) == 2
    assert "column 'rl/flops' row 3: not a number" in capsys.readouterr().err
    bad.loc[3, "rl/flops"] = -1.0
    bad.to_csv(tmp_path / "neg.csv", index=False)
    assert main(["claim", "phases", str(tmp_path / "neg.csv"), "--group", "grpo.length_coef"]) == 2
    assert "row 3: compute must be finite" in capsys.readouterr().err
    short = pd.DataFrame(rows[:5])
    short.to_csv(tmp_path / "short.csv", index=False)
    assert main(["claim", "phases", str(tmp_path / "short.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "breakpoints" in err[0]
