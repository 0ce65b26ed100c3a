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

from scaling.claims.multiplier import MIN_UNITS, envelope, recipe_data
from scaling.claims.powerfits import recipe_fit
from scaling.claims.seeds import units_of
from scaling.fit import resample, table
from scaling.fit.bootstrap import percentile_intervals
from scaling.fit.extrapolate import extrapolation_check


def fit_frontier(spec, df, cols, *, n_boot, delta, seed, run_col, seed_col, include_mid, n_mid, check_above, **_):
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
    if check_above is not None:
        runs = d[rc].to_numpy()
        chk = extrapolation_check(spec.name, d[ccol].to_numpy(float), d[ycol].to_numpy(float), check_above,
                                  runs=runs, delta=delta)
        out["extrapolation"] = {k: chk[k] for k in ("n_train", "n_test", "mean_abs_rel_error", "max_abs_rel_error")}
        out["extrapolation"]["split"] = f"runs with final compute <= {check_above:g} vs the rest (split by run)"
    return out


#: how `scaling fit` estimates a law, by what the registry says it is fitted to
ESTIMATORS = {**table.ESTIMATORS, "frontier": fit_frontier}


def run_fit(source, law, x=None, y=None, group=None, n_boot=1000, delta="auto", seed=0, at=None,
            where=None, include_mid=False, check_above=None, seed_col=None) -> dict:
    """Fit ``law`` to a CSV or sweep folder with every estimator (see `scaling.fit.table.fit_table`);
    returns a JSON-ready dict."""
    return table.fit_table(source, law, x, y, group, n_boot, delta, seed, at, where, include_mid, check_above,
                           seed_col, estimators=ESTIMATORS)
