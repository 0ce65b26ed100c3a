"""Compare two recipes into a verdict: the compute multiplier at equal loss, with honest intervals.

m(L) = C_baseline(L) / C_candidate(L): how many times less compute the candidate needs to reach
loss L. Two estimators, both resampled by :mod:`scaling.fit.resample` (configurations, then seeds
within; paired when both recipes share a grid):

- non-parametric: the horizontal gap between the frontiers (lower envelopes of the
  seed-averaged finished losses of each configuration against compute, log-log interpolation);
- parametric: L(C) = E + A C^-alpha fitted to each recipe's frontier (Huber delta from the data).

A draw whose frontier never reaches L gives C = inf (m = inf or 0: censored, kept in the
percentiles). The headline target is fixed before resampling: the baseline's finished loss at its
largest compute, or the user's ``targets``/``at_compute``. The test is stated in
:mod:`scaling.claims.rules`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scaling.claims import rules
from scaling.claims.rules import parse_claim, verdict  # noqa: F401  (public API)
from scaling.errors import DataError, FitError
from scaling.fit import resample
from scaling.claims.seeds import jackknife_rows, seed_dof
from scaling.claims.seeds import units_of as _units
from scaling.fit.frontier import envelope_index, lr_edge_warnings

#: fewest configurations per recipe: n units give C(2n-1, n) distinct resamples; 5 give 126, the
#: fewest for which a 2.5th percentile is not one of a handful of possible values
MIN_UNITS = 5
PAIR_ON = ("model.width", "optim.lr", "train.tokens")


@dataclass(frozen=True)
class RecipeData:
    """Finished points of one recipe by configuration: per configuration a compute grid (n_j,)
    and a (seeds, n_j) loss matrix; ``keys`` label configurations (shared-grid keys when paired)."""

    name: str
    compute: list
    loss: list
    keys: list
    runs: int
    mid: tuple = (np.zeros(0), np.zeros(0))
    floor: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "_full", [L.mean(axis=0) for L in self.loss])

    def mean(self, j: int, w=None) -> np.ndarray:
        """Seed-averaged losses of configuration j (seed weights ``w``; None: all seeds once).

        A resampled mean of s seeds varies (s-1)/s times as much as the mean itself, so its
        departure from the full mean is scaled by sqrt(s/(s-1)) (in log loss) to make the
        bootstrap variance unbiased."""
        L = self.loss[j]
        full = self._full[j]
        if w is None:
            return full
        mean = w @ L / w.sum()
        s = L.shape[0]
        return full * np.exp(np.sqrt(s / (s - 1)) * (np.log(mean) - np.log(full))) if s > 1 else mean

    def curves(self, seed_w=None):
        """(compute, seed-averaged loss) of every configuration drawn (weights ``seed_w`` per config)."""
        if seed_w is None:
            return [(c, self.mean(j)) for j, c in enumerate(self.compute)]
        return [(c, self.mean(j, seed_w[j])) for j, c in enumerate(self.compute) if seed_w[j].sum() > 0]

    def points(self, seed_w=None):
        cs = self.curves(seed_w)
        return np.concatenate([c for c, _ in cs]), np.concatenate([l for _, l in cs])


def _check_rows(d: pd.DataFrame, cols) -> None:
    """The rule of `fit` too: any NaN, infinite, zero or negative value is an error naming the row."""
    from scaling.fit.io import check_values

    for col in cols:
        try:
            check_values(col, pd.to_numeric(d[col], errors="coerce"), positive=True, labels=d.index)
        except FitError as err:
            raise DataError(str(err)) from None


def recipe_data(df: pd.DataFrame, recipe: str, x: str, y: str, run_col: str = "run_id",
                recipe_col: str = "recipe", trim: float = 0.0, include_mid: bool = False,
                pair_on=None, seed_col: str | None = None, for_interval: bool = True) -> RecipeData:
    """Points of ``recipe`` grouped by configuration (``config_id``; else each run) and seed.

    ``seed_col`` (``--seed-col``): the seeds are that column's values, within configurations
    given by ``config_id`` (else the run column); it must hold at least two values in the recipe.

    Rows with ``point == "mid"`` are left out unless ``include_mid``; ``trim`` drops each run's
    points below trim x its largest compute. NaN, infinite, zero or negative compute or loss is an
    error naming the column and row (never dropped silently).
    """
    if len(df) == 0:
        raise DataError("the table has no rows")
    for col in (x, y, recipe_col):
        if col not in df.columns:
            raise DataError(f"column {col!r} not found (columns: {', '.join(map(str, df.columns))})")
    if not (0 <= trim < 1):
        raise DataError(f"--trim {trim}: must be a fraction in [0, 1)")
    present = sorted(map(str, df[recipe_col].dropna().unique()))
    if recipe not in present:
        raise DataError(f"recipe {recipe!r} not found (present: {', '.join(present)})")
    sub = df[df[recipe_col].astype(str) == recipe]
    _check_rows(sub, (x, y))
    if run_col not in sub.columns:  # each row its own run (e.g. a CSV of final points)
        sub = sub.assign(**{run_col: np.arange(len(sub))})
    mid = np.zeros(len(sub), bool)
    if "point" in sub.columns:
        mid = (sub["point"].astype(str) == "mid").to_numpy()
    mids = (sub.loc[mid, x].to_numpy(float), sub.loc[mid, y].to_numpy(float))
    if not include_mid:
        sub = sub[~mid]
    cfg_col = "config_id" if "config_id" in sub.columns else run_col
    if seed_col is not None:
        from scaling.fit.io import seed_labels

        seed_labels(sub, seed_col, f"the finished rows of recipe {recipe!r}")
    pair_cols = [c for c in (PAIR_ON if pair_on is None else pair_on) if c in sub.columns]
    by_cfg: dict = {}
    for (cfg, run), g in sub.groupby([cfg_col, seed_col or run_col], sort=True):
        c, l = g[x].to_numpy(float), g[y].to_numpy(float)
        keep = c >= trim * c.max()
        key = "|".join(str(g[p].iloc[0]) for p in pair_cols) if pair_cols else str(cfg)
        by_cfg.setdefault(str(cfg), (key, []))[1].append((c[keep], l[keep]))
    compute, loss, keys = [], [], []
    for cfg, (key, seeds) in by_cfg.items():
        grids = [np.sort(c) for c, _ in seeds]
        if all(g.shape == grids[0].shape and np.allclose(g, grids[0], rtol=1e-9) for g in grids):
            compute.append(grids[0])
            loss.append(np.stack([l[np.argsort(c)] for c, l in seeds]))
            keys.append(key)
        else:  # seeds evaluated at different compute: each seed its own configuration
            for i, (c, l) in enumerate(seeds):
                compute.append(c[np.argsort(c)])
                loss.append(l[np.argsort(c)][None, :])
                keys.append(f"{key}#{i}")
    n_runs = sum(L.shape[0] for L in loss)
    seeds = [L.shape[0] for L in loss]
    # Distinct resamples of the scheme that will be used: seeds within a fixed grid when every
    # configuration has >= 2 of them, else whole configurations. An interval needs as many as
    # MIN_UNITS configurations give (126).
    stratified = bool(seeds) and min(seeds) >= 2
    distinct = (int(np.prod([resample.n_distinct(k) for k in seeds], dtype=float)) if stratified
                else resample.n_distinct(max(len(compute), 1)))
    if for_interval and distinct < resample.n_distinct(MIN_UNITS):  # a pilot for planning needs none
        raise DataError(
            f"recipe {recipe!r} has {len(compute)} independent configurations ({n_runs} runs) with finished "
            f"{y}: {distinct} distinct resamples; an interval needs at least {resample.n_distinct(MIN_UNITS)} "
            f"({MIN_UNITS} configurations of one run, or 3 seeds in each of 3)")
    floor = None
    fcol = y.replace("eval/loss/", "data/entropy_floor/")
    if fcol != y and fcol in sub.columns:
        floor = float(pd.to_numeric(sub[fcol], errors="coerce").median())
    return RecipeData(recipe, compute, loss, keys, n_runs, mids, floor)


def seed_weights(rd: RecipeData, counts_runs: np.ndarray) -> list:
    """Split a (n_runs,) count vector (runs ordered configuration by configuration) per config."""
    out, i = [], 0
    for L in rd.loss:
        out.append(counts_runs[i: i + L.shape[0]])
        i += L.shape[0]
    return out


def resample_counts(base: RecipeData, cand: RecipeData, n_boot: int, rng) -> tuple:
    """(counts_base, counts_cand, paired): run counts per resample, hierarchical, paired on a
    shared grid (the same configuration draws for both recipes) when the keys coincide."""
    ub, uc = _units(base), _units(cand)
    if resample.stratified(ub) and resample.stratified(uc):
        return resample.draw(ub, n_boot, rng), resample.draw(uc, n_boot, rng), ub.keys == uc.keys
    paired = ub.keys == uc.keys and len(set(base.keys)) == len(base.keys)
    if paired:
        D = resample.draw_configs(ub.n_configs, n_boot, rng)
        return resample.draw(ub, n_boot, rng, D), resample.draw(uc, n_boot, rng, D), True
    return resample.draw(ub, n_boot, rng), resample.draw(uc, n_boot, rng), False


def compute_at_loss(front_c, front_l, target) -> np.ndarray:
    """Compute at which a frontier reaches ``target`` (log-log interpolation); +inf when it never
    gets that low (censored), NaN when the target lies above the frontier's first point."""
    target = np.asarray(target, float)
    if len(front_c) == 0:
        return np.full(target.shape, np.inf)
    if len(front_c) == 1:
        return np.where(target >= front_l[0], np.where(target == front_l[0], front_c[0], np.nan), np.inf)
    x, y = -np.log(front_l), np.log(front_c)
    out = np.exp(np.interp(-np.log(target), x, y, left=np.nan, right=np.inf))
    return np.where(target < front_l.min(), np.inf, out)


def ratio(cb, cc) -> np.ndarray:
    """m = cb / cc with censoring: inf/finite = inf, finite/inf = 0, inf/inf undefined (NaN)."""
    with np.errstate(all="ignore"):
        m = cb / cc
    return np.where(np.isinf(cb) & np.isinf(cc), np.nan, m)


def envelope(rd: RecipeData, seed_w=None) -> tuple[np.ndarray, np.ndarray]:
    c, l = rd.points(seed_w)
    keep = envelope_index(c, l)
    return c[keep], l[keep]


def headline_loss(rd: RecipeData) -> float:
    """The baseline's finished loss at its largest compute (seeds averaged; best configuration)."""
    curves = rd.curves()
    top = max(c.max() for c, _ in curves)
    return float(min(l[np.argmax(c)] for c, l in curves if np.isclose(c.max(), top, rtol=1e-9)))


def reached_range(base: RecipeData, cand: RecipeData) -> tuple[float, float]:
    """Losses both frontiers span: (lowest loss both reached, highest loss both started from)."""
    fb, fc = envelope(base)[1], envelope(cand)[1]
    lo, hi = max(fb.min(), fc.min()), min(fb.max(), fc.max())
    if not lo < hi:
        raise DataError(f"no overlapping loss range: {base.name} spans {fb.min():.4g}..{fb.max():.4g}, "
                        f"{cand.name} spans {fc.min():.4g}..{fc.max():.4g}")
    return lo, hi


def default_targets(lo: float, hi: float, n: int = 8) -> np.ndarray:
    """``n`` target losses log-spaced inside the common range (5% in from each end in log loss)."""
    a, b = np.log(lo), np.log(hi)
    pad = 0.05 * (b - a)
    return np.exp(np.linspace(a + pad, b - pad, n))[::-1]


def nonparametric(base, cand, targets, cb_w, cc_w) -> tuple[np.ndarray, np.ndarray]:
    """(point (T,), draws (B, T)) of the frontier-gap multiplier."""
    def gap(wb, wc):
        return ratio(compute_at_loss(*envelope(base, wb), targets), compute_at_loss(*envelope(cand, wc), targets))

    draws = np.stack([gap(seed_weights(base, b), seed_weights(cand, c)) for b, c in zip(cb_w, cc_w)])
    return gap(None, None), draws


def loss_at_compute(rd: RecipeData, C) -> np.ndarray:
    """The loss the recipe's frontier reaches at compute C (log-log interpolation; NaN outside)."""
    fc, fl = envelope(rd)
    return np.exp(np.interp(np.log(np.asarray(C, float)), np.log(fc), np.log(fl), left=np.nan, right=np.nan))


def compare(df: pd.DataFrame, baseline: str, candidate: str, *, x: str = "compute/flops",
            y: str = "eval/loss/caption", targets=None, at_compute=None, claim: float | None = None,
            margin: float | None = None, n_boot: int = 1000, extrapolate: bool = False, trim: float = 0.1,
            seed: int = 0, run_col: str = "run_id", recipe_col: str = "recipe", include_mid: bool = False,
            delta="auto", pair_on=None, seed_col: str | None = None) -> dict:
    """Compute multiplier of ``candidate`` over ``baseline`` at target losses, with intervals.

    targets / at_compute: the pre-specified headline (losses, or baseline computes in FLOPs whose
    frontier losses are the targets); default: the baseline's finished loss at its largest
    compute. A table over 8 losses across the common range and m(C) across the baseline's
    compute range are reported beside it. See :mod:`scaling.claims.rules` for the test.
    """
    from scaling.claims import powerfits

    if baseline == candidate:
        raise DataError(f"--baseline and --candidate are the same recipe ({baseline!r})")
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 10:
        raise DataError(f"--bootstrap {n_boot}: at least 10 resamples are needed")
    base = recipe_data(df, baseline, x, y, run_col, recipe_col, trim, include_mid, pair_on, seed_col)
    cand = recipe_data(df, candidate, x, y, run_col, recipe_col, trim, include_mid, pair_on, seed_col)
    lo, hi = reached_range(base, cand)
    targets = [] if targets is None else list(targets)
    at_compute = [] if at_compute is None else list(at_compute)
    if targets and at_compute:
        raise DataError("--at-loss and --at-compute: name the headline one way")
    fcb = envelope(base)[0]
    if at_compute:
        c = np.asarray(at_compute, float)
        bad = ~np.isfinite(c) | (c < fcb.min()) | (c > fcb.max())
        if bad.any():
            raise DataError(f"--at-compute {c[bad][0]:g}: outside the baseline's compute range "
                            f"({fcb.min():.3g}..{fcb.max():.3g} FLOPs)")
        head = loss_at_compute(base, c)
        option = "--at-compute"
    elif targets:
        head, option = np.asarray(targets, float), "--at-loss"
        if (~np.isfinite(head) | (head <= 0)).any():
            raise DataError(f"--at-loss {head[~np.isfinite(head) | (head <= 0)][0]}: must be a positive loss")
    else:
        head, option = np.array([headline_loss(base)]), None
    outside_head = (head < lo) | (head > hi)
    if option and outside_head.any() and not extrapolate:
        raise FitError(f"{option}: target loss {head[outside_head][0]:.4g} is outside the loss range both "
                       f"recipes reached ({lo:.4g}..{hi:.4g}); pass --extrapolate to use the fitted laws there")
    table = default_targets(lo, hi)
    grid_c = np.geomspace(fcb.min(), fcb.max(), 9)
    mc_loss = loss_at_compute(base, grid_c)
    T = np.concatenate([head, table, mc_loss])
    nh, nt = head.size, table.size
    rng = np.random.default_rng(seed)
    cb_w, cc_w, paired = resample_counts(base, cand, n_boot, rng)
    np_point, np_draws = nonparametric(base, cand, T, cb_w, cc_w)
    jk = jackknife_rows(base, cand)
    fits = {rd.name: powerfits.recipe_fit(rd, w, delta, None if jk is None else jk[rd.name][1])
            for rd, w in ((base, cb_w), (cand, cc_w))}
    fb, fc = fits[baseline], fits[candidate]

    def par(f, key):
        return f["fit"].params[key]

    p_point = ratio(powerfits.compute_for_loss(par(fb, "E"), par(fb, "A"), par(fb, "alpha"), T),
                    powerfits.compute_for_loss(par(fc, "E"), par(fc, "A"), par(fc, "alpha"), T))
    ok = fb["ok"] & fc["ok"]
    p_draws = ratio(powerfits.compute_for_loss(fb["E"], fb["A"], fb["alpha"], T),
                    powerfits.compute_for_loss(fc["E"], fc["A"], fc["alpha"], T))[ok]
    extrap = (T < lo) | (T > hi)
    # outside the common range the frontier gap is censored (0 or inf) or undefined, never a guess
    level_h = rules.level_per_target(nh)
    recipes = {base.name: base, cand.name: cand}
    with np.errstate(divide="ignore", invalid="ignore"):
        dofs = {"nonparametric": seed_dof(jk, lambda n, rows: np.log(np.stack(
                    [compute_at_loss(*envelope(recipes[n], seed_weights(recipes[n], r)), T) for r in rows]))),
                "parametric": seed_dof(jk, lambda n, rows: np.log(powerfits.compute_for_loss(
                    *(fits[n]["jackknife"][k] for k in ("E", "A", "alpha")), T)))}
    ests = {}
    for name, pt, dr in (("nonparametric", np_point, np_draws), ("parametric", p_point, p_draws)):
        dof = dofs[name]
        ests[name] = (resample.summarize(pt[:nh], dr[:, :nh], level_h, dof=None if dof is None else dof[:nh]),
                      resample.summarize(pt[nh:], dr[:, nh:], dof=None if dof is None else dof[nh:]))

    def rows_of(which, sel, losses, kind):
        rows = []
        for i, t in enumerate(losses):
            row = {"loss": float(t), "extrapolated": bool(extrap[sel][i]), "kind": kind}
            for name in ests:
                s = ests[name][which]
                j = i if which == 0 else i + (0 if kind == "table" else nt)
                row[name] = {k: float(s[k][j]) for k in ("value", "lo", "hi", "bias", "frac_inf", "frac_zero", "dof")}
                row[name]["defined_frac"] = float(1 - s["frac_undefined"][j])
                row[name]["outside90"] = bool(s["outside90"][j])
                if claim is not None:
                    v = rules.verdict(s["lo"][j], s["hi"][j], claim, margin)
                    row[name]["verdict"] = v if s["frac_undefined"][j] <= 0.05 else "inconclusive"
            rows.append(row)
        return rows

    headline = rows_of(0, slice(0, nh), head, "headline")
    table_rows = rows_of(1, slice(nh, nh + nt), table, "table")
    mc_rows = rows_of(1, slice(nh + nt, None), mc_loss, "compute")
    for r, c in zip(mc_rows, grid_c):
        r["compute"] = float(c)
    warnings = []
    for r in headline:
        for name, e in ((n, r[n]) for n in ("nonparametric", "parametric")):
            if e["lo"] > 0 and e["hi"] / e["lo"] > 10:
                warnings.append(f"{name} interval at loss {r['loss']:.4g} spans more than a factor of 10 "
                                f"({e['lo']:.3g}-{e['hi']:.3g})")
            if e["outside90"]:
                warnings.append(f"{name} estimate at loss {r['loss']:.4g} lies outside the central 90% of its "
                                f"bootstrap draws (bias {e['bias']:+.2f} in log): the resamples are not centred on it")
            if e["defined_frac"] < 0.95:
                warnings.append(f"{name}: {1 - e['defined_frac']:.0%} of draws undefined at loss {r['loss']:.4g}")
    for rec in (baseline, candidate):
        warnings += lr_edge_warnings(df, rec, y, recipe_col, run_col)
    try:
        shared = powerfits.shared_exponent_test(base, cand, fb["fit"], fc["fit"])
    except FitError as err:
        shared = {"error": str(err)}
    result = {
        "baseline": baseline, "candidate": candidate, "x": x, "y": y, "n_boot": int(n_boot), "trim": trim,
        "runs": {baseline: base.runs, candidate: cand.runs},
        "configurations": {baseline: len(base.loss), candidate: len(cand.loss)}, "paired": paired,
        "resampled": f"{'paired on a shared grid; ' if paired else ''}{baseline}: {_units(base).describe()}; "
                     f"{candidate}: {_units(cand).describe()}",
        "loss_range": [lo, hi], "exponent": "separate", "claim": claim, "margin": margin,
        "headline": headline, "headline_option": option or "baseline's finished loss at its largest compute",
        "targets": table_rows, "by_compute": mc_rows, "shared_exponent": shared, "warnings": warnings,
        "test": rules.statement(nh, margin), "level_per_bound": 1 - (1 - level_h) / 2,
        "n_failed": {baseline: fb["n_failed"], candidate: fc["n_failed"]},
        "fits": {k: {**v["fit"].to_dict(), "delta": v["delta"], "n_failed": v["n_failed"],
                     "draws": {p: v[p][v["ok"]] for p in ("E", "A", "alpha")}} for k, v in fits.items()},
        "floors": {baseline: base.floor, candidate: cand.floor},
        "frontiers": {r.name: dict(zip(("compute", "loss"), envelope(r))) for r in (base, cand)},
        "points": {r.name: dict(zip(("compute", "loss"), r.points())) for r in (base, cand)},
        "mid_points": {r.name: dict(zip(("compute", "loss"), r.mid)) for r in (base, cand)},
    }
    if claim is not None:
        result["verdict"] = headline_verdict(headline)
    return result


def headline_verdict(headline: list[dict]) -> dict:
    """The verdict at the pre-specified target(s): both estimators must agree, at every target."""
    per = [(r["nonparametric"]["verdict"], r["parametric"]["verdict"]) for r in headline]
    both = [rules.combine(a, b) for a, b in per]
    overall = both[0] if len(set(both)) == 1 else "inconclusive"
    return {"loss": headline[0]["loss"] if len(headline) == 1 else [r["loss"] for r in headline],
            "verdict": overall, "nonparametric": per[0][0] if len(per) == 1 else [a for a, _ in per],
            "parametric": per[0][1] if len(per) == 1 else [b for _, b in per]}
