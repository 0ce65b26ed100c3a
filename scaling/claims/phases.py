"""Does reasoning length lengthen, then compress, then lengthen again as RL compute grows?

Model: length is continuous and piecewise linear in x = log10(RL compute) with 0, 1 or 2
breakpoints (hinges), y = a + b*x + sum_j c_j * max(x - t_j, 0). The breakpoints are searched on a
grid of candidate locations (each segment must hold at least `min_seg` distinct x values), the
coefficients by least squares, and the number of breakpoints by BIC = n*log(RSS/n) + k*log(n) with
k = 2 + 2*breaks (a slope change and a location per breakpoint), on the points of all seeds pooled.

Uncertainty: whole seeds are resampled (points when there are fewer than 3 seeds); in every
resample the two-breakpoint model is refitted (locations included) and its three segment slopes
are kept; 95% percentile intervals. Replication: each seed is fitted alone; it replicates when its
own BIC picks 2 breakpoints and its slopes have the signs (+, -, +), each beyond 2 standard errors
(least squares at its chosen breakpoints).

Verdict on "lengthens, compresses, lengthens again":
  supported    pooled BIC picks 2 breakpoints, the slope intervals exclude 0 with signs (+, -, +),
               and more than `replicate` of the seeds replicate (k/n reported);
  refuted      a slope interval excludes 0 on the wrong side, or BIC picks 2 breakpoints in fewer
               than 2.5% of the resamples (the data prefer fewer phases, beyond resampling noise);
  inconclusive otherwise.

Everything is vectorised over curves that share their x grid (`analyse_many`), which is how the
error rates on synthetic curves are measured in the tests.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from scaling.claims import rules
from scaling.claims.base import ClaimResult, interval, units
from scaling.claims.text import phases_lines
from scaling.errors import DataError, FitError

QUESTION = "Does reasoning length lengthen, then compress, then lengthen again as RL compute grows?"
PATTERN = (1, -1, 1)
MIN_SEG = 3
COMBINE = "all_agree"  # the rule of `scaling.claims.rules` that joins the metrics' (and groups') verdicts
TEST = ("test: 'supported' when BIC picks 2 breakpoints, the 95% bootstrap intervals (2.5th-97.5th "
        "percentiles) of the three segment slopes exclude 0 with signs (+, -, +) and more than {replicate:.0%} "
        "of the seeds replicate alone; 'refuted' when a slope interval excludes 0 on the wrong side or BIC picks "
        "2 breakpoints in fewer than 2.5% of the resamples")


def replicate_fraction(r: float) -> float:
    """--replicate: a fraction of the seeds in [0, 1)."""
    if not 0 <= r < 1:
        raise DataError(f"--replicate {r}: must lie in [0, 1)")
    return r


def segment_points(m: int) -> int:
    """--min-seg: distinct compute values per segment, at least 2."""
    if m < 2:
        raise DataError(f"--min-seg {m}: a segment needs at least 2 compute values")
    return m


def candidates(x: np.ndarray, breaks: int, min_seg: int = MIN_SEG, max_grid: int = 24) -> np.ndarray:
    """Breakpoint sets [K, breaks] (sorted): grid points between distinct x values such that every
    segment holds at least `min_seg` distinct x values."""
    u = np.unique(np.round(np.asarray(x, float), 12))
    if breaks == 0:
        return np.zeros((1, 0))
    grid = (u[:-1] + u[1:]) / 2  # a breakpoint between consecutive distinct x values
    if len(grid) > max_grid:
        grid = grid[np.unique(np.linspace(0, len(grid) - 1, max_grid).round().astype(int))]
    left = np.searchsorted(u, grid)  # distinct x values below each grid point
    out = []
    for combo in itertools.combinations(range(len(grid)), breaks):
        counts = np.diff(np.concatenate([[0], left[list(combo)], [len(u)]]))
        if counts.min() >= min_seg:
            out.append(grid[list(combo)])
    return np.array(out, float).reshape(-1, breaks)


def design(x: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """[K, n, 2 + b] hinge design for breakpoint sets [K, b]."""
    x = np.asarray(x, float)
    K = breaks.shape[0]
    base = np.broadcast_to(np.stack([np.ones_like(x), x], -1), (K, len(x), 2))
    hinges = np.maximum(x[None, :, None] - breaks[:, None, :], 0.0)
    return np.concatenate([base, hinges], -1)


def wls(X: np.ndarray, Y: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares for every design [K, n, p], curve [D, n] and weight row [B, n]:
    (coefficients [D, B, K, p], residual sums of squares [D, B, K]), in closed form."""
    A = np.einsum("kni,bn,knj->bkij", X, W, X)
    Ainv = np.linalg.pinv(A, hermitian=True)
    XtWy = np.einsum("kni,bn,dn->dbki", X, W, Y)
    beta = np.einsum("bkij,dbkj->dbki", Ainv, XtWy)
    yWy = np.einsum("bn,dn->db", W, Y * Y)[:, :, None]
    rss = yWy - 2 * np.einsum("dbki,dbki->dbk", beta, XtWy) + np.einsum("dbki,bkij,dbkj->dbk", beta, A, beta)
    return beta, np.maximum(rss, 0.0)


def slopes(beta: np.ndarray) -> np.ndarray:
    """Segment slopes [..., b + 1] from hinge coefficients [..., 2 + b]."""
    return np.cumsum(beta[..., 1:], axis=-1)


def fit_family(x, Y, W, breaks: int, min_seg: int = MIN_SEG) -> dict:
    """Best breakpoint set per curve and weight row: slopes [D, B, b+1], rss [D, B], breaks [D, B, b]."""
    cand = candidates(x, breaks, min_seg)
    if len(cand) == 0:
        raise FitError(f"{len(np.unique(x))} distinct compute values: too few for {breaks} breakpoints "
                       f"with {min_seg} per segment (evaluate at more points, or lower --min-seg)")
    beta, rss = wls(design(x, cand), Y, W)
    best = rss.argmin(-1)
    take = lambda a: np.take_along_axis(a, best[..., None, None], axis=2)[:, :, 0]  # noqa: E731
    return {"slopes": slopes(take(beta)), "rss": rss.min(-1), "breaks": cand[best],
            "beta": take(beta), "cand": cand, "best": best}


def bic(rss, n: int, breaks: int) -> np.ndarray:
    return n * np.log(np.maximum(rss, 1e-300) / n) + (2 + 2 * breaks) * np.log(n)


def choose(x, Y, min_seg: int = MIN_SEG) -> tuple[np.ndarray, np.ndarray, dict]:
    """(chosen breakpoints [D], BIC [D, 3], the 2-breakpoint fit) on unweighted curves [D, n]."""
    n = Y.shape[1]
    ones = np.ones((1, n))
    fits = [fit_family(x, Y, ones, b, min_seg) for b in range(3)]
    B = np.stack([bic(f["rss"][:, 0], n, b) for b, f in enumerate(fits)], -1)
    return B.argmin(-1), B, fits[2]


def replicated(x, Y, min_seg: int = MIN_SEG, z: float = 2.0) -> np.ndarray:
    """bool [D]: each curve alone picks 2 breakpoints with slopes (+, -, +), each beyond z SE."""
    chosen, _, two = choose(x, Y, min_seg)
    X = design(x, two["cand"])[two["best"][:, 0]]  # [D, n, 4]
    cov = np.linalg.pinv(np.einsum("dni,dnj->dij", X, X), hermitian=True)
    dof = max(Y.shape[1] - 4, 1)
    sigma2 = two["rss"][:, 0] / dof
    L = np.tril(np.ones((3, 3)))  # slope j = b + c_1 + ... + c_j
    Lfull = np.concatenate([np.zeros((3, 1)), L], 1)
    se = np.sqrt(np.einsum("ai,dij,aj->da", Lfull, cov, Lfull) * sigma2[:, None])
    s = two["slopes"][:, 0]
    signs = np.array(PATTERN)
    return (chosen == 2) & np.all(signs * s > z * se, axis=-1)


def seed_draws(seeds: np.ndarray, n_boot: int, rng) -> tuple[np.ndarray, str]:
    """Bootstrap weight rows [n_boot, n]: whole seeds when there are >= 3, else single points."""
    _, inv = np.unique(seeds, return_inverse=True)
    units = inv.max() + 1
    if units < 3:
        inv, units, unit = np.arange(len(seeds)), len(seeds), "points"
    else:
        unit = "seeds"
    draws = rng.integers(0, units, size=(n_boot, units))
    counts = np.zeros((n_boot, units))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    return counts[:, inv], unit


def analyse_many(x, Y, seeds, *, n_boot: int = 400, seed: int = 0, replicate: float = 0.5,
                 min_seg: int = MIN_SEG) -> dict:
    """Phase analysis of D datasets [D, n] sharing compute `x` [n] and seed labels `seeds` [n].

    Returns arrays over datasets: breakpoints (BIC's choice), bic [D, 3], slopes [D, 3] and
    slope_lo / slope_hi [D, 3] of the 2-breakpoint model, breaks [D, 2], k (seeds replicating),
    n_seeds, verdict (strings)."""
    x, Y, seeds = np.asarray(x, float), np.atleast_2d(np.asarray(Y, float)), np.asarray(seeds)
    if Y.shape[1] != len(x) or len(seeds) != len(x):
        raise DataError("phases: x, y and seeds need the same number of points")
    chosen, B, two = choose(x, Y, min_seg)
    W, unit = seed_draws(seeds, n_boot, np.random.default_rng(seed))
    fits = [fit_family(x, Y, W, b, min_seg) for b in range(3)]
    boot = fits[2]["slopes"]  # [D, n_boot, 3]
    n = Y.shape[1]
    p2 = (np.stack([bic(f["rss"], n, b) for b, f in enumerate(fits)], -1).argmin(-1) == 2).mean(1)
    lo, hi = np.percentile(boot, 2.5, axis=1), np.percentile(boot, 97.5, axis=1)
    names = list(dict.fromkeys(seeds.tolist()))
    k = np.zeros(len(Y), int)
    for s in names:
        sel = seeds == s
        k += replicated(x[sel], Y[:, sel], min_seg)
    signs = np.array(PATTERN)
    excl = (lo > 0) | (hi < 0)
    right = np.all(np.where(signs > 0, lo > 0, hi < 0), axis=-1)
    wrong = np.any(excl & (np.where(lo > 0, 1, -1) != signs), axis=-1)
    enough = k > replicate * len(names)
    verdict = rules.decide((chosen == 2) & right & enough, wrong | (p2 < 0.025))
    return {"breakpoints": chosen, "bic": B, "p_two": p2, "slopes": two["slopes"][:, 0], "breaks": two["breaks"][:, 0],
            "slope_lo": lo, "slope_hi": hi, "k": k, "n_seeds": len(names), "verdict": verdict,
            "bootstrap_unit": unit, "n_boot": n_boot}


def analyse(C, length, seeds, **kw) -> dict:
    """One dataset: compute C [n] (> 0), length [n], seed label per point -> a JSON-able dict."""
    C, length = np.asarray(C, float), np.asarray(length, float)
    if np.any(~np.isfinite(C) | (C <= 0)):
        raise DataError("phases: compute must be positive and finite")
    r = analyse_many(np.log10(C), length[None], np.asarray(seeds), **kw)
    order = np.argsort(r["breaks"][0])
    return {"n_points": int(len(C)), "n_seeds": r["n_seeds"], "breakpoints": int(r["breakpoints"][0]),
            "bic": dict(zip(("0", "1", "2"), r["bic"][0].tolist())),
            "breaks_compute": (10 ** r["breaks"][0][order]).tolist(),
            "slopes_per_decade": r["slopes"][0].tolist(),
            "slope_intervals": np.stack([r["slope_lo"][0], r["slope_hi"][0]], -1).tolist(),
            "p_two_breakpoints": float(r["p_two"][0]), "replicated": f"{int(r['k'][0])}/{r['n_seeds']}", "k": int(r["k"][0]),
            "bootstrap_unit": r["bootstrap_unit"], "n_boot": r["n_boot"], "verdict": str(r["verdict"][0])}


def phases_claim(df: pd.DataFrame, x: str, ys: list[str], *, seed_col: str = "seed", group: str | None = None,
                 n_boot: int = 400, replicate: float = 0.5, min_seg: int = MIN_SEG) -> dict:
    """`analyse` for every metric in `ys` (and every value of `group`, e.g. the penalty strength).
    Rows with zero compute (an RL run's starting evaluation) are left out."""
    if not ys:
        raise DataError("name at least one length column with --y")
    for col in [x, seed_col, *ys, *([group] if group else [])]:
        if col not in df.columns:
            raise DataError(f"column {col!r} not found (columns: {', '.join(map(str, df.columns))})")
    out = {}
    for gname, g in (df.groupby(group, sort=True) if group else [("all", df)]):
        for y in ys:
            sub = g[[x, y, seed_col]].dropna(subset=[y])  # a metric not recorded at a point: skipped
            for col in (x, y):
                num = pd.to_numeric(sub[col], errors="coerce")
                bad = num.isna() & sub[col].notna()
                if bad.any():
                    i = sub.index[np.flatnonzero(bad.to_numpy())[0]]
                    raise DataError(f"column {col!r} row {i}: not a number ({sub[col][i]!r})")
                sub = sub.assign(**{col: num})
            bad = ~np.isfinite(sub[x].to_numpy(float)) | (sub[x].to_numpy(float) < 0)
            if bad.any():
                i = sub.index[np.flatnonzero(bad)[0]]
                raise DataError(f"column {x!r} row {i}: compute must be finite and non-negative, got {sub[x][i]}")
            sub = sub[sub[x] != 0]
            if sub.empty:
                raise DataError(f"{gname}/{y}: no rows with positive compute in column {x!r}")
            try:
                out[f"{gname}/{y}"] = analyse(sub[x].to_numpy(float), sub[y].to_numpy(float),
                                              sub[seed_col].astype(str).to_numpy(), n_boot=n_boot,
                                              replicate=replicate, min_seg=min_seg)
            except (FitError, DataError) as err:
                raise type(err)(f"{gname}/{y}: {err}") from None
    return {"x": x, "seed_col": seed_col, "metrics": out}


def judge(df: pd.DataFrame, *, x: str = "rl/flops", y: list[str] = ("eval/length/heldout",), seed_col: str = "seed",
          group: str | None = None, n_boot: int = 400, replicate: float = 0.5, min_seg: int = MIN_SEG) -> ClaimResult:
    """:func:`phases_claim` as a :class:`scaling.claims.base.ClaimResult`: per metric, the three
    segment slopes of the two-breakpoint fit with their 95% intervals, and its verdict."""
    r = phases_claim(df, x, list(y), seed_col=seed_col, group=group, n_boot=n_boot, replicate=replicate,
                     min_seg=min_seg)
    ms = r["metrics"]
    estimates = [interval(f"{name}: slope {i + 1} per decade", s, ci)
                 for name, m in ms.items() for i, (s, ci) in enumerate(zip(m["slopes_per_decade"], m["slope_intervals"]))]
    verdicts = {name: m["verdict"] for name, m in ms.items()}
    verdict, rule = rules.combined(COMBINE, verdicts.values())
    return ClaimResult("phases", QUESTION, TEST.format(replicate=replicate),
                       units(m["bootstrap_unit"] for m in ms.values()), verdicts, verdict, rule, estimates, (), (),
                       r, phases_lines(r))
