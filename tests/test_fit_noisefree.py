"""Clean data is fitted, never refused (issue 20, item 6).

Noise-free and nearly noise-free data (log noise 1e-6) for every law of the registry: the fit
converges and recovers the planted truth to a tolerance derived from float64, not chosen. The
bound: a least-squares fit moves parameter j by at most |row j of pinv(J)| x |dr| for a residual
perturbation dr (Cauchy-Schwarz), J the Jacobian of the residuals in log-parameters (so the
bound is relative); dr is the planted noise plus float64 rounding of each residual (``newton.ROUNDING`` x eps x
(1 + |y|)); ``SAFETY`` allows for the Huber loss down-weighting a few points (weights >= ~0.3 at
this noise) and the finite-difference Jacobian, and ``newton.XTOL`` for the relative Newton step
at which a point is accepted. Then: an unconverged fit (iterations cut off, or a point nudged off
the optimum of an exact fit) is still refused, and a two-recipe ladder with a planted
multiplier of the kind `scaling compare` refused (3 of 8 draws in the issue; all 8 draws here
before the fix) is accepted in all 8, the multiplier inside its interval.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json

import numpy as np
import pandas as pd
import pytest

from scaling.cli import main
from scaling.errors import FitError
from scaling.fit import estimate, laws, newton, registry
from scaling.fit.approach2 import approach2
from scaling.fit.fits import chinchilla_problem, coverage_ceiling_problem, power_problem

EPS = float(np.finfo(np.float64).eps)
SAFETY = 10.0
NEAR = 1e-6  # "nearly noise-free": log noise of this standard deviation


def _tolerance(resid, params: dict, y, noise) -> dict:
    """Relative tolerance per parameter j: SAFETY x |row j of pinv(J)| x (|noise| + |rounding|)
    + XTOL, J = d residual / d log|param| by central differences (relative step 1e-6)."""
    names = list(params)
    base = np.array([params[k] for k in names], float)
    cols = []
    for i in range(base.size):
        up, dn = base.copy(), base.copy()
        up[i] *= np.exp(1e-6)
        dn[i] *= np.exp(-1e-6)
        cols.append((resid(up) - resid(dn)) / 2e-6)
    gain = np.linalg.norm(np.linalg.pinv(np.stack(cols, axis=1)), axis=1)
    rounding = newton.ROUNDING * EPS * (1.0 + np.abs(np.asarray(y, float)))
    dr = np.linalg.norm(noise) + np.linalg.norm(rounding)
    return {k: SAFETY * g * dr + newton.XTOL for k, g in zip(names, gain)}


def _check(fit, truth: dict, tol: dict, level: float) -> None:
    assert fit.converged
    for k, v in truth.items():
        assert abs(fit.params[k] / v - 1.0) <= tol[k], (k, fit.params[k], v, tol[k])
        # the bound says something: near the noise (x 1e4 at most) plus float64's digits
        assert tol[k] < 1e4 * level + 1e-6, (k, tol[k])


def _noise(rng, n, level):
    return rng.normal(0.0, level, n) if level else np.zeros(n)


# --- power: L = E + A C^-alpha on a 5-level x 3-seed ladder with a 2% compute jitter (15 points:
# the shapes of tests/test_fit_errors_cli.py, one compilation for both)
POWER = {"E": 1.7, "A": 0.4 * 1.7 * 1e15**0.3, "alpha": 0.3}


@pytest.mark.parametrize("level", [0.0, NEAR])
def test_power(level):
    rng = np.random.default_rng(1)
    C = np.repeat(np.geomspace(1e15, 1e19, 5), 3) * (1 + 0.02 * rng.uniform(-1, 1, 15))
    dr = _noise(rng, C.size, level)
    L = laws.power_law(C, **POWER) * np.exp(dr)
    fit = registry.fit("power", C, y=L)

    def resid(p):
        return np.log(laws.power_law(C, *p)) - np.log(L)
    _check(fit, POWER, _tolerance(resid, POWER, np.log(L), dr), level)


# --- chinchilla: 8 sizes x 5 tokens-per-parameter x 3 evaluations, the compact start grid of
# tests/test_fit_synthetic.py (the same shapes: one compilation serves both files)
CHIN = {"E": 1.8, "A": 400.0, "B": 1500.0, "alpha": 0.34, "beta": 0.30}
GRID = np.array(list(itertools.product([2.0, 6.0, 10.0], [2.0, 6.0, 10.0], [0.0, 0.6], [0.2, 0.5], [0.2, 0.5])))


def _chinchilla_design():
    n, t, f = (a.ravel() for a in np.meshgrid(np.geomspace(1e7, 1e9, 8), [5.0, 10.0, 20.0, 40.0, 80.0],
                                               [0.5, 0.75, 1.0], indexing="ij"))
    return n, n * t * f


@pytest.mark.parametrize("level", [0.0, NEAR])
def test_chinchilla(level):
    rng = np.random.default_rng(2)
    N, D = _chinchilla_design()
    dr = _noise(rng, N.size, level)
    L = laws.chinchilla_loss(N, D, **CHIN) * np.exp(dr)
    fit = registry.fit("chinchilla", N, D, y=L, grid=GRID)

    def resid(p):
        return np.log(laws.chinchilla_loss(N, D, *p)) - np.log(L)
    _check(fit, CHIN, _tolerance(resid, CHIN, np.log(L), dr), level)


# --- sigmoid (least squares on the metric itself)
SIG = {"R0": 0.1, "A": 0.8, "C_mid": 1e18, "B": 1.5}


@pytest.mark.parametrize("level", [0.0, NEAR])
def test_sigmoid(level):
    rng = np.random.default_rng(3)
    C = np.geomspace(1e16, 1e20, 12)
    dr = _noise(rng, C.size, level)
    P = laws.scalerl_sigmoid(C, **SIG) + dr
    fit = registry.fit("sigmoid", C, y=P)

    def resid(p):
        return laws.scalerl_sigmoid(C, *p) - P
    _check(fit, SIG, _tolerance(resid, SIG, P, dr), level)


# --- coverage, with and without a ceiling (least squares on log coverage)
COV = {"a": -2.0, "b": -0.4}
CEIL = {"c_max": 0.7, "a": -2.0, "b": -0.4}
K = np.geomspace(1, 1000, 10)


@pytest.mark.parametrize("level", [0.0, NEAR])
def test_coverage(level):
    dr = _noise(np.random.default_rng(4), K.size, level)
    c = laws.coverage(K, **COV) * np.exp(dr)
    fit = registry.fit("coverage", K, y=c)

    def resid(p):
        return np.log(laws.coverage(K, *p)) - np.log(c)
    _check(fit, COV, _tolerance(resid, COV, np.log(c), dr), level)


@pytest.mark.parametrize("level", [0.0, NEAR])
def test_coverage_ceiling(level):
    dr = _noise(np.random.default_rng(5), K.size, level)
    c = laws.coverage_ceiling(K, **CEIL) * np.exp(dr)
    fit = estimate.fit_problem(coverage_ceiling_problem(K, c))

    def resid(p):
        return np.log(laws.coverage_ceiling(K, *p)) - np.log(c)
    _check(fit, CEIL, _tolerance(resid, CEIL, np.log(c), dr), level)


# --- log-linear (closed form): the same bound holds for its least squares
LOGLIN = {"a": -0.5, "b": 0.12}


@pytest.mark.parametrize("level", [0.0, NEAR])
def test_loglinear(level):
    C = np.geomspace(1e15, 1e20, 9)
    dr = _noise(np.random.default_rng(6), C.size, level)
    P = laws.loglinear(C, **LOGLIN) + dr
    fit = registry.fit("loglinear", C, y=P)

    def resid(p):
        return laws.loglinear(C, *p) - P
    _check(fit, LOGLIN, _tolerance(resid, LOGLIN, P, dr), level)


# --- Approach 2 where it applies: isoFLOP profiles that are parabolas in log N, vertices on a
# planted N*(C) = n0 C^a; the vertex is exact, so only rounding of the parabola fits is left.
A2 = {"a": 0.45, "n0": 0.2}


@pytest.mark.parametrize("level", [0.0, NEAR])
def test_approach2(level):
    rng = np.random.default_rng(7)
    budgets = np.geomspace(1e17, 1e21, 5)
    C = np.repeat(budgets, 7)
    x_opt = np.log10(A2["n0"] * C ** A2["a"])
    x = x_opt + np.tile(np.linspace(-0.6, 0.6, 7), budgets.size)
    L = 2.0 + 0.3 * (x - x_opt) ** 2 - 0.05 * np.log10(C)
    dr = _noise(rng, L.size, level)
    got = approach2(C, 10**x, L + dr)
    # the vertex moves by dx = -dp1 / (2 p2) per budget; its rounding bound through the final
    # log-log line fit (7 points per parabola, curvature 0.3): |dL| / (2 x 0.3 x sigma_min of the
    # parabola's design), a relative error of N* of ln(10) dx
    design = np.stack([np.ones(7), np.linspace(-0.6, 0.6, 7), np.linspace(-0.6, 0.6, 7) ** 2], 1)
    smin = np.linalg.svd(design, compute_uv=False).min()
    dL = np.linalg.norm(dr) + np.linalg.norm(newton.ROUNDING * EPS * (1 + np.abs(L)))
    tol = SAFETY * np.log(10) * dL / (2 * 0.3 * smin) + newton.XTOL
    assert abs(got["a"] / A2["a"] - 1) <= tol and abs(got["n0"] / A2["n0"] - 1) <= tol * np.log(1e21), (got, tol)
    assert tol < 1e-3


# --- a genuinely unconverged fit is still refused
def test_cut_off_iterations_are_refused(monkeypatch):
    """Chinchilla's flat valley from one far start with L-BFGS cut off before its first step (it
    hands back the start), then the usual Newton polish: not an optimum, and clean data do not
    make it one. (A stand-in for the cut-off L-BFGS, so no other compilation is needed.)"""
    N, D = _chinchilla_design()
    L = laws.chinchilla_loss(N, D, **CHIN) * np.exp(np.random.default_rng(2).normal(0, NEAR, N.size))
    problem = chinchilla_problem(N, D, L, grid=[[10.0, 10.0, 0.6, 0.5, 0.2]], delta=np.inf)

    def cut_off(vg, x0, data, dataset=None, **_):
        x0 = np.atleast_2d(np.asarray(x0, float))
        did = np.zeros(len(x0), int) if dataset is None else np.asarray(dataset, int)
        rows = {k: (v if np.shape(v)[0] == 1 else np.asarray(v)[did]) for k, v in data.items()}
        f, g = (np.asarray(a, float) for a in vg(x0, rows))
        n = len(x0)
        return estimate.lbfgs.BatchResult(x=x0, fun=f, grad_max=np.abs(g).max(1), n_iter=np.zeros(n, int),
                                          n_eval=np.ones(n, int), status=np.full(n, estimate.lbfgs.MAX_ITER),
                                          converged=np.zeros(n, bool))
    monkeypatch.setattr(estimate.lbfgs, "minimize", cut_off)
    with pytest.raises(FitError, match="did not converge"):
        estimate.fit_problem(problem)


def test_point_off_an_exact_optimum_is_refused():
    """The judge on its own: at the optimum of noise-free data it accepts; a parameter nudged by
    1e-7 (far above float64 resolution, yet the objective is still ~1e-14) is refused."""
    C = np.geomspace(1e15, 1e19, 12)
    L = laws.power_law(C, **POWER)
    prob = power_problem(C, L, delta=np.inf)
    theta = np.array([[np.log(POWER["A"]), np.log(POWER["E"]), POWER["alpha"]]])
    nudged = theta + np.array([[0.0, 0.0, 1e-7]])
    _, f, ok, noise = newton.polish(prob.vg, np.vstack([theta, nudged]), prob.data, n_iter=0)
    assert ok[0] and f[0] <= 2 * noise[0]
    assert not ok[1] and f[1] > 1e3 * noise[1]


# --- the reproduction: two recipes, 10 levels x 3 seeds, 2% compute jitter, multiplier k.
# Before the fix every one of these 8 draws exited 2 (7 with 6-17% failed bootstrap fits at 200
# resamples, one "power fit did not converge (best objective 5.41e-09 over 120 starts)").
LADDER = dict(E=0.69, alpha=0.74, frac=0.0279, span=29.8, k=9.35)


def _ladder(E, alpha, frac, span, k, seed):
    """Losses exact at each level's nominal compute; the recorded compute jittered by up to 2%."""
    rng = np.random.default_rng(seed)
    A = frac * E * 1e15**alpha
    rows = []
    for recipe, kk in (("base", 1.0), ("cand", k)):
        for i, c in enumerate(np.geomspace(1e15, 1e15 * span, 10)):
            for s in range(3):
                rows.append({"C": c * (1 + 0.02 * rng.uniform(-1, 1)), "loss": E + A * (kk * c) ** -alpha,
                             "run": f"{recipe}-{i}-{s}", "recipe": recipe})
    return pd.DataFrame(rows)


def _compare(path, n_boot):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        rc = main(["compare", str(path), "--baseline", "base", "--candidate", "cand", "--x", "C", "--y", "loss",
                   "--run-col", "run", "--recipe-col", "recipe", "--bootstrap", str(n_boot), "--json"])
    return rc, out.getvalue()


@pytest.mark.parametrize("seed", range(8))
def test_compare_accepts_the_clean_ladder(tmp_path, seed):
    path = tmp_path / f"ladder{seed}.csv"
    _ladder(**LADDER, seed=seed).to_csv(path, index=False)
    rc, out = _compare(path, 200)
    assert rc == 0, out
    r = json.loads(out)
    assert not any(dict(r["n_failed"]).values()), r["n_failed"]
    head = r["headline"][0]["parametric"]
    assert head["lo"] <= LADDER["k"] <= head["hi"], head
