"""Does reasoning length lengthen, then compress, then lengthen again as RL compute grows?

Points are steps. Seeds' computes differ at one step (decode lengths differ), so the x of a step is
log10 of the seeds' mean RL compute there, and a segment is made of steps, never of two seeds'
evaluations of one step (`min_seg` counts steps). The curve is the mean over seeds at each step
(seed effects: a seed's offset is the same at every step and cancels in the slopes). Steps where
some seed has no value are left out and counted. Without a step column the k-th evaluation of
every seed (by compute) is step k.

Model: the seed-mean curve is continuous and piecewise linear in x with two breakpoints,
y = a + b x + c1 (x - t1)+ + c2 (x - t2)+, the breakpoints searched on the grid between
consecutive steps (each segment at least `min_seg` steps), the rest by least squares; slopes
s = (b, b + c1, b + c1 + c2) per decade. The three-phase strength theta = min(s1, -s2, s3) is
positive exactly when the fit lengthens, compresses and lengthens again, and its size is the
weakest phase's slope.

Uncertainty: whole seeds are resampled (`scaling.fit.resample`, the seeds of one configuration)
and the breakpoints refitted in every resample, so the intervals carry their estimation;
percentile intervals widened by t(s - 1)/z about the median draw (few seeds: their spread is itself
uncertain), as `compare` does. Fewer seeds than `compare`'s minimum (MIN_UNITS = 5: 126 distinct
resamples; 3 seeds allow 10) give no verdict: inconclusive, with the reason.

Verdict on "lengthens, compresses, lengthens again":
  supported    theta's lower 97.5% bound > 0 (every phase's slope beyond 0 with its sign) and more
               than `replicate` of the seeds show the shape alone (BIC picks 2 breakpoints, slopes
               (+, -, +) beyond 2 standard errors);
  refuted      an equivalence test after a power check: a three-phase shape of the stated minimum
               size, delta per decade, would have been found (supported) with >= 80% probability at
               the measured spread on these steps, and theta's upper 97.5% bound is below delta.
               delta: each phase spans a third of the log-compute range and moves length by
               `min_change` x its mean, delta = min_change |mean| / (range / 3);
  inconclusive otherwise, with the reason (too few steps or seeds, not powered, interval open).
A model-selection frequency (how often BIC picks 2 breakpoints) is reported, never used as a test.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
from scipy import stats

from scaling.claims import rules
from scaling.claims.base import ClaimResult, interval, units
from scaling.claims.recipes import MIN_UNITS
from scaling.claims.text import phases_lines
from scaling.errors import DataError
from scaling.fit import resample

QUESTION = "Does reasoning length lengthen, then compress, then lengthen again as RL compute grows?"
PATTERN = (1, -1, 1)
MIN_SEG = 3
MIN_CHANGE = 0.2  # default stated minimum: each phase moves length by 20% of its mean
POWER = 0.8
LEVEL = 0.95  # two-sided; each bound one-sided 97.5%
COMBINE = "all_agree"  # the rule of `scaling.claims.rules` that joins the metrics' (and groups') verdicts
TEST = ("test: theta = min(slope 1, -slope 2, slope 3) of the two-breakpoint fit to the seed-mean length per step; "
        "95% intervals from whole seeds resampled (breakpoints refitted), widened by t(seeds-1)/z; 'supported' "
        "when theta's lower bound > 0 and more than {replicate:.0%} of the seeds show the shape alone; 'refuted' "
        "when a three-phase shape of {min_change:.0%} of the mean length per phase would be found with >= 80% "
        "power and theta's upper bound is below that size; at least {min_units} seeds ({distinct} distinct "
        "resamples) for either")
#: lengths that count an answer without a closed chain as 0 (or its whole answer): a fall may be
#: chains abandoned, not compressed -> the column to judge instead and its chain rate
UNCHAINED = ((re.compile(r"eval/think/(\w+)/mean$"), "eval/think/{0}/closed/mean"),
             (re.compile(r"eval/length/(\w+)$"), "eval/think/{0}/closed/mean"))
CLOSED = re.compile(r"eval/think/(\w+)/closed/mean$")


def replicate_fraction(r: float) -> float:
    """--replicate: a fraction of the seeds in [0, 1)."""
    if not 0 <= r < 1:
        raise DataError(f"--replicate {r}: must lie in [0, 1)")
    return r


def segment_points(m: int) -> int:
    """--min-seg: steps per segment, at least 2."""
    if m < 2:
        raise DataError(f"--min-seg {m}: a segment needs at least 2 steps")
    return m


def change_fraction(c: float) -> float:
    """--min-change: the smallest phase worth finding, a fraction of the mean length in (0, 10]."""
    if not 0 < c <= 10:
        raise DataError(f"--min-change {c}: must be a fraction of the mean length in (0, 10]")
    return c


def rate_column(y: str) -> str | None:
    """The chain-rate column reported beside a closed-chain length column (None for other columns)."""
    m = CLOSED.match(y)
    return f"eval/chain_rate/{m.group(1)}" if m else None


def unchained_warning(y: str) -> str | None:
    for pattern, instead in UNCHAINED:
        m = pattern.match(y)
        if m:
            return (f"{y} counts an answer without a closed chain as no thinking (or its whole answer): a fall "
                    f"can be chains abandoned, not compressed; judge {instead.format(m.group(1))} and read "
                    f"eval/chain_rate/{m.group(1)} beside it")
    return None


# ---------------------------------------------------------------- piecewise-linear fits on steps


def candidates(x: np.ndarray, breaks: int, min_seg: int = MIN_SEG) -> np.ndarray:
    """Breakpoint sets [K, breaks] (sorted): midpoints between consecutive steps' x such that every
    segment holds at least `min_seg` steps."""
    u = np.unique(np.round(np.asarray(x, float), 12))
    if breaks == 0:
        return np.zeros((1, 0))
    grid = (u[:-1] + u[1:]) / 2
    left = np.arange(1, len(u))  # steps below each grid point
    out = [grid[list(c)] for c in itertools.combinations(range(len(grid)), breaks)
           if np.diff(np.concatenate([[0], left[list(c)], [len(u)]])).min() >= min_seg]
    return np.array(out, float).reshape(-1, breaks)


def design(x: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """[K, n, 2 + b] hinge design for breakpoint sets [K, b]."""
    x = np.asarray(x, float)
    base = np.broadcast_to(np.stack([np.ones_like(x), x], -1), (breaks.shape[0], len(x), 2))
    return np.concatenate([base, np.maximum(x[None, :, None] - breaks[:, None, :], 0.0)], -1)


def slopes(beta: np.ndarray) -> np.ndarray:
    """Segment slopes [..., b + 1] from hinge coefficients [..., 2 + b]."""
    return np.cumsum(beta[..., 1:], axis=-1)


def fit(x, Y, breaks: int, min_seg: int = MIN_SEG) -> dict | None:
    """Least-squares fits with `breaks` breakpoints of curves Y [B, n] on x [n], breakpoints at
    their best grid set per curve: slopes [B, b+1], breaks [B, b], rss [B], beta, cov [B, p, p]
    ((X'X)^-1 at the chosen set). None when no grid set keeps `min_seg` steps per segment."""
    cand = candidates(x, breaks, min_seg)
    if len(cand) == 0:
        return None
    X = design(x, cand)  # [K, n, p]
    beta = np.einsum("kpn,bn->bkp", np.linalg.pinv(X), Y)
    rss = ((Y[:, None, :] - np.einsum("knp,bkp->bkn", X, beta)) ** 2).sum(-1)
    best = rss.argmin(-1)
    b = beta[np.arange(len(Y)), best]
    cov = np.linalg.pinv(np.einsum("kni,knj->kij", X, X), hermitian=True)[best]
    return {"slopes": slopes(b), "breaks": cand[best], "rss": rss.min(-1), "beta": b, "cov": cov}


def bic(rss, n: int, breaks: int) -> np.ndarray:
    return n * np.log(np.maximum(rss, 1e-300) / n) + (2 + 2 * breaks) * np.log(n)


def bics(x, Y, min_seg: int = MIN_SEG) -> np.ndarray:
    """BIC [B, 3] of 0, 1 and 2 breakpoints (inf where a model does not fit in the steps)."""
    n = Y.shape[1]
    return np.stack([np.full(len(Y), np.inf) if f is None else bic(f["rss"], n, b)
                     for b, f in enumerate(fit(x, Y, b, min_seg) for b in range(3))], -1)


def strength(s: np.ndarray) -> np.ndarray:
    """theta = min(s1, -s2, s3): > 0 exactly for the pattern (+, -, +); the weakest phase's slope."""
    return np.min(s * np.array(PATTERN), axis=-1)


def replicated(x, Y, min_seg: int = MIN_SEG, z: float = 2.0) -> np.ndarray:
    """bool [S]: each seed's curve alone picks 2 breakpoints (BIC) with slopes (+, -, +) beyond z SE."""
    two = fit(x, Y, 2, min_seg)
    dof = max(Y.shape[1] - 4, 1)
    L = np.concatenate([np.zeros((3, 1)), np.tril(np.ones((3, 3)))], 1)  # slope j = b + c_1 + ... + c_j
    se = np.sqrt(np.einsum("ai,sij,aj->sa", L, two["cov"], L) * (two["rss"] / dof)[:, None])
    return (bics(x, Y, min_seg).argmin(-1) == 2) & np.all(np.array(PATTERN) * two["slopes"] > z * se, axis=-1)


# ---------------------------------------------------------------- the claim on one curve of steps


def widened(draws: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval (LEVEL) of draws [B, ...] stretched about the median draw by `factor`."""
    lo, hi = resample.interval(draws, LEVEL)
    return resample.widen_about(lo, hi, np.quantile(draws, 0.5, axis=0, method="inverted_cdf"), factor)


def analyse(x, Y, *, n_boot: int = 400, seed: int = 0, replicate: float = 0.5, min_seg: int = MIN_SEG,
            min_change: float = MIN_CHANGE) -> dict:
    """The claim on steps: x [T] (log10 of the seeds' mean compute per step), Y [S, T] (each seed's
    length at each step). A JSON-able dict: estimates, intervals, power, verdict and its reason."""
    x, Y = np.asarray(x, float), np.atleast_2d(np.asarray(Y, float))
    S, T = Y.shape
    ybar = Y.mean(0)
    span = float(np.ptp(x)) if T else 0.0
    delta = min_change * abs(float(ybar.mean())) / (span / 3) if span > 0 else np.nan
    out = {"n_steps": T, "n_seeds": S, "x_range": [float(x.min()), float(x.max())] if T else [],
           "min_change": min_change, "delta_per_decade": float(delta), "n_boot": n_boot,
           "bootstrap_unit": f"whole seeds ({S}), breakpoints refitted", "distinct_resamples": resample.n_distinct(S)}
    two = fit(x, ybar[None], 2, min_seg)
    if two is None:
        return {**out, "verdict": rules.INCONCLUSIVE, "refused": True,
                "reason": f"not detectable with {T} steps: two breakpoints with {min_seg} steps per segment need "
                          f"{3 * min_seg} (evaluate at more steps after warmup, or lower --min-seg)"}
    s = two["slopes"][0]
    out.update({"slopes_per_decade": s.tolist(), "breaks_compute": (10 ** two["breaks"][0]).tolist(),
                "theta": float(strength(s)), "bic": dict(zip("012", bics(x, ybar[None], min_seg)[0].tolist()))})
    out["breakpoints"] = int(np.argmin(list(out["bic"].values())))
    u = resample.units(np.zeros(S, int))  # the seeds of one configuration
    counts = resample.draw(u, n_boot, np.random.default_rng(seed), fixed_grid=True)  # [B, S]
    boot = fit(x, counts @ Y / S, 2, min_seg)
    factor = float(resample.small_sample_factor(S - 1, LEVEL))
    th_lo, th_hi = widened(strength(boot["slopes"]), factor)
    s_lo, s_hi = widened(boot["slopes"], factor)
    sd = float(boot["slopes"].std(0, ddof=1).max()) if S > 1 else np.inf  # the least precise phase
    z = stats.norm.ppf(1 - (1 - LEVEL) / 2)
    power = float(stats.norm.cdf(delta / sd - z * factor)) if sd > 0 and np.isfinite(delta) else 0.0
    k = int(replicated(x, Y, min_seg).sum())
    out.update({"slope_intervals": np.stack([s_lo, s_hi], -1).tolist(), "theta_interval": [float(th_lo), float(th_hi)],
                "t_factor": factor, "power": power, "k": k, "replicated": f"{k}/{S}",
                "p_two_breakpoints": float(np.mean(bics(x, counts @ Y / S, min_seg).argmin(-1) == 2))})
    need = resample.n_distinct(MIN_UNITS)
    if out["distinct_resamples"] < need:
        return {**out, "verdict": rules.INCONCLUSIVE, "refused": True,
                "reason": f"{S} seeds allow {out['distinct_resamples']} distinct resamples; a verdict needs "
                          f"{need} ({MIN_UNITS} seeds), as compare's"}
    if th_lo > 0 and k > replicate * S:
        return {**out, "verdict": rules.SUPPORTED, "reason": "theta's lower bound > 0 and the seeds replicate"}
    if th_lo > 0:
        return {**out, "verdict": rules.INCONCLUSIVE,
                "reason": f"the mean curve shows the phases but only {k}/{S} seeds do alone (needs > {replicate:.0%})"}
    if power < POWER:
        return {**out, "verdict": rules.INCONCLUSIVE, "refused": True,
                "reason": f"not detectable with {T} steps and {S} seeds: a three-phase shape of {delta:.3g}/decade "
                          f"({min_change:.0%} of the mean per phase) would be found with power {power:.0%} < "
                          f"{POWER:.0%}"}
    if th_hi < delta:
        return {**out, "verdict": rules.REFUTED,
                "reason": f"powered ({power:.0%}) and theta's upper bound {th_hi:.3g} < {delta:.3g}/decade"}
    return {**out, "verdict": rules.INCONCLUSIVE,
            "reason": f"theta's interval ({th_lo:.3g} to {th_hi:.3g}) reaches both 0 and {delta:.3g}/decade"}


# ---------------------------------------------------------------- table -> steps


def steps_of(df: pd.DataFrame, x: str, y: str, seed_col: str, step_col: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """(x [T], Y [S, T], notes) from one group's rows: a step's x is log10 of its seeds' mean compute;
    rows with zero compute (an RL run's starting evaluation) and steps some seed lacks are left out."""
    sub = df[df[x] != 0]
    if sub.empty:
        raise DataError(f"no rows with positive compute in column {x!r}")
    notes = {}
    if step_col not in sub.columns:  # the k-th evaluation of every seed (by compute) is step k
        sub = sub.assign(**{step_col: sub.groupby(seed_col)[x].rank(method="first")})
        notes["steps"] = f"no {step_col!r} column: the k-th evaluation of each seed (by compute) is step k"
    if sub.duplicated([seed_col, step_col]).any():
        row = sub[sub.duplicated([seed_col, step_col])].iloc[0]
        raise DataError(f"seed {row[seed_col]!r} step {row[step_col]!r}: evaluated twice")
    C = sub.pivot(index=seed_col, columns=step_col, values=x)
    L = sub.pivot(index=seed_col, columns=step_col, values=y)
    full = L.notna().all(axis=0) & C.notna().all(axis=0)
    notes["steps_left_out"] = int((~full).sum())
    C, L = C.loc[:, full], L.loc[:, full]
    notes["steps"] = notes.get("steps", f"{full.sum()} steps with every seed's value")
    return np.log10(C.to_numpy(float).mean(0)), L.to_numpy(float), notes


def _numeric(sub: pd.DataFrame, col: str) -> pd.DataFrame:
    num = pd.to_numeric(sub[col], errors="coerce")
    bad = num.isna() & sub[col].notna()
    if bad.any():
        i = sub.index[np.flatnonzero(bad.to_numpy())[0]]
        raise DataError(f"column {col!r} row {i}: not a number ({sub[col][i]!r})")
    return sub.assign(**{col: num})


def phases_claim(df: pd.DataFrame, x: str, ys: list[str], *, seed_col: str = "seed", step_col: str | None = None,
                 group: str | None = None, n_boot: int = 400, replicate: float = 0.5, min_seg: int = MIN_SEG,
                 min_change: float = MIN_CHANGE, seed: int = 0) -> dict:
    """:func:`analyse` for every metric in `ys` (and every value of `group`), with the chain rate
    beside a closed-chain length where the table has it."""
    if not ys:
        raise DataError("name at least one length column with --y")
    step_col = step_col or "step"  # where the table has none: each seed's k-th evaluation (steps_of)
    for col in [x, seed_col, *ys, *([group] if group else [])]:
        if col not in df.columns:
            raise DataError(f"column {col!r} not found (columns: {', '.join(map(str, df.columns))})")
    out, warnings = {}, []
    for gname, g in (df.groupby(group, sort=True) if group else [("all", df)]):
        for y in ys:
            rate = rate_column(y)
            cols = [x, y, seed_col, *([step_col] if step_col in g.columns else []),
                    *([rate] if rate in g.columns else [])]
            sub = g[cols].dropna(subset=[y])  # a metric not recorded at a point: skipped
            for col in (x, y):
                sub = _numeric(sub, col)
            bad = ~np.isfinite(sub[x].to_numpy(float)) | (sub[x].to_numpy(float) < 0)
            if bad.any():
                i = sub.index[np.flatnonzero(bad)[0]]
                raise DataError(f"column {x!r} row {i}: compute must be finite and non-negative, got {sub[x][i]}")
            try:
                xs, Y, notes = steps_of(sub.assign(**{seed_col: sub[seed_col].astype(str)}), x, y, seed_col, step_col)
            except DataError as err:
                raise DataError(f"{gname}/{y}: {err}") from None
            m = analyse(xs, Y, n_boot=n_boot, seed=seed, replicate=replicate, min_seg=min_seg, min_change=min_change)
            m.update(notes)
            if rate in sub.columns:
                R = sub.assign(**{seed_col: sub[seed_col].astype(str)})
                per = _numeric(R, rate).groupby(step_col if step_col in R.columns else x)[rate].mean()
                m["chain_rate"] = {"column": rate, "first": float(per.iloc[0]), "last": float(per.iloc[-1]),
                                   "min": float(per.min()), "max": float(per.max())}
            out[f"{gname}/{y}"] = m
        warnings += [w for w in map(unchained_warning, ys) if w and w not in warnings]
    return {"x": x, "seed_col": seed_col, "metrics": out, "warnings": warnings}


def judge(df: pd.DataFrame, *, x: str = "rl/flops", y: list[str] = ("eval/think/heldout/closed/mean",),
          seed_col: str = "seed", step_col: str | None = None, group: str | None = None, n_boot: int = 400,
          replicate: float = 0.5, min_seg: int = MIN_SEG, min_change: float = MIN_CHANGE, seed: int = 0) -> ClaimResult:
    """:func:`phases_claim` as a :class:`scaling.claims.base.ClaimResult`: per metric, theta and the
    three segment slopes with their intervals, and its verdict (reasons of inconclusive ones as refusals)."""
    r = phases_claim(df, x, list(y), seed_col=seed_col, step_col=step_col, group=group, n_boot=n_boot,
                     replicate=replicate, min_seg=min_seg, min_change=min_change, seed=seed)
    ms = r["metrics"]
    estimates = []
    for name, m in ms.items():
        if "theta" in m:
            estimates.append(interval(f"{name}: theta = min(s1, -s2, s3) per decade", m["theta"], m["theta_interval"],
                                      verdict=m["verdict"]))
            estimates += [interval(f"{name}: slope {i + 1} per decade", s, ci)
                          for i, (s, ci) in enumerate(zip(m["slopes_per_decade"], m["slope_intervals"]))]
    verdicts = {name: m["verdict"] for name, m in ms.items()}
    verdict, rule = rules.combined(COMBINE, verdicts.values())
    test = TEST.format(replicate=replicate, min_change=min_change, min_units=MIN_UNITS,
                       distinct=resample.n_distinct(MIN_UNITS))
    refusals = tuple(f"{name}: {m['reason']}" for name, m in ms.items() if m.get("refused"))
    return ClaimResult("phases", QUESTION, test, units(m["bootstrap_unit"] for m in ms.values()), verdicts, verdict,
                       rule, estimates, tuple(r["warnings"]), refusals, r, phases_lines(r))
