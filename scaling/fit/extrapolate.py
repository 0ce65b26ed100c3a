"""Extrapolation check: fit on compute <= X, predict the larger held-out runs."""

from __future__ import annotations

import numpy as np

from scaling.errors import FitError
from scaling.fit import fits, laws


def _predict(fit, law, x):
    p = fit.params
    if law == "chinchilla":
        return laws.chinchilla_loss(x["N"], x["D"], **p)
    if law == "power":
        return laws.power_law(x["C"], **p)
    if law == "sigmoid":
        return laws.scalerl_sigmoid(x["C"], **p)
    if law == "loglinear":
        return laws.loglinear(x["C"], **p)
    raise FitError(f"no extrapolation check for law {law!r}")


def extrapolation_check(law: str, compute, y, max_compute: float, *, N=None, D=None, **fit_kw):
    """Fit ``law`` on points with compute <= max_compute and predict those above it.

    compute: FLOPs (or the metric's compute unit) per point; y: loss or metric; N, D: params and
    tokens for the Chinchilla law. Returns {"fit", "n_train", "n_test", "rel_error" (per held-out
    point, (pred - y)/y), "mean_abs_rel_error", "max_abs_rel_error", "rmse"}.
    """
    C = np.asarray(compute, float)
    y = np.asarray(y, float)
    train, test = C <= max_compute, C > max_compute
    if not test.any():
        raise FitError(f"no held-out points above compute {max_compute:g}")
    x = {"C": C, "N": None if N is None else np.asarray(N, float),
         "D": None if D is None else np.asarray(D, float)}
    sub = {k: (None if v is None else v[train]) for k, v in x.items()}
    if law == "chinchilla":
        fit = fits.fit_chinchilla(sub["N"], sub["D"], y[train], **fit_kw)
    elif law == "power":
        fit = fits.fit_power(sub["C"], y[train], **fit_kw)
    elif law == "sigmoid":
        fit = fits.fit_sigmoid(sub["C"], y[train], **fit_kw)
    elif law == "loglinear":
        fit = fits.fit_loglinear(sub["C"], y[train], **fit_kw)
    else:
        raise FitError(f"no extrapolation check for law {law!r}")
    held = {k: (None if v is None else v[test]) for k, v in x.items()}
    pred = _predict(fit, law, held)
    rel = (pred - y[test]) / y[test]
    return {"fit": fit, "n_train": int(train.sum()), "n_test": int(test.sum()), "rel_error": rel,
            "mean_abs_rel_error": float(np.mean(np.abs(rel))),
            "max_abs_rel_error": float(np.max(np.abs(rel))),
            "rmse": float(np.sqrt(np.mean((pred - y[test]) ** 2)))}
