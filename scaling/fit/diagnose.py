"""Is the fitted form wrong? A lack-of-fit test against seed noise, and a backtest one size down.

A forecast extrapolates a law beyond its data, so a form that misses the data's shape misleads
most where it matters. :func:`diagnose` asks the data it is given (the runs a forecast is fitted
to) two questions:

1. **Lack of fit** (needs seeds). The law is fitted as :func:`scaling.fit.predict.predict` fits
   it (the power law to the frontier of seed-averaged points, chinchilla to every one); the
   log residuals r of those seed means are compared with what seed noise allows. Seed noise is
   measured from the runs (:func:`measure_noise`): a run's offset, shared by all its points
   (they share initialisation and data order), and a point's own noise. The covariance of two
   seed means of one configuration is sd_run^2 / s, plus sd_point^2 / s on the diagonal (s seeds);
   of different configurations, 0. The residuals of the fit are (I - H) e (H: the hat matrix of
   the law linearised at the fit), with covariance M = (I - H) Sigma (I - H) of rank K - p (K
   points, p law parameters); F = r' M^+ r / (K - p) is referred to F(K - p, sum of (s - 1) over
   configurations): a generalized lack-of-fit test whose unit is the run, not the point.
2. **Backtest** (needs 3 sizes whose largest extends the fitted compute): the largest size is
   held out whole, the law fitted to the rest forecasts its seed mean at its farthest point, and
   z = (observed - forecast) / sqrt(sd_law^2 + spread^2 / seeds) is referred to the normal
   distribution (sd_law from the law's own interval; where the rest has too few configurations
   for the bootstrap, from the point fit to the seed means linearised, with the noise covariance
   of test 1).

Each test warns at level :data:`ALPHA` / (tests run) (Bonferroni): under a correct form and
calibrated noise the false-alarm rate is at most :data:`ALPHA`. No warning is not a proof: a form
can fail beyond the data (a break past the largest size) without a trace inside it.

:func:`widen` adds a misspecification term to a prediction interval: the residual spread beyond
seed noise (lack of fit), or the backtest's error beyond its own variance, whichever is larger,
in quadrature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from scaling.errors import DataError, FitError
from scaling.fit import registry
from scaling.fit.frontier import envelope_index

#: most false alarms, over both tests, under a correct form with calibrated noise
ALPHA = 0.05
#: columns tried, in order, for a run's size; else each run's final compute
SIZE_COLUMNS = ("params/total", "model.width")
#: fewest sizes for a backtest: the largest held out, two left to fit
MIN_SIZES = 3


@dataclass(frozen=True)
class Diagnosis:
    """warning: a sentence, or None; statistic: the lack-of-fit F (NaN without seeds); p_value:
    its p-value; dof: (K - p, noise degrees of freedom); scale: the relative misspecification sd
    the data imply (0 when within noise); backtest_z / backtest_error: the backtest's z and
    relative error (forecast - observed) / observed, NaN when none ran; test: what was done."""

    warning: str | None
    statistic: float
    p_value: float
    dof: tuple
    scale: float
    backtest_z: float
    backtest_error: float
    test: str


def measure_noise(table) -> tuple[float, float, int]:
    """(sd of a run's offset, sd of a point's own noise, run degrees of freedom) from the (K, S, B)
    log values of K configurations x S seeds x B shared points: two-way ANOVA without replication
    per configuration (residual mean square: point variance; (run mean square - residual) / B:
    run variance), mean squares pooled over configurations."""
    t = np.asarray(table, float)
    k, s, b = t.shape
    if s < 2:
        raise DataError("measuring seed noise needs at least 2 seeds per configuration")
    run = t.mean(axis=2, keepdims=True)
    budget = t.mean(axis=1, keepdims=True)
    grand = t.mean(axis=(1, 2), keepdims=True)
    ms_resid = float(np.mean(np.sum((t - run - budget + grand) ** 2, axis=(1, 2)) / max((s - 1) * (b - 1), 1))) \
        if b > 1 else 0.0
    ms_run = float(np.mean(b * np.sum((run - grand) ** 2, axis=(1, 2)) / (s - 1)))
    return float(np.sqrt(max(ms_run - ms_resid, 0.0) / b)), float(np.sqrt(ms_resid)), k * (s - 1)


def _stored(df: pd.DataFrame, columns) -> bool:
    """Whether every column is stored in ``df`` (an input the registry derives, e.g. tokens from
    compute / 6N, has no column to group seeds by: the tests are then not run, and the diagnosis says
    so)."""
    return all(c in df.columns for c in columns)


def _seed_tables(d: pd.DataFrame, inputs: list, y: str):
    """Per configuration with >= 2 seeds sharing their points: (inputs (B, roles), log y (S, B))."""
    out = []
    for _, g in d.groupby("_cfg"):
        piv = g.pivot_table(index="_run", columns=inputs, values=y, aggfunc="mean")
        piv = piv.dropna(axis=1)
        if piv.shape[0] >= 2 and piv.shape[1] >= 1:
            cols = np.array([c if isinstance(c, tuple) else (c,) for c in piv.columns], float)
            out.append((cols, np.log(piv.to_numpy(float))))
    return out


def _seed_fit(df, spec, cols, run_col: str, delta):
    """The law fitted to the seed means of configurations with >= 2 seeds (the frontier of them for
    a frontier law) and their noise covariance: {"fit", "xs", "ym", "S" (K, K), "noise", "dof"};
    None without such configurations or with too few points."""
    inputs = [cols[r] for r in spec.inputs]
    if "config_id" not in df.columns or run_col not in df.columns or not _stored(df, inputs + [cols[spec.output]]):
        return None
    d = df.assign(_cfg=df["config_id"].astype(str), _run=df[run_col].astype(str))
    tables = _seed_tables(d, inputs, cols[spec.output])
    if not tables:
        return None
    if len({t.shape for _, t in tables}) != 1:  # configurations observed differently: pool each one's ANOVA
        parts = [measure_noise(t[None]) for _, t in tables]
        var_run = float(np.mean([p[0] ** 2 for p in parts]))
        var_pt = float(np.mean([p[1] ** 2 for p in parts]))
        dof = sum(p[2] for p in parts)
    else:
        sd_run, sd_pt, dof = measure_noise(np.stack([t for _, t in tables]))
        var_run, var_pt = sd_run ** 2, sd_pt ** 2
    X = np.concatenate([c for c, _ in tables])
    ym = np.concatenate([np.exp(t.mean(axis=0)) for _, t in tables])  # geometric seed means
    cfg = np.concatenate([np.full(c.shape[0], j) for j, (c, _) in enumerate(tables)])
    seeds = np.concatenate([np.full(c.shape[0], t.shape[0]) for c, t in tables])
    keep = envelope_index(X[:, 0], ym) if spec.sample == "frontier" else np.arange(ym.size)
    K = keep.size
    if K <= len(spec.params):
        return None
    xs = [X[keep, i] for i in range(X.shape[1])]
    fit = registry.fit(spec.name, *xs, y=ym[keep], delta=delta)
    same = cfg[keep][:, None] == cfg[keep][None, :]
    S = (np.where(same, var_run, 0.0) + np.eye(K) * var_pt) / seeds[keep][:, None]
    return {"fit": fit, "xs": xs, "ym": ym[keep], "S": S, "noise": (var_run, var_pt), "dof": dof}


def lack_of_fit(df, law: str, *, y: str, x: dict | None = None, run_col: str = "run_id", delta="auto") -> dict | None:
    """The lack-of-fit test (module docstring, 1) on ``df``'s runs; None without configurations
    of >= 2 seeds (a ``config_id`` column groups runs into configurations)."""
    spec = registry.get(law)
    cols = registry.columns(spec, df, [x[r] for r in spec.inputs] if x else None, y)
    sf = _seed_fit(df, spec, cols, run_col, delta)
    if sf is None:
        return None
    xs, S, K, p = sf["xs"], sf["S"], sf["ym"].size, len(spec.params)
    r = np.log(sf["ym"]) - np.log(spec.predict(sf["fit"].params, *xs))
    # the residuals of a fit are (I - H) e, H the hat matrix of the law linearised at the fit: their
    # covariance M = (I - H) S (I - H) has rank K - p, and r' M^+ r is chi-square(K - p) under the form
    Q, _ = np.linalg.qr(_jacobian(spec, sf["fit"].params, xs))
    P = np.eye(K) - Q @ Q.T
    M = P @ S @ P
    F = float(r @ np.linalg.pinv(M, rcond=1e-10, hermitian=True) @ r) / (K - p)
    pv = float(stats.f.sf(F, K - p, sf["dof"]))
    scale = float(np.sqrt(max((r @ r - np.trace(M)) / (K - p), 0.0)))
    return {"F": F, "p": pv, "dof": (K - p, sf["dof"]), "scale": scale, "K": K,
            "noise": tuple(float(np.sqrt(v)) for v in sf["noise"])}


def _linearised(df, spec, cols, run_col, at: dict, n: float, delta):
    """(forecast, variance of its log, variance of the observed log mean) from a point fit to the
    seed means, its covariance linearised (sandwich, the noise covariance of :func:`_seed_fit`):
    the backtest where the bootstrap has too few configurations. None without seeds."""
    sf = _seed_fit(df, spec, cols, run_col, delta)
    if sf is None:
        return None
    J = _jacobian(spec, sf["fit"].params, sf["xs"])
    A = np.linalg.pinv(J)
    g = _jacobian(spec, sf["fit"].params, [np.array([at[r]]) for r in spec.inputs])[0]
    value = float(spec.predict(sf["fit"].params, *(np.array([at[r]]) for r in spec.inputs))[0])
    return value, float(g @ A @ sf["S"] @ A.T @ g), sum(sf["noise"]) / n


def _jacobian(spec, params: dict, xs) -> np.ndarray:
    """(K, p) derivatives of the law's log prediction by each parameter (forward differences)."""
    base = np.log(spec.predict(params, *xs))
    cols = []
    for k in spec.params:
        h = 1e-6 * max(abs(params[k]), 1e-12)
        cols.append((np.log(spec.predict({**params, k: params[k] + h}, *xs)) - base) / h)
    return np.stack(cols, axis=1)


def _sizes(df, run_col: str, compute: str | None, size: str | None) -> tuple[np.ndarray, str]:
    """(size of each row's run, what the size is)."""
    col = size or next((c for c in SIZE_COLUMNS if c in df.columns), None)
    if col is not None:
        if col not in df.columns:
            raise DataError(f"size column {col!r} not found")
        return df.groupby(run_col)[col].transform("max").to_numpy(float), col
    if compute is None:
        raise DataError("a backtest needs a size column or a compute column")
    return df.groupby(run_col)[compute].transform("max").to_numpy(float), f"final {compute}"


def backtest(df, law: str, *, y: str, x: dict | None = None, run_col: str = "run_id", seed_col: str | None = None,
             size: str | None = None, level: float = 0.9, n_boot: int = 200, seed: int = 0,
             delta="auto") -> dict | None:
    """The backtest (module docstring, 2); None when the data do not allow one."""
    from scaling.fit.predict import predict  # the shared prediction function

    spec = registry.get(law)
    cols = registry.columns(spec, df, [x[r] for r in spec.inputs] if x else None, y)
    ccol = cols.get("compute") if cols.get("compute") in df.columns else None
    if not _stored(df, [cols[r] for r in spec.inputs] + [cols[spec.output]]):
        return None
    sizes, what = _sizes(df, run_col, ccol, size)
    levels = np.unique(sizes)
    if levels.size < MIN_SIZES:
        return None
    out = sizes == levels[-1]
    rest, held = df[~out], df[out]
    if ccol is not None:
        held = held[held[ccol].to_numpy(float) > float(rest[ccol].max())]
    if held.empty:
        return None
    inputs = [cols[r] for r in spec.inputs]
    obs = held.groupby(inputs)[cols[spec.output]].agg(["mean", "count"]).reset_index()
    far = obs.iloc[-1] if ccol is None else obs.loc[obs[ccol].idxmax()]
    at = {r: float(far[cols[r]]) for r in spec.inputs}
    mean, n = float(far["mean"]), float(far["count"])
    try:
        p = predict(rest, law, [at], y=y, x=x, run_col=run_col, seed_col=seed_col, level=level,
                    n_boot=n_boot, seed=seed, delta=delta)[0]
        zq = stats.norm.ppf(0.5 + level / 2)
        value = p.value
        var = ((p.fit_hi - p.fit_lo) / (2 * zq)) ** 2 + p.spread ** 2 / n
        rel_var = var / mean ** 2
        how = "bootstrap"
    except (FitError, DataError):  # too few configurations for the bootstrap: the linearised fit
        try:
            lin = _linearised(rest, spec, cols, run_col, at, n, delta)
        except (FitError, DataError):
            lin = None
        if lin is None:
            return None
        value, v_law, v_obs = lin
        rel_var = v_law + v_obs  # log units: relative
        var = rel_var * mean ** 2
        how = "linearised"
    z = (mean - value) / np.sqrt(var)
    err = (value - mean) / mean
    return {"z": float(z), "p": float(2 * stats.norm.sf(abs(z))), "error": float(err), "at": at, "what": what,
            "held": levels[-1], "scale": float(np.sqrt(max(err ** 2 - rel_var, 0.0))), "how": how}


def diagnose(df, law: str, *, y: str, x: dict | None = None, run_col: str = "run_id",
             seed_col: str | None = None, size: str | None = None, level: float = 0.9,
             n_boot: int = 200, seed: int = 0, delta="auto") -> Diagnosis:
    """Both tests (module docstring) on ``df``, the runs a forecast of ``law`` is fitted to
    (finished points only, as the forecast)."""
    from scaling.fit.predict import finished

    df = finished(df)
    words, alarms = [], []
    try:
        lof = lack_of_fit(df, law, y=y, x=x, run_col=run_col, delta=delta)
    except (FitError, DataError) as err:  # a refused fit is said, not raised: the forecast stands alone
        lof = None
        words.append(f"no lack-of-fit test: the fit to the seed means was refused ({err})")
    bt = backtest(df, law, y=y, x=x, run_col=run_col, seed_col=seed_col, size=size, level=level,
                  n_boot=n_boot, seed=seed, delta=delta)
    ran = [t for t in (lof, bt) if t is not None]
    if not ran:
        return Diagnosis(None, np.nan, np.nan, (0, 0), 0.0, np.nan, np.nan,
                         "; ".join(["no test: no configuration with 2 seeds, and too few sizes for a backtest"] + words))
    a = ALPHA / len(ran)
    if lof is not None:
        words.append(f"lack of fit: F = {lof['F']:.2f} on ({lof['dof'][0]}, {lof['dof'][1]}) degrees of freedom over "
                     f"{lof['K']} seed means (seed noise from the runs: run sd {lof['noise'][0]:.3g}, point sd "
                     f"{lof['noise'][1]:.3g} in log y), p = {lof['p']:.3g}")
        if lof["p"] < a:
            alarms.append(f"its residuals exceed seed noise (F = {lof['F']:.2f}, p = {lof['p']:.2g})")
    if bt is not None:
        where = ", ".join(f"{k} {v:.3g}" for k, v in bt["at"].items())
        words.append(f"backtest: fitted without the largest {bt['what']} ({bt['held']:.3g}, held out by run), the "
                     f"forecast at {where} errs by {bt['error']:+.2%}, z = {bt['z']:.2f}, p = {bt['p']:.3g} (law's "
                     f"uncertainty: {bt['how']})")
        if bt["p"] < a:
            alarms.append(f"it misses its own backtest one size down by {bt['error']:+.2%} (z = {bt['z']:.2f})")
    warning = None
    if alarms:
        warning = f"the {law} form looks wrong for these data: " + "; ".join(alarms) + \
            f" (each test at {a:.3g}); a forecast's interval may be too narrow"
    scale = max((t["scale"] for t in ran), default=0.0)
    return Diagnosis(warning, lof["F"] if lof else np.nan, lof["p"] if lof else np.nan,
                     lof["dof"] if lof else (0, 0), float(scale), bt["z"] if bt else np.nan,
                     bt["error"] if bt else np.nan, "; ".join(words))


def widen(prediction, diagnosis: Diagnosis, bounds: tuple[float, float] | None = None) -> tuple[float, float]:
    """(lo, hi) of ``prediction``'s interval (or of ``bounds``, e.g. its interval for a mean of seeds)
    with the misspecification term z_level x scale x value added in quadrature to each half-width
    (unchanged when the scale is 0 or NaN)."""
    return widen_by(prediction, diagnosis.scale, bounds)


def widen_by(prediction, scale: float, bounds: tuple[float, float] | None = None) -> tuple[float, float]:
    """:func:`widen` with the diagnosis's relative ``scale`` given (as a forecast record stores it)."""
    s = scale if scale is not None and np.isfinite(scale) else 0.0
    extra = stats.norm.ppf(0.5 + prediction.level / 2) * s * abs(prediction.value)
    v = prediction.value
    lo, hi = (prediction.lo, prediction.hi) if bounds is None else bounds
    return (v - float(np.hypot(v - lo, extra)), v + float(np.hypot(hi - v, extra)))
