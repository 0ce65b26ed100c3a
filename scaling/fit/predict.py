"""A fitted law's prediction at new inputs, with a prediction interval for one new run.

``predict(df, law, at, y=...)`` fits ``law`` to the sample its registry row names (the power law
to the frontier of finished points, re-taken in every resample; chinchilla to every finished
point) and returns one :class:`Prediction` per target in ``at``.

The interval has two parts:

- the law's own uncertainty (``fit_lo``, ``fit_hi``): percentile interval of the prediction over
  the project's one bootstrap (:mod:`scaling.fit.resample`: seeds within configurations when
  every configuration has >= 2, else whole runs; never single points of a run);
- seed-to-seed spread (``spread``): a new run differs from the law's mean by its seed. It is
  estimated from runs that share a configuration: at each matched point (same configuration,
  same inputs) the seeds' deviations from their mean, pooled (sum of squares over
  sum of (seeds - 1)). Its degrees of freedom are counted per configuration, sum of (seeds - 1),
  since the points along one run are not independent. Without any configuration with two seeds
  the spread is the law's residual standard deviation over independent runs' points instead
  (``spread_source`` says which).

The two are added per side in quadrature: lo = value - sqrt(d_lo^2 + e^2), hi likewise, with
d_lo = value - fit_lo (>= 0) and e = t(dof) quantile x spread / sqrt(n_seeds) (exact for a
symmetric normal fit interval and normal seed noise; conservative otherwise).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from scaling.errors import DataError, FitError
from scaling.fit import registry, resample
from scaling.fit.bootstrap import bootstrap, point_units
from scaling.fit.estimate import fit_problem, solve
from scaling.fit.frontier import envelope_index
from scaling.fit.io import resolve_column
from scaling.fit.table import units_of_rows


@dataclass(frozen=True)
class Prediction:
    """A law's prediction of y at ``at`` with a prediction interval for one new run (see module)."""

    law: str
    at: dict
    value: float
    lo: float
    hi: float
    level: float
    fit_lo: float
    fit_hi: float
    spread: float
    n_runs: int
    resampled: str
    spread_dof: float = float("inf")
    spread_source: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def interval(self, n_seeds: int = 1) -> tuple[float, float]:
        """The prediction interval for the mean of ``n_seeds`` new runs at the target."""
        return combine(self.value, self.fit_lo, self.fit_hi, self.spread, self.spread_dof, self.level, n_seeds)


def combine(value, fit_lo, fit_hi, spread, dof, level, n_seeds: int = 1) -> tuple[float, float]:
    """Law uncertainty and seed spread added per side in quadrature (module docstring)."""
    q = 1 - (1 - level) / 2
    t = stats.t.ppf(q, dof) if np.isfinite(dof) and dof > 0 else stats.norm.ppf(q)
    e = t * spread / np.sqrt(max(int(n_seeds), 1))
    d_lo, d_hi = max(value - fit_lo, 0.0), max(fit_hi - value, 0.0)
    return float(value - np.hypot(d_lo, e)), float(value + np.hypot(d_hi, e))


def finished(df):
    """Rows that are finished points (all rows when there is no ``point`` column)."""
    if "point" in df.columns:
        return df[df["point"].astype(str) != "mid"]
    return df


def check_targets(spec, at) -> list[dict]:
    """Targets as {role: float}: exactly the law's inputs, each finite and positive."""
    if not at:
        raise DataError(f"no target given: name {', '.join(spec.inputs)} (e.g. --predict-at "
                        f"{','.join(r + '=1e9' for r in spec.inputs)})")
    out = []
    for t in at:
        keys = set(t)
        if keys != set(spec.inputs):
            raise DataError(f"target {_fmt(t)}: law {spec.name} takes {', '.join(spec.inputs)}"
                            + (f"; unknown {', '.join(sorted(keys - set(spec.inputs)))}" if keys - set(spec.inputs) else ""))
        vals = {}
        for r in spec.inputs:
            try:
                v = float(t[r])
            except (TypeError, ValueError):
                raise DataError(f"target {r}={t[r]!r}: not a number") from None
            if not (np.isfinite(v) and v > 0):
                raise DataError(f"target {r}={t[r]}: must be finite and positive")
            vals[r] = v
        out.append(vals)
    return out


def _fmt(t: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in t.items())


def run_compute(df, spec, cols) -> np.ndarray:
    """Compute per row for the split: the compute column when the law's columns or the table name
    one, else 6·N·D from the law's params and tokens (the usual dense-transformer count)."""
    if "compute" in cols and cols["compute"] in df.columns:
        return df[cols["compute"]].to_numpy(float)
    try:
        return df[resolve_column(df, "compute")].to_numpy(float)
    except FitError:
        pass
    if {"params", "tokens"} <= set(cols):
        N, D = (registry.values(spec, df, cols)[spec.inputs.index(r)] for r in ("params", "tokens"))
        return 6.0 * N * D
    raise FitError(f"law {spec.name}: no compute column to split runs by their final compute")


#: farthest a target may lie beyond the data, in compute: a law fitted over a few decades says
#: nothing at four more
MAX_REACH = 1e4


def target_compute(spec, t: dict) -> float:
    """A target's compute: its own, or 6·N·D (as :func:`run_compute`)."""
    return float(t["compute"]) if "compute" in t else 6.0 * float(t["params"]) * float(t["tokens"])


def check_reach(spec, targets, df, cols) -> None:
    """DataError naming a target more than :data:`MAX_REACH` times beyond the largest compute of
    ``df``'s finished rows (laws in compute, or in params and tokens; others have no compute)."""
    if not ({"compute"} <= set(spec.inputs) or {"params", "tokens"} <= set(spec.inputs)):
        return
    top = float(np.max(run_compute(finished(df), spec, cols)))
    for t in targets:
        c = target_compute(spec, t)
        if c > MAX_REACH * top:
            raise DataError(f"target {_fmt(t)}: compute {c:.3g} is {c / top:.3g}x the data's largest ({top:.3g}); "
                            f"a forecast more than {MAX_REACH:g}x beyond the data is refused")


def default_run_col(df, run_col=None):
    """The run column: ``run_col`` (it must exist), else run_id or run when present, else None."""
    if run_col is not None:
        if run_col not in df.columns:
            raise DataError(f"run column {run_col!r}: no such column")
        return run_col
    return next((c for c in ("run_id", "run") if c in df.columns), None)


def predict(df, law: str, at: list[dict], *, y: str, x: dict | None = None, run_col: str | None = None,
            seed_col: str | None = None, level: float = 0.9, n_boot: int = 1000, seed: int = 0,
            delta="auto") -> list[Prediction]:
    """Fit ``law`` (a name of :data:`scaling.fit.registry.LAWS`) to ``df``'s finished rows and
    predict y at every target of ``at`` ({role: value}, e.g. {"compute": 3e11} or
    {"params": 8.7e4, "tokens": 1.2e6}) with a ``level`` prediction interval (module docstring).

    x: {role: column} for the law's inputs (default: the registry's column names); run_col: run
    labels (default run_id/run); seed_col: seeds within configurations (as ``scaling fit``).
    """
    spec = registry.get(law)
    if spec.predict is None or spec.sample not in FITTERS:
        raise FitError(f"law {law!r} makes no predictions here (laws that do: "
                       f"{', '.join(n for n, s in registry.LAWS.items() if s.predict and s.sample in FITTERS)})")
    if not 0 < level < 1:
        raise DataError(f"level {level}: must lie strictly between 0 and 1")
    resample.check_resamples(n_boot)
    targets = check_targets(spec, at)
    df = finished(df)
    if len(df) == 0:
        raise DataError("no finished rows to fit")
    cols = registry.columns(spec, df, [x[r] for r in spec.inputs] if x else [], y)
    run_col = default_run_col(df, run_col)
    groups, configs = units_of_rows(df, run_col, seed_col)
    *xs, yv = registry.values(spec, df, cols)
    check_reach(spec, targets, df, cols)
    params, draws, resampled, fitted = FITTERS[spec.sample](spec, xs, yv, groups, configs, n_boot=n_boot,
                                                            seed=seed, delta=delta)
    spread, dof, source = seed_spread(yv, xs, groups, configs)
    if source is None:
        spread, dof, source = residual_spread(spec, params, *fitted)
    n_runs = len(np.unique(np.asarray(groups).astype(str))) if groups is not None else len(yv)
    out = []
    for t in targets:
        tx = [np.array([t[r]]) for r in spec.inputs]
        value = float(spec.predict(params, *tx)[0])
        pd_ = spec.predict_draws(draws, *tx)[:, 0]
        flo, fhi = (float(v) for v in resample.interval(pd_[np.isfinite(pd_)], level))
        lo, hi = combine(value, flo, fhi, spread, dof, level)
        out.append(Prediction(law=spec.name, at=dict(t), value=value, lo=lo, hi=hi, level=level, fit_lo=flo,
                              fit_hi=fhi, spread=spread, n_runs=int(n_runs), resampled=resampled,
                              spread_dof=float(dof), spread_source=source))
    return out


def seed_spread(yv, xs, groups, configs):
    """(sd, dof, how) of y between seeds of one configuration at matched points; (nan, 0, None)
    when no configuration has two seeds (module docstring)."""
    if groups is None or configs is None:
        return float("nan"), 0.0, None
    runs = np.asarray(groups).astype(str)
    cfg = np.asarray(configs).astype(str)
    # a matched point: one configuration, the same inputs (to 1e-9 relative)
    key = np.array([c + "|" + "|".join(f"{np.log(v):.9f}" for v in vals)
                    for c, vals in zip(cfg, zip(*(np.asarray(v, float) for v in xs)))])
    ss, df_points = 0.0, 0
    for k in np.unique(key):
        m = key == k
        if m.sum() >= 2:
            v = yv[m]
            ss += float(np.sum((v - v.mean()) ** 2))
            df_points += int(m.sum()) - 1
    seeds = {c: len(set(runs[cfg == c])) for c in np.unique(cfg)}
    dof = float(sum(s - 1 for s in seeds.values() if s >= 2))
    if df_points == 0 or dof == 0:
        return float("nan"), 0.0, None
    return (float(np.sqrt(ss / df_points)), dof,
            f"seeds around their configuration's mean at matched points ({int(dof)} degrees of freedom: "
            f"seeds - 1 per configuration)")


def residual_spread(spec, params, xs, yv):
    """(sd, dof, how) of the law's residuals in y over the points it was fitted to, dof = points -
    parameters: an upper bound on seed spread (it holds misfit too) for data without seeds."""
    resid = yv - spec.predict(params, *xs)
    dof = max(len(yv) - len(spec.params), 1)
    return (float(np.sqrt(np.sum(resid**2) / dof)), float(dof),
            f"the law's residual spread (no configuration has two seeds; {dof} degrees of freedom)")


def fit_points(spec, xs, yv, groups, configs, *, n_boot, seed, delta):
    """A law fitted to every point; bootstrap draws of its parameters (whole runs / seeds)."""
    u, _ = point_units(groups, configs, len(yv))
    if u.n_configs < 3:  # refused before the fit, which is the costly part
        raise FitError(f"a bootstrap needs at least 3 independent configurations; got {u.n_configs}")
    if spec.closed_fit is not None:
        fit = registry.fit(spec.name, *xs, y=yv)
        fit, samples = bootstrap(None, fit, groups, n_boot=n_boot, seed=seed, configs=configs, data=(*xs, yv))
    else:
        problem = registry.problem(spec.name, *xs, y=yv, delta=delta)
        fit = fit_problem(problem)
        fit, samples = bootstrap(problem, fit, groups, n_boot=n_boot, seed=seed, configs=configs)
    return fit.params, {k: samples[k] for k in spec.params}, _words(u, groups), (xs, yv)


def _words(u, groups) -> str:
    if groups is None:
        return "single points drawn with replacement (no run column: points are treated as independent)"
    return u.describe()


def _configurations(c, yv, groups, configs):
    """Per configuration: its compute grid (n,) and (seeds, n) values; seeds whose grids differ
    become configurations of their own. Returns (compute list, value list, run order)."""
    runs = np.arange(len(yv)).astype(str) if groups is None else np.asarray(groups).astype(str)
    cfg = runs if configs is None else np.asarray(configs).astype(str)
    grids, values = [], []
    for k in np.unique(cfg):
        seeds = []
        for r in np.unique(runs[cfg == k]):
            m = (cfg == k) & (runs == r)
            o = np.argsort(c[m])
            seeds.append((c[m][o], yv[m][o]))
        if all(s[0].shape == seeds[0][0].shape and np.allclose(s[0], seeds[0][0], rtol=1e-9) for s in seeds):
            grids.append(seeds[0][0])
            values.append(np.stack([s[1] for s in seeds]))
        else:
            for s in seeds:
                grids.append(s[0])
                values.append(s[1][None, :])
    return grids, values


def _mean(L, w=None):
    """Seed-averaged values of a configuration; a resample's departure from the full mean is
    stretched by sqrt(s/(s-1)) in log units so its variance is the mean's (as in the claims)."""
    full = L.mean(axis=0)
    if w is None:
        return full
    m = w @ L / w.sum()
    s = L.shape[0]
    return full * np.exp(np.sqrt(s / (s - 1)) * (np.log(m) - np.log(full))) if s > 1 else m


def fit_frontier(spec, xs, yv, groups, configs, *, n_boot, seed, delta):
    """The law on the frontier (lower envelope) of seed-averaged points per configuration, the
    envelope re-taken in every resample (seeds within configurations, else whole runs)."""
    c = np.asarray(xs[0], float)
    grids, values = _configurations(c, np.asarray(yv, float), groups, configs)
    u = resample.units(np.repeat(np.arange(len(values)), [L.shape[0] for L in values]))
    if u.n_configs < 3:
        raise FitError(f"a bootstrap needs at least 3 independent configurations; got {u.n_configs}")
    c_all = np.concatenate(grids)
    full = np.concatenate([_mean(L) for L in values])
    on = envelope_index(c_all, full)
    if on.size < len(spec.params) + 1:
        raise FitError(f"{on.size} frontier points; the {spec.name} law ({len(spec.params)} parameters) "
                       f"needs >= {len(spec.params) + 1}")
    fit = fit_problem(registry.problem(spec.name, c_all[on], y=full[on], delta=delta))
    problem = registry.problem(spec.name, c_all, y=full, delta=fit.meta["delta"])
    counts = resample.draw(u, n_boot, np.random.default_rng(seed))
    sizes = [L.shape[0] for L in values]
    start = np.concatenate([[0], np.cumsum([g.size for g in grids])[:-1]])
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    W = np.zeros((n_boot, c_all.size))
    Y = np.tile(np.log(full), (n_boot, 1))
    for b, cnt in enumerate(counts):
        drawn = np.zeros(c_all.size, bool)
        mult = np.zeros(c_all.size)
        for j, L in enumerate(values):
            w = cnt[first[j]: first[j] + sizes[j]]
            if w.sum() > 0:
                sl = slice(start[j], start[j] + grids[j].size)
                Y[b, sl] = np.log(_mean(L, w))
                drawn[sl] = True
                mult[sl] = w.sum() / sizes[j]  # times the configuration was drawn
        idx = np.flatnonzero(drawn)
        keep = idx[envelope_index(c_all[idx], np.exp(Y[b, idx]))]
        W[b, keep] = mult[keep]
    sol = solve(problem, W, starts=fit.candidates[:4], rows={"y": Y})
    ok = sol.converged & np.isfinite(sol.fun)
    resample.check_failures(ok, f"{spec.name} fit on the frontier")
    nat = problem.to_params(sol.theta[ok])
    return fit.params, {k: np.asarray(nat[k], float) for k in spec.params}, \
        _words(u, groups) + "; each resample's frontier re-taken", ([c_all[on]], full[on])


#: how a law's parameters and their bootstrap draws are obtained, by what the registry says it is fitted to
FITTERS = {"points": fit_points, "frontier": fit_frontier}


def parse_target(text: str, flag: str = "--predict-at") -> dict:
    """{role: value} from ``ROLE=VALUE[,ROLE=VALUE]`` (e.g. ``compute=3e11``,
    ``params=8.7e4,tokens=1.2e6``); DataError naming ``flag`` and the text otherwise."""
    out = {}
    for item in str(text).split(","):
        role, eq, value = item.strip().partition("=")
        if not eq or not role:
            raise DataError(f"{flag} {text!r}: expected ROLE=VALUE[,ROLE=VALUE] (e.g. compute=3e11 or "
                            f"params=8.7e4,tokens=1.2e6)")
        try:
            v = float(value)
        except ValueError:
            raise DataError(f"{flag} {text!r}: {role}={value!r} is not a number") from None
        if not (np.isfinite(v) and v > 0):
            raise DataError(f"{flag} {text!r}: {role} must be finite and positive")
        if role in out:
            raise DataError(f"{flag} {text!r}: {role} given twice")
        out[role] = v
    return out
