"""The power planner (:mod:`scaling.fit.power`) from pilot runs too few for an interval.

``compare`` refuses recipes whose runs allow fewer than 126 distinct resamples, but a plan is what
such a pilot is for: the frontier power laws are fitted once (no bootstrap), the seed spread comes
from the pilot's seeds, and the target is the one ``compare`` would fix.
"""

from __future__ import annotations

import math

from scaling.claims.multiplier import frontier, headline_loss, recipe_data
from scaling.fit import registry
from scaling.fit.power import plan_from_compare


def plan_from_pilot(df, baseline: str, candidate: str, claim: float | None = None, *, x="compute/flops",
                    y="eval/loss/caption", run_col="run_id", recipe_col="recipe", trim=0.1,
                    power: float = 0.8) -> dict:
    """Planner figures from pilot runs too few for an interval (e.g. 2 seeds of a small grid): the
    point fits of the power law to each recipe's frontier (as in ``compare``), the seed spread,
    and the target fixed as in ``compare`` (the baseline's finished loss at its largest compute)."""
    law = registry.get("power")
    rds = {n: recipe_data(df, n, x, y, run_col, recipe_col, trim, for_interval=False) for n in (baseline, candidate)}
    fits = {}
    for n, rd in rds.items():
        fc, fl = frontier(rd)
        f = registry.fit(law.name, fc, y=fl, delta="auto")
        fits[n] = {"law": law.name, "params": f.params, "delta": f.meta["delta"]}
    target = headline_loss(rds[baseline])
    cb, cc = (float(law.inverse(fits[n]["params"], target)) for n in (baseline, candidate))
    r = {"baseline": baseline, "candidate": candidate, "y": y, "fits": fits,
         "runs": {n: rd.runs for n, rd in rds.items()}, "configurations": {n: len(rd.loss) for n, rd in rds.items()},
         "headline": [{"loss": target, "parametric": {"value": cb / cc, "lo": math.nan, "hi": math.nan}}]}
    out = plan_from_compare(r, df, claim, power, run_col, recipe_col)
    out.pop("actual_ci_factor", None)
    return out
