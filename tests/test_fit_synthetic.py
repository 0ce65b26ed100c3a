"""Synthetic truth: recovery, bootstrap calibration, frontier and extrapolation."""

import itertools

import numpy as np
import pandas as pd
import pytest

from scaling.fit import chinchilla_loss, chinchilla_problem, fit_power, fit_problem, power_law
from scaling.fit.bootstrap import bootstrap, resample_weights
from scaling.fit.extrapolate import extrapolation_check
from scaling.fit.frontier import frontier

# a realistic small sweep: 8 sizes x 5 token budgets, 3 evaluations per run (1/2, 3/4, end)
SIZES = np.geomspace(1e7, 1e9, 8)
TPP = np.array([5.0, 10.0, 20.0, 40.0, 80.0])
FRACTIONS = np.array([0.5, 0.75, 1.0])
# a compact start grid for the synthetic fits (the Epoch grid is exercised elsewhere)
GRID = np.array(list(itertools.product([2.0, 6.0, 10.0], [2.0, 6.0, 10.0], [0.0, 0.6],
                                       [0.2, 0.5], [0.2, 0.5])))


def sweep(truth, rng, run_sd=0.01, point_sd=0.003):
    """Points (N, D, L, run) from ``truth`` with a per-run offset and per-point noise in log L."""
    N, D, run = [], [], []
    for r, (n, t) in enumerate(itertools.product(SIZES, TPP)):
        for f in FRACTIONS:
            N.append(n)
            D.append(n * t * f)
            run.append(r)
    N, D, run = np.array(N), np.array(D), np.array(run)
    n_runs = run.max() + 1
    logL = np.log(chinchilla_loss(N, D, **truth))
    logL += rng.normal(0, run_sd, n_runs)[run] + rng.normal(0, point_sd, N.size)
    return N, D, np.exp(logL), run


def random_truth(rng):
    return {"E": rng.uniform(1.5, 2.2), "A": np.exp(rng.uniform(np.log(200), np.log(800))),
            "B": np.exp(rng.uniform(np.log(300), np.log(3000))), "alpha": rng.uniform(0.25, 0.45),
            "beta": rng.uniform(0.25, 0.45)}


def test_noise_free_recovery_is_exact():
    truth = {"E": 1.8, "A": 400.0, "B": 1500.0, "alpha": 0.34, "beta": 0.30}
    N, D, L, _ = sweep(truth, np.random.default_rng(0), run_sd=0.0, point_sd=0.0)
    fit = fit_problem(chinchilla_problem(N, D, L, grid=GRID))
    for k, v in truth.items():
        assert fit.params[k] == pytest.approx(v, rel=1e-5), k  # float64 optimum, tight ftol


def test_noisy_recovery_within_intervals():
    truth = {"E": 1.8, "A": 400.0, "B": 1500.0, "alpha": 0.34, "beta": 0.30}
    N, D, L, run = sweep(truth, np.random.default_rng(1))
    problem = chinchilla_problem(N, D, L, grid=GRID)
    fit, _ = bootstrap(problem, fit_problem(problem), run, n_boot=300, seed=1)
    for k in ("alpha", "beta", "E"):
        lo, hi = fit.intervals[k]
        assert lo <= truth[k] <= hi, k
        assert abs(fit.params[k] - truth[k]) <= 4 * fit.se[k], k


def test_weights_match_repeated_points():
    truth = {"E": 1.8, "A": 400.0, "B": 1500.0, "alpha": 0.34, "beta": 0.30}
    N, D, L, _ = sweep(truth, np.random.default_rng(5))
    w = np.where(np.arange(N.size) % 2 == 0, 2.0, 1.0)
    weighted = fit_problem(chinchilla_problem(N, D, L, grid=GRID, delta=1e-3), weights=w)
    rep = np.repeat(np.arange(N.size), w.astype(int))
    repeated = fit_problem(chinchilla_problem(N[rep], D[rep], L[rep], grid=GRID, delta=1e-3))
    assert weighted.objective == pytest.approx(repeated.objective, rel=1e-9)
    for k in truth:
        assert weighted.params[k] == pytest.approx(repeated.params[k], rel=1e-4), k


def test_bootstrap_resamples_whole_runs():
    groups = np.repeat(np.arange(10), 3)
    W = resample_weights(groups, 50, seed=0)
    assert W.shape == (50, 30)
    # every point of a run carries that run's count; counts sum to the number of runs x 3
    assert np.all(W.reshape(50, 10, 3).std(axis=2) == 0)
    assert np.all(W.sum(axis=1) == 30)


@pytest.mark.slow
def test_calibration_of_exponent_intervals():
    """Over 100 random truths the 95% run-bootstrap intervals cover each true parameter >= 90%."""
    rng = np.random.default_rng(2024)
    hits = {k: 0 for k in ("E", "A", "B", "alpha", "beta")}
    n_truths = 100
    for _ in range(n_truths):
        truth = random_truth(rng)
        N, D, L, run = sweep(truth, rng)
        problem = chinchilla_problem(N, D, L, grid=GRID)
        fit, _ = bootstrap(problem, fit_problem(problem), run, n_boot=200,
                           seed=int(rng.integers(1 << 30)), n_starts=2)
        for k in hits:
            lo, hi = fit.intervals[k]
            hits[k] += lo <= truth[k] <= hi
    coverage = {k: v / n_truths for k, v in hits.items()}
    print("calibration coverage:", coverage)
    assert coverage["alpha"] >= 0.90 and coverage["beta"] >= 0.90, coverage


def test_power_law_recovery_and_extrapolation():
    rng = np.random.default_rng(3)
    C = np.geomspace(1e17, 1e21, 30)
    truth = {"E": 2.0, "A": 3.0e3, "alpha": 0.17}
    L = power_law(C, **truth) * np.exp(rng.normal(0, 0.002, C.size))
    fit = fit_power(C, L)
    assert fit.params["alpha"] == pytest.approx(truth["alpha"], rel=0.1)
    res = extrapolation_check("power", C, L, 1e20)
    assert res["n_test"] == int((C > 1e20).sum()) and res["n_train"] + res["n_test"] == C.size
    # noise is 0.2%: a correct law extrapolates one decade within ~1%
    assert res["max_abs_rel_error"] < 0.01
    noise_free = extrapolation_check("power", C, power_law(C, **truth), 1e20)
    assert noise_free["max_abs_rel_error"] < 1e-5


def test_frontier_lower_envelope():
    df = pd.DataFrame({
        "run_id": ["a"] * 3 + ["b"] * 3 + ["c"] * 2,
        "recipe": ["x"] * 6 + ["y"] * 2,
        "compute/flops": [1, 2, 3, 1.5, 2.5, 3.5, 1, 2],
        "eval/loss/val": [5.0, 4.0, 3.5, 4.5, 3.8, 3.6, 6.0, 5.5],
        "params/total": [10, 10, 10, 20, 20, 20, 10, 10],
    })
    f = frontier(df)
    got = {(r, c) for r, c in zip(f.recipe, f["compute/flops"])}
    # brute force: a point is kept iff no point of its recipe with <= compute has <= loss
    want = set()
    for i, r in df.iterrows():
        same = df[(df.recipe == r.recipe) & (df.index != i)]
        if not ((same["compute/flops"] <= r["compute/flops"]) & (same["eval/loss/val"] <= r["eval/loss/val"])).any():
            want.add((r.recipe, r["compute/flops"]))
    assert got == want
    final = frontier(df, final_only=True)
    assert set(final.run_id) == {"a", "c"}  # b's final point (3.5, 3.6) is above a's (3, 3.5)
    lr = frontier(df, best_lr=True, budget="params/total")
    assert set(lr.run_id) <= {"a", "b", "c"}
