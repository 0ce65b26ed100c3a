"""Does RL raise a pass rate beyond its controls?

A rise from the first evaluation to the last is not yet learning: decoding the starting model
greedily already sharpens it, a random reward alone moves some models a long way (Shao et al.
2025, spurious rewards), and with few possible answers guessing scores well at large k. So the
end-of-run metric of every run of the candidate recipe is compared with each control present:

- start greedy:   the starting model decoded greedily (`eval/greedy/pass@1/<set>` at step 0; a
                  greedy decoder answers the same k times, so its pass@k is its pass@1);
- start sampled:  the starting model at the sampling temperature (the metric at step 0);
- random reward:  the end metric of the random-reward arm (`grpo.reward: random`, the recipe whose
                  records say so, or --control), matched on the group and starting model;
- guess:          the question-blind guess baseline (`eval/guess/pass@<k>/<set>`, `scaling.rl.guess`).

The gain over a per-run control is the mean over runs of (end - control); over the random arm it
is the difference of the two arms' mean end metrics. Intervals: percentile bootstrap over whole
runs (training seeds) through `scaling.fit.resample` (seeds within each starting model; the
control arm resampled independently), each resampled mean rescaled by sqrt(n/(n-1)) as `compare`
does, then widened by t/z about the median draw for the runs' degrees of freedom (Welch-
Satterthwaite for the two-arm difference). Below the minimum `compare` uses (126 distinct
resamples: 5 runs of one starting model, or 3 in each of 3) a part is refused with the reason.

Verdict per metric: supported when the lower one-sided 97.5% bound of the gain over every control
present exceeds --min-gain (an intersection-union test: 2.5% false support in all); refuted when
the upper bound over some control (one-sided 1 - 0.025/m, Bonferroni over the m controls) lies
below it; else inconclusive (also whenever a present control could not be judged).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from scaling.claims import rules
from scaling.claims.base import ClaimResult, interval
from scaling.claims.recipes import MIN_UNITS
from scaling.errors import DataError
from scaling.fit import resample

QUESTION = "Does RL raise the metric beyond its controls (starting model greedy and sampled, random reward, guessing)?"
COMBINE = "refuted_by_any"
METRIC = re.compile(r"^eval/pass@(\d+)/([^/]+)$")
CONTROLS = ("start greedy", "start sampled", "random reward", "guess")
START = "pretrained/run_id"  # runs with one value here share a starting model
UNIT = ("whole runs (training seeds) of the candidate, within each starting model; the random-reward "
        "arm's runs resampled independently")
TEST = ("test: gain = end-of-run metric minus each control; 'supported' when the lower one-sided 97.5% "
        "bootstrap bound of the gain over every control present is above {g:g} (intersection-union), "
        "'refuted' when the upper bound over some control (one-sided, Bonferroni over the controls) is below "
        "it, else inconclusive; percentile intervals over whole runs, widened by t/z for the runs' degrees "
        "of freedom; fewer than {n} distinct resamples ({u} runs) is refused")


def columns_of(metric: str) -> dict[str, str]:
    """The control columns of a pass@k metric: greedy pass@1 and the guess pass@k of its set."""
    m = METRIC.match(metric)
    if not m:
        raise DataError(f"--y {metric}: the gain claim judges pass rates named eval/pass@<k>/<set>")
    k, which = m.groups()
    return {"start greedy": f"eval/greedy/pass@1/{which}", "guess": f"eval/guess/pass@{k}/{which}"}


def check_metrics(ys: list[str]) -> list[str]:
    """--y: pass rates named eval/pass@<k>/<set> (checked before the table is)."""
    for y in ys:
        columns_of(y)
    return ys


def check_min_gain(g: float) -> float:
    """--min-gain: the smallest gain that counts, in [0, 1)."""
    if not 0 <= g < 1:
        raise DataError(f"--min-gain {g}: must lie in [0, 1) (a difference of pass rates)")
    return g


def _arms(df, candidate, control, recipe_col):
    """(candidate recipe, control recipe or None): the table's recipes resolved."""
    recipes = sorted(map(str, df[recipe_col].dropna().unique()))
    if control is None and "grpo.reward" in df.columns:
        random = sorted(map(str, df.loc[df["grpo.reward"].astype(str) == "random", recipe_col].unique()))
        if len(random) > 1:
            raise DataError(f"several recipes use grpo.reward=random ({', '.join(random)}): name one with --control")
        control = random[0] if random else None
    if control is not None and control not in recipes:
        raise DataError(f"--control {control}: no such recipe (present: {', '.join(recipes)})")
    if candidate is None:
        rest = [r for r in recipes if r != control]
        if len(rest) != 1:
            raise DataError(f"--candidate: the table has recipes {', '.join(rest) or 'none'} besides the control; "
                            f"name the one to judge")
        candidate = rest[0]
    if candidate not in recipes:
        raise DataError(f"--candidate {candidate}: no such recipe (present: {', '.join(recipes)})")
    if candidate == control:
        raise DataError(f"--candidate {candidate} is the random-reward control arm")
    return candidate, control


def _runs(sub: pd.DataFrame, y: str, run_col: str, step_col: str, per_run: dict) -> pd.DataFrame:
    """One row per run: its starting model, end metric (last step) and per-run controls (step 0)."""
    out = []
    for rid, g in sub.groupby(run_col, sort=True):
        g = g.sort_values(step_col)
        steps = pd.to_numeric(g[step_col], errors="coerce").to_numpy(float)
        if steps[0] != 0 or len(g) < 2:
            raise DataError(f"run {rid}: needs its step-0 evaluation (the starting model) and a later one")
        row = {"run": rid, "start": str(g[START].iloc[0]) if START in g.columns else "",
               "end": float(g[y].iloc[-1]), "start sampled": float(g[y].iloc[0])}
        row.update({name: float(g[col].iloc[0]) for name, col in per_run.items()})
        for k, v in row.items():
            if isinstance(v, float) and not np.isfinite(v):
                raise DataError(f"run {rid}: {k if k != 'end' else y} is not a finite number ({v})")
        out.append(row)
    return pd.DataFrame(out)


def _units(runs: pd.DataFrame, what: str):
    """(Units, its degrees of freedom), or DataError below the minimum number of distinct resamples."""
    u = resample.units(runs["start"].to_numpy())
    seeds = u.seeds
    distinct = (int(np.prod([resample.n_distinct(int(s)) for s in seeds], dtype=float)) if resample.stratified(u)
                else resample.n_distinct(u.n_configs))
    if distinct < resample.n_distinct(MIN_UNITS):
        raise DataError(f"{what}: {len(runs)} run(s) give {distinct} distinct resamples; an interval needs at least "
                        f"{resample.n_distinct(MIN_UNITS)} ({MIN_UNITS} runs of one starting model, or 3 in each of 3)")
    dof = float(np.sum(seeds - 1)) if resample.stratified(u) else float(u.n_configs - 1)
    return u, dof


def _mean_draws(u, values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Resampled means (B,) of per-run values: per starting model its resampled mean, its departure
    from the full mean rescaled by sqrt(s/(s-1)) (unbiased bootstrap variance), weighted by runs."""
    total = np.zeros(counts.shape[0])
    for members in u.members:
        w = counts[:, members]
        v = values[members]
        full = v.mean()
        s = len(members)
        with np.errstate(invalid="ignore", divide="ignore"):
            m = (w @ v) / w.sum(1)
        m = np.where(np.isfinite(m), m, full)  # a starting model not drawn (drawn grid): its full mean
        total += s * (full + (np.sqrt(s / (s - 1)) if s > 1 else 1.0) * (m - full))
    return total / u.n_items


def _bounds(point: float, draws: np.ndarray, dof: float, level: float) -> tuple[float, float]:
    """Percentile interval of the draws at `level`, stretched by t_dof/z about the median draw
    (`scaling.fit.resample.widen_about`: additive, a gain can be negative)."""
    lo, hi = resample.interval(draws, level)
    lo, hi = resample.widen_about(lo, hi, np.median(draws), resample.small_sample_factor(dof, level))
    return float(lo), float(hi)


def _word(lo: float, hi_bonf: float, g: float) -> str:
    return rules.decide(lo > g, hi_bonf < g)


def _judge_one(cand, ctrl, y, per_run, n_boot, rng, min_gain, ctrl_note):
    """One metric of one group: the gain over each control with its interval and word."""
    u, dof = _units(cand, "the candidate")
    counts = resample.draw(u, n_boot, rng)
    end = cand["end"].to_numpy(float)
    end_draws = _mean_draws(u, end, counts)
    present = ["start greedy"] if "start greedy" in per_run else []
    present += ["start sampled"] + (["random reward"] if ctrl is not None or ctrl_note else [])
    present += ["guess"] if "guess" in per_run else []
    level_bonf = rules.level_per_target(len(present))
    parts, notes = {}, []
    for name in present:
        if name == "random reward":
            if ctrl is None:
                parts[name] = {"verdict": rules.NOT_JUDGED, "reason": ctrl_note}
                continue
            try:
                uc, dof_c = _units(ctrl, "the random-reward arm")
            except DataError as err:
                parts[name] = {"verdict": rules.NOT_JUDGED, "reason": str(err), "control": float(ctrl["end"].mean())}
                continue
            cend = ctrl["end"].to_numpy(float)
            draws = end_draws - _mean_draws(uc, cend, resample.draw(uc, n_boot, rng))
            point, level = end.mean() - cend.mean(), float(cend.mean())
            var = np.array([[end.var(ddof=1) / len(end)], [cend.var(ddof=1) / len(cend)]])
            d = float(resample.satterthwaite(var, np.array([dof, dof_c]))[0])
        else:
            c = cand[name].to_numpy(float)
            draws = _mean_draws(u, end - c, counts)
            point, level, d = float((end - c).mean()), float(c.mean()), dof
        lo, hi = _bounds(point, draws, d, 0.95)
        _, hi_b = _bounds(point, draws, d, level_bonf)
        parts[name] = {"control": level, "gain": float(point), "ci": [lo, hi], "upper_bonferroni": hi_b,
                       "dof": d, "verdict": _word(lo, hi_b, min_gain)}
    words = [p["verdict"] for p in parts.values()]
    if any(p["verdict"] == rules.REFUTED for p in parts.values()):
        verdict = rules.REFUTED
    elif words and all(w == rules.SUPPORTED for w in words):
        verdict = rules.SUPPORTED
    else:
        verdict = rules.INCONCLUSIVE
    notes += [f"{k}: {p['reason']}" for k, p in parts.items() if "reason" in p]
    return {"metric": y, "runs": len(cand), "end": float(end.mean()), "controls": parts, "verdict": verdict,
            "resampled": f"{len(cand)} runs of {u.n_configs} starting model(s) resampled within each", "notes": notes}


def judge(df: pd.DataFrame, *, y, candidate=None, control=None, group=None, run_col="run_id",
          recipe_col="recipe", step_col="step", min_gain=0.0, n_boot=1000, seed=0) -> ClaimResult:
    """The gain claim on an RL sweep's records (see the module docstring)."""
    ys = [y] if isinstance(y, str) else list(y)
    per_run = {m: columns_of(m) for m in ys}
    candidate, control = _arms(df, candidate, control, recipe_col)
    rng = np.random.default_rng(seed)
    results, refusals, warnings = {}, [], []
    # each group value and starting model apart: the controls belong to the model RL started from
    keys = [k for k in (group, START if START in df.columns else None) if k]
    for gkey, g in (df.groupby(keys, sort=True) if keys else [((), df)]):
        gkey = gkey if isinstance(gkey, tuple) else (gkey,)
        label = "".join(f"{k}={v}: " for k, v in zip(keys, gkey) if k == group or df[START].nunique() > 1)
        gname = gkey[0] if group else None
        cand_rows = g[g[recipe_col].astype(str) == candidate]
        if cand_rows.empty:
            continue
        ctrl_rows = g[g[recipe_col].astype(str) == control] if control is not None else g.iloc[:0]
        for m in ys:
            cols = {k: c for k, c in per_run[m].items() if c in g.columns and g[c].notna().any()}
            missing = [k for k in per_run[m] if k not in cols]
            if missing:
                warnings.append(f"{label}{m}: no {', '.join(missing)} records (older runs?): that control is absent")
            try:
                cand = _runs(cand_rows, m, run_col, step_col, cols)
                ctrl, note = None, ""
                if not ctrl_rows.empty:
                    ctrl = _runs(ctrl_rows, m, run_col, step_col, {})
                elif control is not None:
                    note = "the random-reward arm has no run from this starting model" + (" in this group" if group else "")
                results[label + m] = _judge_one(cand, ctrl, m, cols, n_boot, rng, min_gain, note)
                results[label + m]["group"] = gname
            except DataError as err:
                refusals.append(f"{label}{m}: {err}")
    if not results:
        raise DataError("; ".join(refusals) or f"recipe {candidate!r} has no runs")
    verdict, rule = rules.combined(COMBINE, [r["verdict"] for r in results.values()])
    estimates = [interval(f"{name}: gain over {c}", p["gain"], p["ci"], verdict=p["verdict"])
                 for name, r in results.items() for c, p in r["controls"].items() if "gain" in p]
    test = TEST.format(g=min_gain, n=resample.n_distinct(MIN_UNITS), u=MIN_UNITS)
    details = {"candidate": candidate, "control": control, "metrics": results, "min_gain": min_gain,
               "test": test, "combined": verdict, "combined_rule": rule, "refused": refusals}
    return ClaimResult("gain", QUESTION, test, UNIT, {k: r["verdict"] for k, r in results.items()}, verdict, rule,
                       estimates, tuple(warnings), tuple(refusals), details, lines(details))


def lines(r: dict) -> list[str]:
    """Each metric's end value, then every control beside its gain and interval, and the verdict."""
    out = [f"gain claim: recipe {r['candidate']!r} at the end of RL against its controls"
           + (f" (random-reward arm {r['control']!r})" if r["control"] else " (no random-reward arm in the table)")]
    for name, m in r["metrics"].items():
        out.append(f"{name}: end {m['end']:.3f} over {m['runs']} runs ({m['resampled']})")
        for c in CONTROLS:
            p = m["controls"].get(c)
            if p is None:
                continue
            if "gain" not in p:
                out.append(f"  {c:<14} not judged: {p['reason']}")
                continue
            lo, hi = p["ci"]
            out.append(f"  {c:<14} {p['control']:.3f}   gain {p['gain']:+.3f} ({lo:+.3f} to {hi:+.3f}) -> "
                       f"{p['verdict'].upper()}")
        out.append(f"  -> {m['verdict'].upper()}")
    out += [f"not judged: {why}" for why in r.get("refused", [])]
    out.append(f"all metrics together: {r['combined'].upper()} ({r['combined_rule']})")
    out.append(r["test"])
    return out
