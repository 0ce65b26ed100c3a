"""Seeds as replicates: the units of a recipe's runs and the degrees of freedom of their spread.

A percentile interval from a bootstrap of s seeds per configuration rests on a variance that is
itself estimated from few seeds; :func:`seed_dof` counts how many degrees of freedom that
estimate has at each target (Welch-Satterthwaite over the configurations that move the
statistic, each with s - 1), and :func:`scaling.fit.resample.summarize` widens the interval by
t/z for them.
"""

from __future__ import annotations

import numpy as np

from scaling.fit import resample


def units_of(rd):
    """:class:`scaling.fit.resample.Units` of a recipe's runs (configuration by configuration)."""
    return resample.units(np.repeat(rd.keys, [L.shape[0] for L in rd.loss]))


def jackknife_rows(base, cand):
    """Leave-one-seed-out rows (:func:`scaling.fit.resample.jackknife`) per recipe when seeds are
    resampled (every configuration of both has >= 2), else None: no seed spread to count."""
    ub, uc = units_of(base), units_of(cand)
    if not (resample.stratified(ub) and resample.stratified(uc)):
        return None
    return {base.name: (ub, *resample.jackknife(ub)), cand.name: (uc, *resample.jackknife(uc))}


def seed_dof(jk, log_compute) -> np.ndarray | None:
    """Degrees of freedom of the seed spread behind ln m at each target (Welch-Satterthwaite).

    ln m = ln C_b(L) - ln C_c(L) moves with the seeds of the few configurations near the target
    on each frontier (two bracketing it for the frontier gap, more for a power law): per
    configuration, its jackknife variance (one seed left out, the rest at the full data) has s - 1
    degrees of freedom, and the sum of these independent terms has the Satterthwaite degrees of
    freedom (sum v)^2 / sum(v^2 / (s - 1)); from 2(s - 1) when one configuration per recipe
    carries the target, to 4(s - 1) or more. ``log_compute(name, rows)`` -> (J, T) ln C at the
    targets for a recipe's jackknife rows. None without seeds (no widening)."""
    if jk is None:
        return None
    var, dof = [], []
    for name, (u, rows, cfg) in jk.items():
        v, d = resample.seed_variances(log_compute(name, rows), cfg, u.seeds)
        var.append(v)
        dof.append(d)
    return resample.satterthwaite(np.vstack(var), np.concatenate(dof))
