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

import numpy as np
import pandas as pd

from scaling.claims import options, powerfits, rules
from scaling.claims.base import ClaimResult, interval
from scaling.claims.recipes import (MIN_UNITS, PAIR_ON, RecipeData, envelope, recipe_data,  # noqa: F401
                                    seed_weights)  # (public API: the report and `scaling fit` import them here)
from scaling.claims.rules import parse_claim, verdict  # noqa: F401  (public API)
from scaling.claims.seeds import jackknife_rows, seed_dof
from scaling.claims.seeds import units_of as _units
from scaling.claims.text import multiplier_lines
from scaling.errors import DataError, FitError
from scaling.fit import resample

QUESTION = "How many times less compute does the candidate recipe need to reach the baseline's loss?"
COMBINED_RULE = ("intersection-union: a verdict only when the frontier-gap and power-law estimators give it, "
                 "at every headline target; otherwise inconclusive")
from scaling.fit.frontier import lr_edge_warnings


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
    if baseline == candidate:
        raise DataError(f"--baseline and --candidate are the same recipe ({baseline!r})")
    options.resamples(n_boot)
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
                    row[name]["verdict"] = v if s["frac_undefined"][j] <= 0.05 else rules.INCONCLUSIVE
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
    overall = rules.all_agree(both)
    return {"loss": headline[0]["loss"] if len(headline) == 1 else [r["loss"] for r in headline],
            "verdict": overall, "nonparametric": per[0][0] if len(per) == 1 else [a for a, _ in per],
            "parametric": per[0][1] if len(per) == 1 else [b for _, b in per]}


def judge(df: pd.DataFrame, *, baseline: str, candidate: str, claim: float | None = None,
          margin: float | None = None, at_loss=(), at_compute=(), x: str = "compute/flops",
          y: str = "eval/loss/caption", run_col: str = "run_id", recipe_col: str = "recipe",
          seed_col: str | None = None, n_boot: int = 1000, trim: float = 0.1, extrapolate: bool = False,
          include_mid: bool = False, seed: int = 0) -> ClaimResult:
    """:func:`compare` as a :class:`scaling.claims.base.ClaimResult`: the multiplier of each
    estimator at each headline target with its interval and verdict ("not judged" without a claim)."""
    if margin is not None and claim is None:
        raise DataError("--margin: needs a --claim to be within a margin of")
    r = compare(df, baseline, candidate, x=x, y=y, targets=list(at_loss), at_compute=list(at_compute), claim=claim,
                margin=margin, n_boot=n_boot, extrapolate=extrapolate, trim=trim, seed=seed, run_col=run_col,
                recipe_col=recipe_col, include_mid=include_mid, seed_col=seed_col)
    level = 2 * r["level_per_bound"] - 1
    one = len(r["headline"]) == 1
    estimates, verdicts = [], {}
    for row in r["headline"]:
        for name in ("nonparametric", "parametric"):
            e = row[name]
            estimates.append(interval(f"{name} multiplier at loss {row['loss']:.6g}", e["value"], (e["lo"], e["hi"]),
                                      level, e.get("verdict")))
            if claim is not None:
                verdicts[name if one else f"{name} at loss {row['loss']:.6g}"] = e["verdict"]
    shared = r["shared_exponent"]
    refusals = [f"shared-exponent test: {shared['error']}"] if "error" in shared else []
    verdict = r["verdict"]["verdict"] if claim is not None else rules.NOT_JUDGED
    return ClaimResult("multiplier", QUESTION, r["test"], r["resampled"], verdicts, verdict, COMBINED_RULE,
                       estimates, r["warnings"], refusals, r, multiplier_lines(r))


__all__ = ["MIN_UNITS", "PAIR_ON", "RecipeData", "compare", "envelope", "headline_loss", "judge", "loss_at_compute",
           "parse_claim", "recipe_data", "seed_weights", "verdict"]
