"""Power planning for a compute-multiplier claim, from pilot runs.

Model: near the target loss L*, a recipe's frontier is set by the configurations that reach L*;
their finished log loss scatters across seeds with standard deviation sigma (nats, in log loss),
and the frontier's local slope is s = |d ln L / d ln C| there. A vertical error d ln L is a
horizontal error d ln C = d ln L / s, so with n seeds per configuration

    se(ln m) = sigma / sqrt(n) * sqrt(1/s_b^2 + 1/s_c^2).

A claim k is supported when the lower one-sided 97.5% bound exceeds k; for a true multiplier m > k
that happens with probability Phi(ln(m/k)/se - z_0.975), so the seeds needed for power P are
n = sigma^2 (1/s_b^2 + 1/s_c^2) ((z_0.975 + z_P) / ln(m/k))^2 (normal theory). The expected 95%
interval spans a factor exp(2 t se): ``compare`` widens its intervals by t/z for the degrees of
freedom of the seed spread, and under this model the target rests on one configuration per recipe
with n - 1 each, so t has the Welch-Satterthwaite degrees of freedom of the two terms
(:func:`plan_dof`; between n - 1 and 2(n - 1)). Sizes: the largest runs must reach L* (their
compute is reported).

:func:`plan_from_pilot` applies it to pilot runs too few for an interval: ``compare`` refuses
recipes whose runs allow fewer than 126 distinct resamples, but a plan is what such a pilot is for:
the frontier power laws are fitted once (no bootstrap), the seed spread comes from the pilot's
seeds, and the target is the one ``compare`` would fix.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from scaling.claims.multiplier import envelope, headline_loss, reached_range, recipe_data
from scaling.errors import DataError
from scaling.fit import registry

Z = float(stats.norm.ppf(0.975))


def se_log_multiplier(sigma: float, slope_b: float, slope_c: float, n_seeds: float) -> float:
    """Standard error of ln m with ``n_seeds`` per configuration (sigma: SD of log loss)."""
    return sigma / math.sqrt(n_seeds) * math.sqrt(1 / slope_b**2 + 1 / slope_c**2)


def plan_dof(slope_b: float, slope_c: float, n_seeds: float) -> float:
    """Degrees of freedom of se(ln m)^2 under the plan's model: two terms proportional to
    1/s_b^2 and 1/s_c^2, each estimated from n - 1 degrees of freedom (Welch-Satterthwaite)."""
    vb, vc = 1 / slope_b**2, 1 / slope_c**2
    return (vb + vc) ** 2 / ((vb**2 + vc**2) / max(n_seeds - 1, 1e-9))


def interval_factor(sigma, slope_b, slope_c, n_seeds: float, t: bool = True) -> float:
    """Expected factor hi/lo of the 95% interval with ``n_seeds`` per configuration (t: with the
    small-sample widening ``compare`` applies; else normal theory)."""
    q = float(stats.t.ppf(0.975, plan_dof(slope_b, slope_c, n_seeds))) if t else Z
    return _exp(2 * q * se_log_multiplier(sigma, slope_b, slope_c, n_seeds))


def _exp(v: float) -> float:
    """exp, inf beyond a float's range (a factor too wide to matter, not an OverflowError)."""
    return math.exp(v) if v < 709 else math.inf


def seeds_needed(sigma, slope_b, slope_c, m: float, claim: float, power: float = 0.8) -> float:
    """Seeds per configuration to support (m > claim) or refute (m < claim) with probability
    ``power``; inf when m == claim (a claim at the truth is never resolved: use a margin)."""
    gap = abs(math.log(m / claim))
    if gap == 0:
        return math.inf
    zp = float(stats.norm.ppf(power))
    return sigma**2 * (1 / slope_b**2 + 1 / slope_c**2) * ((Z + zp) / gap) ** 2


def probability(sigma, slope_b, slope_c, m, claim, n_seeds) -> float:
    """Probability that n seeds resolve the claim (support if m > claim, refute if below)."""
    se = se_log_multiplier(sigma, slope_b, slope_c, n_seeds)
    return float(stats.norm.cdf(abs(math.log(m / claim)) / se - Z))


def seed_spread(df, recipe, y, recipe_col="recipe", run_col="run_id") -> tuple[float, str]:
    """Pooled within-configuration SD of finished log loss at each run's end, and its source."""
    d = df[df[recipe_col].astype(str) == recipe]
    if "point" in d.columns:
        d = d[d["point"].astype(str) != "mid"]
    if "config_id" in d.columns and "seed" in d.columns and run_col in d.columns:
        last = d.loc[d.groupby(run_col)[y].idxmin()] if "step" not in d.columns else \
            d.sort_values("step").groupby(run_col).tail(1)
        g = last.groupby("config_id")[y]
        ss = sum(((np.log(v) - np.log(v).mean()) ** 2).sum() for _, v in g if len(v) > 1)
        dof = sum(len(v) - 1 for _, v in g if len(v) > 1)
        if dof > 0:
            return float(math.sqrt(ss / dof)), f"seed spread ({dof} degrees of freedom)"
    return math.nan, "no seeds"


def _log_slope(law, params, C: float, h: float = 1e-4) -> float:
    """|d ln L / d ln C| of a fitted law at compute C (central difference in log compute)."""
    lo, hi = (float(law.predict(params, np.array([C * math.exp(s)]))[0]) for s in (-h, h))
    return abs(math.log(hi) - math.log(lo)) / (2 * h)


def plan_from_compare(r: dict, df, claim: float | None, power: float = 0.8, run_col="run_id",
                      recipe_col="recipe") -> dict:
    """Planner figures from a :func:`scaling.claims.compare` result and its pilot table."""
    b, c = r["baseline"], r["candidate"]
    target = r["headline"][0]["loss"]

    slopes, comp = [], []
    for name in (b, c):
        law = registry.get(r["fits"][name]["law"])
        p = r["fits"][name]["params"]
        C = float(law.inverse(p, target))
        comp.append(C)
        slopes.append(_log_slope(law, p, C) if math.isfinite(C) else math.nan)
    sig, src = [], []
    for name in (b, c):
        s, how = seed_spread(df, name, r["y"], recipe_col, run_col)
        sig.append(s)
        src.append(how)
    sigma = float(np.sqrt(np.nanmean(np.square(sig)))) if np.isfinite(sig).any() else math.nan
    if not math.isfinite(sigma):  # no seeds: the frontier fit's robust scale stands in
        sigma = float(np.mean([r["fits"][n]["delta"] for n in (b, c)])) / 1.345
        src = ["robust residual scale of the frontier fit (no seeds)"]
    m = r["headline"][0]["parametric"]["value"]
    n_now = max(1.0, r["runs"][b] / max(r["configurations"][b], 1))
    out = {"target_loss": target, "sigma_log_loss": sigma, "sigma_source": "; ".join(dict.fromkeys(src)),
           "slopes": slopes, "compute_to_reach": comp, "multiplier_assumed": m, "seeds_now": n_now,
           "power": power}
    if all(math.isfinite(s) and s > 0 for s in slopes) and math.isfinite(sigma):
        out["predicted_ci_factor"] = interval_factor(sigma, *slopes, n_now)
        out["predicted_ci_factor_normal"] = interval_factor(sigma, *slopes, n_now, t=False)
        out["predicted_ci_factor_by_seeds"] = {n: interval_factor(sigma, *slopes, n) for n in (2, 3, 5, 10, 20)}
        e = r["headline"][0]["parametric"]
        out["actual_ci_factor"] = e["hi"] / e["lo"] if e["lo"] > 0 else math.inf
        if claim is not None and math.isfinite(m) and m > 0:
            n = seeds_needed(sigma, *slopes, m, claim, power)  # the interval then: at >= 2 seeds (t needs a spread)
            out.update(claim=claim, seeds_needed=n, probability_now=probability(sigma, *slopes, m, claim, n_now),
                       ci_factor_at_needed=interval_factor(sigma, *slopes, max(n, 2)) if math.isfinite(n) else 1.0)
    return out


def plan_lines(p: dict) -> list[str]:
    """Human lines for :func:`plan_from_compare`."""
    lines = [f"power plan at loss {p['target_loss']:.4g}: log-loss spread sigma = {p['sigma_log_loss']:.3g} "
             f"({p['sigma_source']}); frontier slopes |dlnL/dlnC| = {p['slopes'][0]:.3g} (baseline), "
             f"{p['slopes'][1]:.3g} (candidate); the largest runs must reach compute "
             f"{p['compute_to_reach'][0]:.3g} (baseline) and {p['compute_to_reach'][1]:.3g} (candidate)"]
    if "predicted_ci_factor" in p:
        actual = (f" (this comparison's power-law interval spans {p['actual_ci_factor']:.3g})"
                  if "actual_ci_factor" in p else "")
        lines.append(f"  with {p['seeds_now']:g} seed(s) per configuration: predicted 95% interval spans a factor "
                     f"{p['predicted_ci_factor']:.3g} (normal theory {p['predicted_ci_factor_normal']:.3g}; t for the "
                     f"seeds' degrees of freedom){actual}")
        lines.append("  predicted 95% interval factor by seeds per configuration: " + ", ".join(
            f"{n}: {f:.3g}" for n, f in p["predicted_ci_factor_by_seeds"].items()))
    if "seeds_needed" in p:
        n = p["seeds_needed"]
        lines.append(f"  to resolve the {p['claim']:g}x claim (assuming m = {p['multiplier_assumed']:.3g}) with "
                     f"probability {p['power']:.0%}: {'no finite number (m equals the claim; use --margin)' if not math.isfinite(n) else f'{math.ceil(n)} seeds per configuration'}"
                     f" (probability now {p['probability_now']:.0%}; interval then spans {p['ci_factor_at_needed']:.3g}x)")
    return lines




def plan_from_pilot(df, baseline: str, candidate: str, claim: float | None = None, *, x="compute/flops",
                    y="eval/loss/caption", run_col="run_id", recipe_col="recipe", trim=0.1,
                    power: float = 0.8) -> dict:
    """Planner figures from pilot runs too few for an interval (e.g. 2 seeds of a small grid): the
    point fits of the power law to each recipe's frontier (as in ``compare``), the seed spread,
    and the target fixed as in ``compare`` (the baseline's finished loss at its largest compute)."""
    if baseline == candidate:
        raise DataError(f"--baseline and --candidate are the same recipe ({baseline!r})")
    law = registry.get("power")
    rds = {n: recipe_data(df, n, x, y, run_col, recipe_col, trim, for_interval=False) for n in (baseline, candidate)}
    reached_range(rds[baseline], rds[candidate])  # no loss both reached: nothing to plan a comparison at
    if not any(math.isfinite(seed_spread(df, n, y, recipe_col, run_col)[0]) for n in (baseline, candidate)):
        raise DataError("plan power: one run per configuration: the seed spread the plan rests on needs 'config_id' "
                        "and 'seed' columns with >= 2 seeds of some configuration")
    fits = {}
    for n, rd in rds.items():
        fc, fl = envelope(rd)
        f = registry.fit(law.name, fc, y=fl, delta="auto")
        fits[n] = {"law": law.name, "params": f.params, "delta": f.meta["delta"]}
    target = headline_loss(rds[baseline])
    cb, cc = (float(law.inverse(fits[n]["params"], target)) for n in (baseline, candidate))
    for n, c in ((baseline, cb), (candidate, cc)):
        if not (math.isfinite(c) and c > 0):
            raise DataError(f"plan power: recipe {n!r}'s fitted frontier never reaches the target loss {target:.4g} "
                            f"(its fitted floor E = {fits[n]['params']['E']:.4g}): no multiplier to plan for")
    r = {"baseline": baseline, "candidate": candidate, "y": y, "fits": fits,
         "runs": {n: rd.runs for n, rd in rds.items()}, "configurations": {n: len(rd.loss) for n, rd in rds.items()},
         "headline": [{"loss": target, "parametric": {"value": cb / cc, "lo": math.nan, "hi": math.nan}}]}
    out = plan_from_compare(r, df, claim, power, run_col, recipe_col)
    out.pop("actual_ci_factor", None)
    return out
