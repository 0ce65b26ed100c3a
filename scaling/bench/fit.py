"""Speed benchmark of the Epoch Chinchilla fit: batched multi-start vs a Python loop over scipy.

Both minimise the same objective (sum of Huber_1e-3 log residuals, Epoch's 4,500-start grid, 240
points) from the same starts. The reference gives scipy's L-BFGS-B the analytic gradient (a
strong baseline, not finite differences) with its default options, one start at a time.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from scaling.errors import DataError
from scaling.fit.io import Table, check_table, read_table
from scaling.fit.resample import check_resamples

EPOCH_CSV = Path("epoch-chinchilla") / "svg_extracted_data.csv"


def default_external_dir() -> Path:
    """../shared/data/external beside the repository checkout."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "external"


#: the columns of Epoch's table the benchmark reads; a point is one (model size, compute)
EPOCH_TABLE = Table(columns={"--data": ["Model Size", "Training FLOP", "loss"]}, key=("Model Size", "Training FLOP"),
                    values={"Model Size": "positive", "Training FLOP": "positive", "loss": "positive"})


def epoch_points(path=None):
    """(N, D, L) of Epoch's protocol: the 5 highest-loss points dropped, D = C/(6N). The table is
    checked first (`scaling.fit.io.check_table`: columns, one row per point, finite positive values)."""
    path = Path(path) if path is not None else default_external_dir() / EPOCH_CSV
    if not path.exists():
        raise DataError(f"{path}: Epoch Chinchilla data not found (pass --data)")
    df, _ = check_table(read_table(path), EPOCH_TABLE, str(path))
    if len(df) <= 5 + 5:  # 5 dropped, and the 5 parameters need more points than that
        raise DataError(f"{path}: {len(df)} points; Epoch's protocol drops 5 and fits 5 parameters")
    df = df.sort_values("loss").iloc[:-5]
    N = df["Model Size"].to_numpy(float)
    C = df["Training FLOP"].to_numpy(float)
    return N, C / (6 * N), df["loss"].to_numpy(float)


def _reference_objective(lN, lD, y, delta):
    def obj(p):
        a, b, e, al, be = p
        t = np.stack([a - al * lN, b - be * lD, np.full_like(lN, e)])
        m = t.max(0)
        ex = np.exp(t - m)
        s = ex.sum(0)
        r = m + np.log(s) - y
        ar = np.abs(r)
        f = np.where(ar <= delta, 0.5 * r * r, delta * (ar - 0.5 * delta)).sum()
        q = np.clip(r, -delta, delta) * ex / s
        return f, np.array([q[0].sum(), q[1].sum(), q[2].sum(), -(q[0] * lN).sum(), -(q[1] * lD).sum()])
    return obj


def reference_fit(N, D, L, grid, delta=1e-3):
    """Python loop of scipy L-BFGS-B over ``grid``: (best x, best objective, wall s, cpu s)."""
    from scipy.optimize import minimize

    obj = _reference_objective(np.log(N), np.log(D), np.log(L), delta)
    t0, c0 = time.perf_counter(), time.process_time()
    best = None
    for x0 in grid:
        r = minimize(obj, x0, jac=True, method="L-BFGS-B")
        if best is None or r.fun < best.fun:
            best = r
    return best.x, float(best.fun), time.perf_counter() - t0, time.process_time() - c0


def bench_fit(data=None, n_boot: int = 1000, seed: int = 0, reference: bool = True, starts_every: int = 1) -> dict:
    """Time the batched fit (cold = with compilation, then warm) + bootstrap, and the reference.

    starts_every: use every k-th start of Epoch's grid (1 = all 4,500; tests use fewer)."""
    from scaling.fit.bootstrap import bootstrap
    from scaling.fit.estimate import fit_problem
    from scaling.fit.fits import EPOCH_GRID, chinchilla_problem
    from scaling.fit.resample import check_memory

    check_resamples(n_boot)
    N, D, L = epoch_points(data)
    check_memory(n_boot, 8 * 64 * N.size)  # weights, residuals and the solver's state per resample
    grid = EPOCH_GRID[::starts_every]
    out: dict = {"n_points": int(N.size), "n_starts": int(len(grid)), "n_boot": n_boot}
    problem = chinchilla_problem(N, D, L, grid=grid, delta=1e-3)  # the Epoch protocol, as the reference
    for label in ("cold", "warm"):
        t0, c0 = time.perf_counter(), time.process_time()
        fit = fit_problem(problem)
        out[f"fit_{label}_s"] = time.perf_counter() - t0
        out[f"fit_{label}_cpu_s"] = time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    boot, _ = bootstrap(problem, fit, n_boot=n_boot, seed=seed)
    out["bootstrap_s"] = time.perf_counter() - t0
    out["bootstrap_cpu_s"] = time.process_time() - c0
    out["objective"] = fit.objective
    out["params"] = fit.params
    out["se"] = {k: boot.se[k] for k in ("alpha", "beta", "a") if k in boot.se}
    out["bootstrap_failed"] = boot.n_bootstrap_failed
    if reference:
        x, f, wall, cpu = reference_fit(N, D, L, grid)
        out.update(reference_s=wall, reference_cpu_s=cpu, reference_objective=f,
                   reference_params={"E": float(np.exp(x[2])), "A": float(np.exp(x[0])),
                                     "B": float(np.exp(x[1])), "alpha": float(x[3]),
                                     "beta": float(x[4])})
        out["objective_rel_diff"] = abs(fit.objective - f) / abs(f)
        out["same_optimum"] = out["objective_rel_diff"] <= 1e-9
        out["ratio"] = wall / out["fit_warm_s"]
        out["ratio_cpu"] = cpu / out["fit_warm_cpu_s"]
        out["ratio_with_bootstrap"] = wall / (out["fit_warm_s"] + out["bootstrap_s"])
    return out
