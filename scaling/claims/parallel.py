"""Does accuracy rise with the number of parallel agents while latency stays flat?

Input: the rows of a test-time study (`scaling.testtime`: one per seed, M, problem and scheme).

- accuracy gain per doubling of M: least-squares slope of mean accuracy against log2 M;
- critical-path tokens and measured wall latency at M_max against M = 1, as ratios of means;
- 95% intervals from resampling seeds (when there are >= 2) and problems within them (the same
  problems at every M: paired);
- verdict, once on the critical path (the latency proxy) and once on measured latency:
  supported when the gain's interval lies above 0 and the ratio's upper bound is at most `flat`;
  refuted when the gain's interval lies at or below 0 or the ratio's lower bound exceeds `flat`;
  else inconclusive.

Laws beside it:
- coverage c(k) = exp(a·k^b) (Brown et al. 2024, `scaling.fit.fit_coverage`) fitted to the
  unbiased pass@k of the largest M's samples (`scaling.fit.passk`), against the measured best-of-M;
- the majority-vote null (Chen et al. 2024, "Are more LLM calls all you need?"): with each
  problem's answer distribution estimated from the largest M's samples and votes of M independent
  draws from it (same tie rule as the study), the vote accuracy expected at each M, and its limit,
  the share of "easy" problems (the correct answer more likely than every wrong one).
"""

from __future__ import annotations

import numpy as np

from scaling.claims import rules
from scaling.claims.base import ClaimResult, interval
from scaling.claims.text import parallel_lines
from scaling.errors import DataError, FitError
from scaling.fit import coverage, coverage_curve, fit_coverage

QUESTION = "Does accuracy rise with the number of parallel agents while latency stays flat?"
SCHEMES = ("vote", "best", "agents")
COMBINE = "all_agree"  # the critical-path and measured-latency verdicts must agree
TEST = ("test: 95% percentile intervals over resampled {unit}; 'supported' when the accuracy gain per "
        "doubling of M has its interval above 0 and the M_max / M=1 ratio's upper bound is at most x{flat:g}; "
        "'refuted' when the gain's interval lies at or below 0 or the ratio's lower bound exceeds x{flat:g}; "
        "judged on critical-path tokens and on measured latency")


def check_scheme(scheme: str) -> str:
    """--scheme: one of :data:`SCHEMES`."""
    if scheme not in SCHEMES:
        raise DataError(f"--scheme: unknown scheme {scheme!r} (choose from {', '.join(SCHEMES)})")
    return scheme


def check_flat(flat: float) -> float:
    """--flat: a ratio bound of at least 1."""
    if flat < 1:
        raise DataError(f"--flat: a ratio bound of at least 1, got {flat}")
    return flat


def _cube(rows: list[dict], scheme: str, key: str):
    """(values [S, nM, P], seeds, Ms) for one scheme; DataError when the grid is incomplete."""
    sel = [r for r in rows if r["scheme"] == scheme]
    if not sel:
        raise DataError(f"no rows of scheme {scheme!r} (schemes: {', '.join(sorted({r['scheme'] for r in rows}))})")
    seeds = sorted({r["seed"] for r in sel})
    ms = sorted({r["M"] for r in sel})
    probs = sorted({r["problem"] for r in sel})
    out = np.full((len(seeds), len(ms), len(probs)), np.nan)
    for r in sel:
        out[seeds.index(r["seed"]), ms.index(r["M"]), probs.index(r["problem"])] = float(r[key])
    if np.isnan(out).any():
        raise DataError(f"scheme {scheme!r}: the study misses some (seed, M, problem) rows")
    return out, seeds, ms


def _resample(S: int, P: int, n_boot: int, rng):
    si = rng.integers(0, S, (n_boot, S)) if S >= 2 else np.zeros((n_boot, 1), int)
    pi = rng.integers(0, P, (n_boot, P))
    return si, pi


def _means(cube: np.ndarray, si, pi) -> np.ndarray:
    """[n_boot, nM]: mean over resampled seeds and problems."""
    picked = cube[si]  # [B, S, nM, P]
    return np.take_along_axis(picked, pi[:, None, None, :], axis=3).mean(axis=(1, 3))


def _ci(v) -> list[float]:
    v = np.asarray(v, float)
    v = v[np.isfinite(v)]
    return [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] if v.size else [float("nan")] * 2


def _slope(log2m: np.ndarray, acc: np.ndarray) -> np.ndarray:
    x = log2m - log2m.mean()
    return (acc - acc.mean(-1, keepdims=True)) @ x / (x @ x)


def _verdict(gain, ratio, flat: float) -> str:
    return rules.decide(gain[0] > 0 and ratio[1] <= flat, gain[1] <= 0 or ratio[0] > flat)


def parallel_claim(rows: list[dict], *, scheme: str = "agents", flat: float = 1.25, n_boot: int = 1000,
                   seed: int = 0) -> dict:
    check_scheme(scheme)
    check_flat(flat)
    acc, seeds, ms = _cube(rows, scheme, "correct")
    if len(ms) < 2 or ms[0] != 1:
        raise FitError(f"the study's M values {ms}: the claim needs M = 1 and at least one larger M")
    crit, _, _ = _cube(rows, scheme, "tt/tokens_critical")
    lat, _, _ = _cube(rows, scheme, "tt/latency_s")
    S, nM, P = acc.shape
    rng = np.random.default_rng(seed)
    si, pi = _resample(S, P, n_boot, rng)
    log2m = np.log2(ms)
    a_b, c_b, l_b = _means(acc, si, pi), _means(crit, si, pi), _means(lat, si, pi)
    a0, c0, l0 = acc.mean(axis=(0, 2)), crit.mean(axis=(0, 2)), lat.mean(axis=(0, 2))
    gain, gain_b = float(_slope(log2m, a0)), _slope(log2m, a_b)
    rc, rc_b = c0[-1] / c0[0], c_b[:, -1] / c_b[:, 0]
    rl, rl_b = l0[-1] / l0[0], l_b[:, -1] / l_b[:, 0]
    g_ci, c_ci, l_ci = _ci(gain_b), _ci(rc_b), _ci(rl_b)
    return {"scheme": scheme, "M": ms, "seeds": len(seeds), "problems": P, "n_boot": n_boot,
            "resampled": "seeds and problems" if S >= 2 else "problems", "flat": flat,
            "accuracy": a0.tolist(), "accuracy_ci": [_ci(a_b[:, j]) for j in range(nM)],
            "critical_tokens": c0.tolist(), "latency_s": l0.tolist(),
            "gain_per_doubling": gain, "gain_ci": g_ci,
            "critical_ratio": float(rc), "critical_ratio_ci": c_ci,
            "latency_ratio": float(rl), "latency_ratio_ci": l_ci,
            "verdict_critical_path": _verdict(g_ci, c_ci, flat), "verdict_latency": _verdict(g_ci, l_ci, flat)}



def judge(rows: list[dict], *, scheme: str = "agents", flat: float = 1.25, n_boot: int = 1000,
          seed: int = 0) -> ClaimResult:
    """:func:`parallel_claim` with the coverage law and the majority-vote null beside it, as a
    :class:`scaling.claims.base.ClaimResult` (details: {"claim", "coverage", "vote_null"})."""
    r = parallel_claim(rows, scheme=scheme, flat=flat, n_boot=n_boot, seed=seed)
    cov, null = coverage_law(rows), vote_null(rows)
    verdicts = {"critical_path": r["verdict_critical_path"], "latency": r["verdict_latency"]}
    verdict, rule = rules.combined(COMBINE, verdicts.values())
    estimates = [interval("accuracy gain per doubling of M", r["gain_per_doubling"], r["gain_ci"]),
                 interval(f"critical-path tokens M={r['M'][-1]} / M=1", r["critical_ratio"], r["critical_ratio_ci"],
                          verdict=r["verdict_critical_path"]),
                 interval(f"latency M={r['M'][-1]} / M=1", r["latency_ratio"], r["latency_ratio_ci"],
                          verdict=r["verdict_latency"])]
    estimates += [interval(f"accuracy at M={m}", a, ci) for m, a, ci in zip(r["M"], r["accuracy"], r["accuracy_ci"])]
    refusals = [f"coverage law: {cov['error']}"] if "error" in cov else []
    return ClaimResult("parallel", QUESTION, TEST.format(unit=r["resampled"], flat=flat), r["resampled"], verdicts,
                       verdict, rule, estimates, (), refusals, {"claim": r, "coverage": cov, "vote_null": null},
                       parallel_lines(r, cov, null))


def coverage_law(rows: list[dict], *, n_boot: int = 200, seed: int = 0) -> dict:
    """Unbiased pass@k from the largest M's samples (every problem and seed), the fitted
    c(k) = exp(a·k^b) with 95% intervals from resampling problems (all their seeds together),
    and the measured best-of-M accuracy at each M."""
    best = [r for r in rows if r["scheme"] == "best"]
    if not best:
        raise DataError("no best-of-M rows in the study")
    ms = sorted({r["M"] for r in best})
    top = [r for r in best if r["M"] == ms[-1]]
    ks = np.array(ms, float)
    c = coverage_curve([ms[-1]] * len(top), [r["n_correct"] for r in top], ks)
    measured = [float(np.mean([r["correct"] for r in best if r["M"] == m])) for m in ms]
    out = {"k": ms, "pass_at_k": c.tolist(), "measured_best_of_M": measured}
    try:
        fit = fit_coverage(ks, c, allow_unconverged=True)
        a, b = float(fit.params["a"]), float(fit.params["b"])
        out.update(a=a, b=b, converged=bool(fit.converged), predicted=coverage(ks, a, b).tolist())
    except FitError as err:
        return {**out, "a": float("nan"), "b": float("nan"), "converged": False, "error": str(err),
                "a_ci": [float("nan")] * 2, "b_ci": [float("nan")] * 2}
    probs = sorted({r["problem"] for r in top})
    by = {p: [r["n_correct"] for r in top if r["problem"] == p] for p in probs}
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        counts = [n for i in rng.integers(0, len(probs), len(probs)) for n in by[probs[i]]]
        cb = coverage_curve([ms[-1]] * len(counts), counts, ks)
        try:
            f = fit_coverage(ks, cb, allow_unconverged=True)
            draws.append((float(f.params["a"]), float(f.params["b"])))
        except FitError:  # a resample without enough non-zero coverage: no law in it
            draws.append((np.nan, np.nan))
    d = np.array(draws)
    out.update(a_ci=_ci(d[:, 0]), b_ci=_ci(d[:, 1]), n_boot=n_boot)
    return out


def vote_null(rows: list[dict], *, n_sim: int = 2000, seed: int = 0) -> dict:
    """Expected majority-vote accuracy at each M if votes were M independent draws from each
    problem's answer distribution (estimated from the largest M's samples), and its limit."""
    best = [r for r in rows if r["scheme"] == "best"]
    if not best:
        raise DataError("no rows with sampled answers in the study")
    ms = sorted({r["M"] for r in best})
    top = [r for r in best if r["M"] == ms[-1]]
    rng = np.random.default_rng(seed)
    pred = np.zeros((len(top), len(ms)))
    easy = np.zeros(len(top), bool)
    for i, r in enumerate(top):
        counts = np.array([c for _, c, _ in r["answers"]] + [ms[-1] - sum(c for _, c, _ in r["answers"])], float)
        right = np.array([ok for _, _, ok in r["answers"]] + [False])
        p = counts / counts.sum()
        wrong = p[:-1][~right[:-1]]
        easy[i] = bool(right[:-1].any()) and p[:-1][right[:-1]].max() > (wrong.max() if wrong.size else 0)
        for j, m in enumerate(ms):
            pred[i, j] = _simulate(p, right, m, n_sim, rng)
    measured = [float(np.mean([x["correct"] for x in rows if x["scheme"] == "vote" and x["M"] == m])) for m in ms]
    return {"M": ms, "predicted": pred.mean(0).tolist(), "measured": measured, "easy_fraction": float(easy.mean()),
            "n_sim": n_sim}


def _simulate(p: np.ndarray, right: np.ndarray, m: int, n_sim: int, rng) -> float:
    """P(the vote of m draws is correct); the last category (unfinished) never wins; ties go to
    the answer drawn first; no finished answer means wrong."""
    K = len(p)
    draws = rng.choice(K, size=(n_sim, m), p=p)
    onehot = draws[:, :, None] == np.arange(K)[None, None, :]
    counts = onehot.sum(1)
    counts[:, -1] = 0
    first = np.where(onehot.any(1), onehot.argmax(1), m)
    top = counts.max(1, keepdims=True)
    cand = (counts == top) & (top > 0)
    winner = np.where(cand, first, m + 1).argmin(1)
    return float(np.mean(right[winner] & (top[:, 0] > 0)))
