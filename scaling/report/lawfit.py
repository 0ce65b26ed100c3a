"""`scaling fit` over every estimator of the law registry: `run_fit(source, law, ...)`.

The frontier estimator (a law fitted to the lower envelope of finished points, re-taken in every
resample) is the estimator of `compare` on one recipe: it groups points by configuration and
seed with the claims' recipe data (`scaling.claims.multiplier.recipe_data`) and fits them with
`scaling.claims.powerfits.recipe_fit`. Claims sit above `scaling.fit`, so this estimator sits
above both, here; the point and budget estimators, the reading of the table and the formatters
are `scaling.fit.table`.
"""

from __future__ import annotations

import numpy as np

from scaling.claims import options
from scaling.claims.multiplier import MIN_UNITS, envelope, recipe_data
from scaling.claims.powerfits import recipe_fit
from scaling.claims.seeds import units_of
from scaling.errors import DataError
from scaling.fit import registry, resample, table
from scaling.fit.bootstrap import percentile_intervals
from scaling.fit.extrapolate import HELDOUT_TARGETS, heldout_check
from scaling.fit.predict import check_reach, check_targets, predict
from scaling.fit.io import Table, check_table, read_table, require_columns


def fit_frontier(spec, df, cols, *, n_boot, delta, seed, run_col, seed_col, include_mid, n_mid, **_):
    """The law on the frontier of (finished) points: the estimator of `compare`, one recipe."""
    ccol, ycol = cols["compute"], cols[spec.output]
    d = df.assign(_recipe="all")
    rc = run_col or "_row"
    if run_col is None:
        d = d.assign(_row=np.arange(len(d)))
    rd = recipe_data(d, "all", ccol, ycol, rc, "_recipe", 0.0, include_mid, seed_col=seed_col)
    u = units_of(rd)
    counts = resample.draw(u, n_boot, np.random.default_rng(seed))
    f = recipe_fit(rd, counts, delta)
    fit = f["fit"]
    samples = {k: f[k][f["ok"]] for k in spec.params}
    intervals, se = percentile_intervals(samples)
    fc, fl = envelope(rd)
    kind = "finished" if "point" in df.columns and not include_mid else "all"
    out = {**fit.to_dict(), "intervals": {k: list(v) for k, v in intervals.items()}, "se": se,
           "n_bootstrap": n_boot, "n_bootstrap_failed": f["n_failed"], "delta": f["delta"],
           "n_points": int(fc.size), "fitted_to": f"the frontier (lower envelope) of {kind} "
           f"points: {fc.size} of {sum(c.size for c in rd.compute)}" + (f"; {n_mid} mid-run points left out" if n_mid else ""),
           "resampled": table.resampled(u, run_col) + f"; each resample's frontier re-taken (minimum {MIN_UNITS} configurations)"}
    return out


#: how `scaling fit` estimates a law, by what the registry says it is fitted to
ESTIMATORS = {**table.ESTIMATORS, "frontier": fit_frontier}


def run_fit(source, law, x=None, y=None, group=None, n_boot=1000, delta="auto", seed=0, at=None,
            where=None, include_mid=False, check_above=None, seed_col=None, drop_duplicates=False,
            predict_at=None, level=0.9) -> dict:
    """Fit ``law`` to a CSV or sweep folder with every estimator (see `scaling.fit.table.fit_table`);
    returns a JSON-ready dict. The options and the table are checked first (`check_options`,
    `check_fit_table`); ``drop_duplicates``: rows repeating another row entirely are dropped and
    counted ("rows_dropped"). ``check_above``: the held-out check (`scaling.fit.extrapolate.heldout_check`,
    "extrapolation"); ``predict_at``: targets ({role: value}) predicted with ``level`` prediction
    intervals (`scaling.fit.predict.predict`, "predictions"); both finished points only."""
    spec = check_options(law, n_boot, seed, at, check_above, delta, level)
    df, dropped = check_fit_table(read_table(source), spec, x, y, group, seed_col, where, str(source),
                                  drop_duplicates)
    resample.check_memory(n_boot, 128 * len(df))
    if predict_at:  # targets checked before any fit: their roles, values and reach
        check_reach(spec, check_targets(spec, list(predict_at)), df,
                    registry.columns(spec, df, x.split(",") if x else [], y))
    out = table.fit_table(df, law, x, y, group, n_boot, delta, seed, at, None, include_mid, check_above,
                          seed_col, estimators=ESTIMATORS)
    xs = dict(zip(spec.inputs, x.split(","))) if x else None
    ycol = registry.columns(spec, df, x.split(",") if x else [], y)[spec.output]
    kw = dict(y=ycol, x=xs, run_col=group, seed_col=seed_col, n_boot=n_boot, seed=seed, delta=delta)
    if check_above is not None:
        out["extrapolation"] = heldout_check(df, law, check_above, **kw)
    if predict_at:
        out["predictions"] = [p.to_dict() for p in predict(df, law, list(predict_at), level=level, **kw)]
    return {**out, "rows_dropped": dropped} if dropped else out


def check_options(law, n_boot, seed, at, check_above, delta="auto", level=0.9):
    """The law (registry row) once `fit`'s options are in their domains: --bootstrap, --seed >= 0,
    --at and --check-above finite and positive, and only for the laws that use them."""
    spec = registry.get(law)
    options.resamples(n_boot)
    options.seed(seed)
    table.huber_delta(delta)
    for flag, v in (("--at", at), ("--check-above", check_above)):
        if v is not None and not (np.isfinite(v) and v > 0):
            raise DataError(f"{flag} {v}: a compute must be finite and positive")
    if at is not None and "at" not in spec.options:
        raise DataError(f"--at: law {law} derives nothing at a compute (laws with --at: "
                        f"{', '.join(n for n, w in registry.LAWS.items() if 'at' in w.options)})")
    if check_above is not None and (spec.sample not in HELDOUT_TARGETS or spec.predict is None):
        raise DataError(f"--check-above: law {law} has no held-out check (laws with one: "
                        f"{', '.join(n for n, w in registry.LAWS.items() if w.sample in HELDOUT_TARGETS and w.predict)})")
    if not 0 < level < 1:
        raise DataError(f"--level {level}: must lie strictly between 0 and 1")
    return spec


def check_fit_table(df, spec, x, y, group, seed_col, where, source, drop_duplicates=False):
    """(rows --where keeps, rows dropped): named columns exist, then `scaling.fit.io.check_table`
    on the columns the law reads: ids, one study per run, the key (run, step or compute, point;
    without a run column, the inputs), values in their domains."""
    require_columns(df, {"--x": x.split(",") if x else None, "--y": y, "--group": group, "--seed-col": seed_col})
    df = table.filtered(df, where)
    cols = registry.columns(spec, df, x.split(",") if x else [], y)
    run = group if group is not None else next((c for c in ("run_id", "run") if c in df.columns), None)
    inputs = [c for r, c in cols.items() if r != spec.output and c in df.columns]  # a derived role: its sources
    domains = {c: "positive" for c in inputs}  # compute, params, tokens, k
    domains[cols[spec.output]] = "positive" if spec.output == "loss" else None  # a metric: by its name
    along = ("step",) if "step" in df.columns and run else tuple(inputs)  # a row's place along its run
    key = (run, *along, "point")
    hint = "" if run else ("; without a run column each row is its own point: name the run column with --group, "
                           "or keep one study with --where")
    check = Table(ids=tuple(c for c in (run, seed_col) if c), run=run,
                  per_run=("config_id", "recipe", seed_col), key=key, values=domains, hint=hint)
    return check_table(df, check, source, drop_duplicates)
