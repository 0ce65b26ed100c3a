"""Extrapolation check: fit on the runs with final compute <= X, predict the runs above X.

The split is by run, never by point: a run whose final compute exceeds X is held out whole,
so no run forecasts its own continuation. Without run labels every point is its own run.
"""

from __future__ import annotations

import numpy as np

from scaling.errors import FitError
from scaling.fit import registry


def split_by_run(compute, runs, max_compute: float) -> np.ndarray:
    """Boolean mask of training points: those of runs whose final (largest) compute <= max_compute."""
    C = np.asarray(compute, float)
    if runs is None:
        return C <= max_compute
    labels = np.asarray(runs).astype(str)
    _, inv = np.unique(labels, return_inverse=True)
    final = np.full(inv.max() + 1, -np.inf)
    np.maximum.at(final, inv, C)
    return final[inv] <= max_compute


def extrapolation_check(law: str, compute, y, max_compute: float, *, N=None, D=None, runs=None,
                        **fit_kw):
    """Fit ``law`` on runs whose final compute <= max_compute and predict the other runs' points.

    compute: FLOPs (or the metric's compute unit) per point; y: loss or metric; N, D: params and
    tokens for the Chinchilla law; runs: run label per point. Returns {"fit", "n_train",
    "n_test", "rel_error" (per held-out point, (pred - y)/y), "mean_abs_rel_error",
    "max_abs_rel_error", "rmse"}.
    """
    spec = registry.get(law)
    if spec.predict is None:
        raise FitError(f"no extrapolation check for law {law!r}")
    C = np.asarray(compute, float)
    y = np.asarray(y, float)
    train = split_by_run(C, runs, max_compute)
    test = ~train
    if not test.any():
        raise FitError(f"no held-out runs above compute {max_compute:g}")
    inputs = {"compute": C, "params": None if N is None else np.asarray(N, float),
              "tokens": None if D is None else np.asarray(D, float)}
    xs = [inputs[r] for r in spec.inputs]
    if any(v is None for v in xs):
        raise FitError(f"law {law!r} needs {', '.join(spec.inputs)}")
    fit = registry.fit(law, *(v[train] for v in xs), y=y[train], **fit_kw)
    pred = spec.predict(fit.params, *(v[test] for v in xs))
    rel = (pred - y[test]) / y[test]
    return {"fit": fit, "n_train": int(train.sum()), "n_test": int(test.sum()), "rel_error": rel,
            "mean_abs_rel_error": float(np.mean(np.abs(rel))),
            "max_abs_rel_error": float(np.max(np.abs(rel))),
            "rmse": float(np.sqrt(np.mean((pred - y[test]) ** 2)))}
