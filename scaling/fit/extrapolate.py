"""Extrapolation check: fit on the runs with final compute <= X, predict the runs above X.

The split is by run, never by point: a run whose final compute exceeds X is held out whole,
so no run forecasts its own continuation. Without run labels every point is its own run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scaling.errors import FitError
from scaling.fit import registry
from scaling.fit.diagnose import diagnose, widen
from scaling.fit.predict import default_run_col, finished, predict, run_compute


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


def _point_targets(spec, held, cols, y, cfg, compute, fitted_max):
    """Every held-out matched point (one configuration, the same inputs): its seeds' mean."""
    xs = registry.values(spec, held, cols)[:-1]
    key = pd.DataFrame({"cfg": held[cfg].astype(str).to_numpy() if cfg else np.arange(len(held)).astype(str),
                        **{r: x for r, x in zip(spec.inputs, xs)}, "y": held[y].to_numpy(float)})
    g = key.groupby(["cfg", *spec.inputs], sort=True)["y"].agg(["mean", "size"]).reset_index()
    targets = [{r: float(v) for r, v in zip(spec.inputs, row)} for row in g[list(spec.inputs)].to_numpy()]
    return targets, g["mean"].to_numpy(float), g["size"].to_numpy(int), "every held-out point (seeds averaged)"


def _frontier_targets(spec, held, cols, y, cfg, compute, fitted_max):
    """The held-out runs' points where they extend the frontier (compute beyond the fitted runs'
    largest): the lowest seed-averaged value at each such compute; all held-out points if none."""
    d = pd.DataFrame({"c": compute, "cfg": held[cfg].astype(str).to_numpy() if cfg else np.arange(len(held)).astype(str),
                      "y": held[y].to_numpy(float)})
    g = d.groupby(["c", "cfg"])["y"].agg(["mean", "size"]).reset_index()
    best = g.loc[g.groupby("c")["mean"].idxmin()]
    region = "the held-out runs' best seed-averaged value at each compute beyond the fitted runs' largest"
    keep = best["c"].to_numpy(float) > fitted_max
    if not keep.any():
        keep, region = np.ones(len(best), bool), "the held-out runs' best seed-averaged value at each compute"
    best = best[keep]
    return ([{"compute": float(c)} for c in best["c"]], best["mean"].to_numpy(float), best["size"].to_numpy(int),
            region)


#: what a held-out run is compared at, by what the law is fitted to (scaling.fit.registry)
HELDOUT_TARGETS = {"points": _point_targets, "frontier": _frontier_targets}


def heldout_check(df, law: str, max_compute: float, *, y: str, x: dict | None = None, run_col: str | None = None,
                  seed_col: str | None = None, level: float = 0.9, n_boot: int = 1000, seed: int = 0,
                  delta="auto") -> dict:
    """Fit ``law`` on the runs whose final compute <= ``max_compute``, predict the others
    (:func:`heldout_runs`; a run is held out whole, so none forecasts its own continuation)."""
    spec = registry.get(law)
    if not (np.isfinite(max_compute) and max_compute > 0):
        raise FitError(f"held-out split at compute {max_compute}: must be finite and positive")
    df = finished(df)
    cols = registry.columns(spec, df, [x[r] for r in spec.inputs] if x else [], y)
    run_col = default_run_col(df, run_col)
    train = split_by_run(run_compute(df, spec, cols), None if run_col is None else df[run_col].to_numpy(), max_compute)
    return heldout_runs(df, law, train, split=f"runs with final compute <= {max_compute:g} fitted, the rest held out",
                        y=y, x=x, run_col=run_col, seed_col=seed_col, level=level, n_boot=n_boot, seed=seed,
                        delta=delta)


#: resamples of the form diagnosis's backtest (its bootstrap only sizes one extra term)
DIAGNOSE_BOOT = 200


def heldout_runs(df, law: str, train, *, split: str, y: str, x: dict | None = None, run_col: str | None = None,
                 seed_col: str | None = None, level: float = 0.9, n_boot: int = 1000, seed: int = 0,
                 delta="auto", check_form: bool = False) -> dict:
    """Fit ``law`` on the finished rows of ``df`` where ``train`` (a mask that keeps or drops
    whole runs) holds, and predict the others where :data:`HELDOUT_TARGETS` says for the law's
    sample, each against the prediction interval for the mean of its seeds
    (:meth:`scaling.fit.predict.Prediction.interval`). Returns a JSON-ready dict: split, counts,
    per target (at, actual, value, lo, hi, error = (value - actual)/actual, covered), mean and
    largest |error|, the share covered.

    check_form: also diagnose the form on the fitted runs (:func:`scaling.fit.diagnose.diagnose`)
    and widen every interval by its misspecification term (:func:`scaling.fit.diagnose.widen`);
    the unwidened bounds and coverage stay in each target as ``lo_seeds``, ``hi_seeds``,
    ``covered_seeds``, and the diagnosis (warning, scale, test) is returned under ``diagnosis``.
    """
    spec = registry.get(law)
    if spec.sample not in HELDOUT_TARGETS or spec.predict is None:
        raise FitError(f"law {law!r}: no held-out check (laws with one: "
                       f"{', '.join(n for n, s in registry.LAWS.items() if s.sample in HELDOUT_TARGETS and s.predict)})")
    train = np.asarray(train, bool)
    if "point" in df.columns:
        keep = (df["point"].astype(str) != "mid").to_numpy()
        df, train = df[keep], train[keep]
    cols = registry.columns(spec, df, [x[r] for r in spec.inputs] if x else [], y)
    run_col = default_run_col(df, run_col)
    if not train.any():
        raise FitError(f"{split}: no runs to fit")
    if train.all():
        raise FitError(f"{split}: no runs held out")
    C = run_compute(df, spec, cols)
    held = df[~train]
    cfg = "config_id" if "config_id" in df.columns else run_col
    targets, actual, k, region = HELDOUT_TARGETS[spec.sample](
        spec, held, cols, cols[spec.output], cfg, C[~train], float(C[train].max()))
    preds = predict(df[train], law, targets, y=cols[spec.output], x=x, run_col=run_col, seed_col=seed_col,
                    level=level, n_boot=n_boot, seed=seed, delta=delta)
    dg = None
    if check_form:
        dg = diagnose(df[train], law, y=cols[spec.output], x=x, run_col=run_col or "run_id", seed_col=seed_col,
                      level=level, n_boot=min(n_boot, DIAGNOSE_BOOT), seed=seed, delta=delta)
    rows = []
    for p, a, n in zip(preds, actual, k):
        lo, hi = p.interval(int(n))
        row = {"at": p.at, "actual": float(a), "n_seeds": int(n), "value": p.value, "lo": lo, "hi": hi,
               "error": (p.value - a) / a, "covered": bool(lo <= a <= hi)}
        if dg is not None:
            wlo, whi = widen(p, dg, (lo, hi))
            row.update(lo_seeds=lo, hi_seeds=hi, covered_seeds=row["covered"], lo=wlo, hi=whi,
                       covered=bool(wlo <= a <= whi))
        rows.append(row)
    err = np.array([r["error"] for r in rows])
    extra = {} if dg is None else {"diagnosis": {"warning": dg.warning, "scale": dg.scale, "test": dg.test}}
    return {**extra, "law": law, "split": split + " (by run)", "compared_at": region,
            "n_train_runs": _n_runs(df[train], run_col), "n_test_runs": _n_runs(held, run_col),
            "fitted_up_to": float(C[train].max()), "level": level, "targets": rows, "mean_error": float(err.mean()),
            "mean_abs_rel_error": float(np.mean(np.abs(err))), "max_abs_rel_error": float(np.max(np.abs(err))),
            "covered": float(np.mean([r["covered"] for r in rows])), "resampled": preds[0].resampled}


def _n_runs(d, run_col) -> int:
    return int(d[run_col].nunique()) if run_col else len(d)
