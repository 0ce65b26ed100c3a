"""Does accuracy rise with the number of parallel samples M, above a single sample, while the
query's critical path stays flat?

Input: the rows of a test-time study (`scaling.testtime`: one per sampling seed, M, problem and
scheme). Sampling seeds are the keys of one checkpoint's samples (not training seeds): within a
problem they are replicate draws, so each problem's value is its mean over sampling seeds, and the
resampled unit is the problem (percentile bootstrap through `scaling.fit.resample`; the same
problems at every M and in every baseline: paired).

Every scheme is compared with a SINGLE sample (plain sampling at M = 1, the M = 1 vote: a vote of
one sample is that sample), never with itself at M = 1 (the agents' M = 1 is already two rounds).

- gain: accuracy at M_max minus the single sample's (absolute accuracy), with its interval; the
  slope per doubling of M is reported beside it;
- guess baseline (question-blind): answers drawn from the answer prior, the distribution of exact
  answers of the problem's difficulty (tier), estimated from the study's problem set, leaving the
  problem itself out. At M draws: the vote of M guesses for vote and agents, 1 - (1 - q)^M (q: the
  prior's mass on the right answer) for best-of-M. The margin over it at M_max must be positive: a
  gain that guessing also reaches is not a gain;
- critical path (the scheme's latency, device-free): sequential decoding steps per query at M_max
  over the single sample's, and the FLOP multiplier beside it;
- verdict of the scheme: SUPPORTED when the gain's lower bound exceeds `min_gain`, the margin over
  the guess baseline has its lower bound above 0 and the critical-path ratio's upper bound is at
  most `flat`; REFUTED when the gain's upper bound is below `min_gain` or the ratio's lower bound
  exceeds `flat`; else INCONCLUSIVE. Best-of-M selects with the exact verifier: an oracle (upper
  bound), never SUPPORTED as a deployable scheme;
- the device, separately (`scaling.testtime.latency`): from the measured decode-step time tau(B)
  at the batch sizes used, its knee; where tau is not flat (within `flat`) over them, "latency not
  testable on this device" (not judged), otherwise the same rule on the query's measured-latency
  ratio. The claim's verdict is the scheme's; the device's is reported beside it.

Laws beside it:
- coverage with a ceiling c(k) = c_max·exp(a·k^b) (`scaling.fit.fit_coverage_ceiling`) fitted to
  the unbiased pass@k of the largest M's samples, against the measured best-of-M and the guess;
- the majority-vote null (Chen et al. 2024): votes of M independent draws from each problem's
  answer distribution, cross-fitted: estimated from another sampling seed's largest-M samples (one
  seed: from its largest M other than the predicted one), never from the draws it predicts.
"""

from __future__ import annotations

import functools

import numpy as np

from scaling.claims import rules
from scaling.claims.base import ClaimResult, interval
from scaling.claims.text import parallel_lines
from scaling.errors import DataError, FitError
from scaling.fit import coverage_ceiling, coverage_curve, fit_coverage_ceiling
from scaling.fit import resample

QUESTION = ("Does accuracy rise with the number of parallel samples M, above a single sample, while the "
            "critical path stays flat?")
SCHEMES = ("vote", "best", "agents")
ORACLE = {"best": "oracle (upper bound)"}  # selection with the exact verifier
BASELINE = "single sample (M = 1 plain sampling)"
MIN_GAIN = 0.05
RULE = "the scheme's verdict (accuracy and critical path); the device's latency verdict is reported beside it"
NOT_TESTABLE = "latency not testable on this device"
TEST = ("test: 95% percentile intervals over resampled problems (each the mean over its sampling seeds); "
        "'supported' when accuracy at M_max minus a single sample's has its lower bound above {min_gain:g}, "
        "the margin over the question-blind guess baseline its lower bound above 0, and the critical-path "
        "ratio (decoding steps, M_max over a single sample) its upper bound at most x{flat:g}; 'refuted' when "
        "the gain's upper bound is below {min_gain:g} or the ratio's lower bound exceeds x{flat:g}; oracle "
        "selection is never supported; the device is judged apart, on tau(B)")


def check_scheme(scheme: str) -> str:
    """--scheme: one of :data:`SCHEMES`."""
    if scheme not in SCHEMES:
        raise DataError(f"--scheme: unknown scheme {scheme!r} (choose from {', '.join(SCHEMES)})")
    return scheme


def check_flat(flat: float) -> float:
    """--flat: a ratio bound of at least 1."""
    if not flat >= 1:
        raise DataError(f"--flat: a ratio bound of at least 1, got {flat}")
    return flat


def check_min_gain(g: float) -> float:
    """--min-gain: an absolute accuracy in [0, 1)."""
    if not 0 <= g < 1:
        raise DataError(f"--min-gain: an absolute accuracy gain in [0, 1), got {g}")
    return g


def _cube(rows: list[dict], scheme: str, key: str, ms=None):
    """(values [nM, P]: each problem's mean over sampling seeds, seeds, Ms, problems) for one scheme;
    DataError when the grid is incomplete or the key is missing."""
    sel = [r for r in rows if r["scheme"] == scheme and (ms is None or r["M"] in ms)]
    if not sel:
        raise DataError(f"no rows of scheme {scheme!r} (schemes: {', '.join(sorted({r['scheme'] for r in rows}))})")
    seeds = sorted({r["seed"] for r in sel})
    ms = sorted({r["M"] for r in sel})
    probs = sorted({r["problem"] for r in sel})
    out = np.full((len(seeds), len(ms), len(probs)), np.nan)
    for r in sel:
        if key not in r:
            raise DataError(f"scheme {scheme!r}: rows without {key!r}")
        out[seeds.index(r["seed"]), ms.index(r["M"]), probs.index(r["problem"])] = float(r[key])
    if np.isnan(out).any():
        raise DataError(f"scheme {scheme!r}: the study misses some (sampling seed, M, problem) rows")
    return out.mean(0), seeds, ms, probs


def _ci(draws) -> list[float]:
    lo, hi = resample.interval(np.asarray(draws, float))
    return [float(lo), float(hi)]


def _slope(log2m: np.ndarray, acc: np.ndarray) -> np.ndarray:
    x = log2m - log2m.mean()
    return (acc - acc.mean(-1, keepdims=True)) @ x / (x @ x)


# --- the question-blind guess baseline ---------------------------------------------------------

def answer_prior(rows: list[dict]) -> dict:
    """Per problem: (answers, their prior probabilities, its exact answer). The prior is the
    distribution of exact answers among the study's other problems of the same tier (all other
    problems where the tier has no other): leave-one-out, so a problem's own answer does not
    inflate its guess. DataError when the rows carry no exact answers ('target')."""
    info = {}
    for r in rows:
        if "target" not in r:
            raise DataError("the study's rows carry no exact answers ('target'; studies before the guess "
                            "baseline): rerun `scaling testtime`")
        info[r["problem"]] = (r.get("tier", 0), str(r["target"]))
    out = {}
    for p, (tier, target) in info.items():
        pool = ([t for q, (ti, t) in info.items() if q != p and ti == tier]
                or [t for q, (_, t) in info.items() if q != p])
        if not pool:
            raise DataError("the guess baseline needs at least 2 problems")
        names, counts = np.unique(pool, return_counts=True)
        out[p] = (tuple(names), tuple(counts / counts.sum()), target)
    return out


@functools.lru_cache(maxsize=4096)
def _vote_guess(probs: tuple, right: tuple, m: int, n_sim: int = 4000) -> float:
    """P(the vote of m guesses from the prior is right): simulated with the study's tie rule."""
    if not any(right):
        return 0.0
    p = np.array(probs + (0.0,))
    return _simulate(p / p.sum(), np.array(right + (False,)), m, n_sim, np.random.default_rng(m))


def guess(prior: dict, problems, ms, scheme: str) -> np.ndarray:
    """[nM, P] guess-baseline accuracy per M and problem: best-of-M (an oracle) 1 - (1 - q)^M, a
    selecting scheme (vote, agents) the vote of M guesses."""
    out = np.zeros((len(ms), len(problems)))
    for j, p in enumerate(problems):
        names, probs, target = prior[p]
        right = tuple(n == target for n in names)
        q = float(sum(pr for pr, ok in zip(probs, right) if ok))
        for i, m in enumerate(ms):
            out[i, j] = 1 - (1 - q) ** m if scheme in ORACLE else _vote_guess(probs, right, int(m))
    return out


# --- the claim ----------------------------------------------------------------------------------

def _device(rows, scheme: str, ms, flat: float, W, gain_ci, min_gain: float) -> dict:
    """The device's verdict from tau(B) (vote rows carry tau at their batch B = M)."""
    from scaling.testtime import latency

    table = {}
    for r in rows:
        if r["scheme"] == "vote" and "tt/step_s" in r:
            table[r["M"]] = {"B": r["M"], "tau_s": r["tt/step_s"], "lo_s": r["tt/step_lo_s"], "hi_s": r["tt/step_hi_s"]}
    if any(m not in table for m in ms):
        return {"verdict": rules.NOT_JUDGED, "reason": "the study holds no measured decode-step times tau(B)"}
    tau = [table[m] for m in ms]
    f = latency.flat_over(tau, ms, flat)
    out = {"tau": tau, **f}
    if not f["flat"]:
        return {**out, "verdict": rules.NOT_JUDGED,
                "reason": f"{NOT_TESTABLE}: tau(B) stays within x{flat:g} of tau(B={f['B_min']}) only up to the "
                          f"knee B={f['knee']}; tau(B={f['B_max']}) / tau(B={f['B_min']}) = {f['ratio']:.3g}"}
    lat, *_ = _cube(rows, scheme, "tt/latency_s")
    lat1 = _cube(rows, "vote", "tt/latency_s", ms=[1])[0][0]
    ratio = float(lat[-1].mean() / lat1.mean())
    ci = _ci((W @ lat[-1]) / (W @ lat1))
    v = rules.decide(gain_ci[0] > min_gain and ci[1] <= flat, gain_ci[1] < min_gain or ci[0] > flat)
    return {**out, "latency_ratio": ratio, "latency_ratio_ci": ci, "verdict": str(v),
            "reason": f"tau(B) flat within x{flat:g} up to B={f['knee']}"}


def parallel_claim(rows: list[dict], *, scheme: str = "agents", flat: float = 1.25, min_gain: float = MIN_GAIN,
                   n_boot: int = 1000, seed: int = 0) -> dict:
    check_scheme(scheme)
    check_flat(flat)
    check_min_gain(min_gain)
    acc, seeds, ms, probs = _cube(rows, scheme, "correct")
    if len(ms) < 2 or ms[0] != 1:
        raise FitError(f"the study's M values {ms}: the claim needs M = 1 and at least one larger M")
    single, _, _, probs1 = _cube(rows, "vote", "correct", ms=[1])
    if probs1 != probs:
        raise DataError("the single-sample baseline (vote at M = 1) covers other problems than the scheme")
    single = single[0]
    crit, *_ = _cube(rows, scheme, "tt/tokens_critical")
    crit1 = _cube(rows, "vote", "tt/tokens_critical", ms=[1])[0][0]
    P = len(probs)
    rng = np.random.default_rng(seed)
    W = resample.draw(resample.units([str(p) for p in probs]), n_boot, rng, fixed_grid=False)  # (B, P) counts
    wmean = lambda v: (W @ np.asarray(v).T) / P  # noqa: E731  [B] or [B, nM]
    a_b = wmean(acc)
    gain, g_ci = float(acc[-1].mean() - single.mean()), _ci(wmean(acc[-1] - single))
    log2m = np.log2(ms)
    slope, s_ci = float(_slope(log2m, acc.mean(1))), _ci(_slope(log2m, a_b))
    rc, c_ci = float(crit[-1].mean() / crit1.mean()), _ci(wmean(crit[-1]) / wmean(crit1))
    notes = []
    try:
        g = guess(answer_prior(rows), probs, ms, scheme)
        margin, m_ci = float((acc[-1] - g[-1]).mean()), _ci(wmean(acc[-1] - g[-1]))
        guess_m = g.mean(1).tolist()
    except DataError as err:
        margin, m_ci, guess_m = float("nan"), [float("nan")] * 2, [float("nan")] * len(ms)
        notes.append(f"guess baseline unknown ({err}): not supported without it")
    sup = g_ci[0] > min_gain and m_ci[0] > 0 and c_ci[1] <= flat
    ref = g_ci[1] < min_gain or c_ci[0] > flat
    verdict = str(rules.decide(sup, ref))
    if scheme in ORACLE:  # an upper bound: at most inconclusive when it would be supported
        verdict = rules.INCONCLUSIVE if verdict == rules.SUPPORTED else verdict
        notes.append(f"best-of-M selects with the exact verifier: an {ORACLE[scheme]}, not a deployable scheme, "
                     "so never supported")
    flops = None
    if all("tt/flops" in r for r in rows):
        fl, *_ = _cube(rows, scheme, "tt/flops")
        flops = float(fl[-1].mean() / _cube(rows, "vote", "tt/flops", ms=[1])[0][0].mean())
    device = _device(rows, scheme, ms, flat, W, g_ci, min_gain)
    has_latency = all("tt/latency_s" in r for r in rows if r["scheme"] == scheme)
    lat_m = _cube(rows, scheme, "tt/latency_s")[0].mean(1).tolist() if has_latency else [float("nan")] * len(ms)
    return {"scheme": scheme, "selection": ORACLE.get(scheme, "deployable"), "M": ms, "sampling_seeds": len(seeds),
            "problems": P, "n_boot": n_boot, "resampled": "problems (each the mean over its sampling seeds)",
            "flat": flat, "min_gain": min_gain, "baseline": BASELINE,
            "single": float(single.mean()), "single_ci": _ci(wmean(single)),
            "accuracy": acc.mean(1).tolist(), "accuracy_ci": [_ci(a_b[:, j]) for j in range(len(ms))],
            "guess": guess_m, "critical_tokens": crit.mean(1).tolist(), "critical_single": float(crit1.mean()),
            "latency_s": lat_m,
            "gain": gain, "gain_ci": g_ci, "gain_per_doubling": slope, "gain_per_doubling_ci": s_ci,
            "margin_over_guess": margin, "margin_over_guess_ci": m_ci,
            "critical_ratio": rc, "critical_ratio_ci": c_ci, "flop_ratio": flops,
            "verdict_scheme": verdict, "device": device, "notes": notes}


def judge(rows: list[dict], *, scheme: str = "agents", flat: float = 1.25, min_gain: float = MIN_GAIN,
          n_boot: int = 1000, seed: int = 0) -> ClaimResult:
    """:func:`parallel_claim` with the coverage law and the majority-vote null beside it, as a
    :class:`scaling.claims.base.ClaimResult` (details: {"claim", "coverage", "vote_null"})."""
    r = parallel_claim(rows, scheme=scheme, flat=flat, min_gain=min_gain, n_boot=n_boot, seed=seed)
    cov, null = coverage_law(rows), vote_null(rows)
    dev = r["device"]
    verdicts = {"scheme": r["verdict_scheme"], "device": dev["verdict"]}
    m = r["M"][-1]
    tag = f" [{r['selection']}]" if scheme in ORACLE else ""
    estimates = [interval(f"accuracy at M={m} minus a single sample{tag}", r["gain"], r["gain_ci"],
                          verdict=r["verdict_scheme"]),
                 interval(f"accuracy at M={m} minus the guess baseline", r["margin_over_guess"],
                          r["margin_over_guess_ci"]),
                 interval(f"critical-path decoding steps M={m} / single sample", r["critical_ratio"],
                          r["critical_ratio_ci"]),
                 interval("accuracy gain per doubling of M", r["gain_per_doubling"], r["gain_per_doubling_ci"]),
                 interval("single-sample accuracy", r["single"], r["single_ci"])]
    if "latency_ratio" in dev:
        estimates.append(interval(f"device latency M={m} / single sample", dev["latency_ratio"],
                                  dev["latency_ratio_ci"], verdict=dev["verdict"]))
    estimates += [interval(f"accuracy at M={k}", a, ci) for k, a, ci in zip(r["M"], r["accuracy"], r["accuracy_ci"])]
    refusals = [f"device: {dev['reason']}"] if dev["verdict"] == rules.NOT_JUDGED else []
    refusals += [f"coverage law: {cov['error']}"] if "error" in cov else []
    return ClaimResult("parallel", QUESTION, TEST.format(flat=flat, min_gain=min_gain), r["resampled"], verdicts,
                       r["verdict_scheme"], RULE, estimates, tuple(r["notes"]), refusals,
                       {"claim": r, "coverage": cov, "vote_null": null}, parallel_lines(r, cov, null))


# --- laws beside the claim ------------------------------------------------------------------------

def coverage_law(rows: list[dict], *, n_boot: int = 200, seed: int = 0) -> dict:
    """Unbiased pass@k from the largest M's samples (every problem and sampling seed), the fitted
    c(k) = c_max·exp(a·k^b) with 95% intervals from resampling problems (all their seeds together),
    the measured best-of-M (an oracle) and the guess baseline's coverage at each M."""
    best = [r for r in rows if r["scheme"] == "best"]
    if not best:
        raise DataError("no best-of-M rows in the study")
    ms = sorted({r["M"] for r in best})
    top = [r for r in best if r["M"] == ms[-1]]
    ks = np.array(ms, float)
    c = coverage_curve([ms[-1]] * len(top), [r["n_correct"] for r in top], ks)
    measured = [float(np.mean([r["correct"] for r in best if r["M"] == m])) for m in ms]
    probs = sorted({r["problem"] for r in top})
    try:
        g = guess(answer_prior(rows), probs, ms, "best").mean(1).tolist()
    except DataError:
        g = [float("nan")] * len(ms)
    out = {"k": ms, "pass_at_k": c.tolist(), "measured_best_of_M": measured, "guess": g,
           "selection": ORACLE["best"]}
    nan2 = [float("nan")] * 2
    try:
        fit = fit_coverage_ceiling(ks, c, allow_unconverged=True)
        p = {k: float(v) for k, v in fit.params.items()}
        pred = coverage_ceiling(ks, p["c_max"], p["a"], p["b"])
        # on a bound (c_max = 1, or a = 0: flat) the data show no ceiling: the law is a curve, not a limit
        identified = bool(fit.converged) and p["c_max"] < 1 - 1e-6 and p["a"] < 0
        out.update(**p, converged=bool(fit.converged), identified=identified, predicted=pred.tolist())
    except FitError as err:
        return {**out, "c_max": float("nan"), "a": float("nan"), "b": float("nan"), "converged": False,
                "identified": False, "error": str(err), "c_max_ci": nan2, "a_ci": nan2, "b_ci": nan2}
    by = {p: [r["n_correct"] for r in top if r["problem"] == p] for p in probs}
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        counts = [n for i in rng.integers(0, len(probs), len(probs)) for n in by[probs[i]]]
        cb = coverage_curve([ms[-1]] * len(counts), counts, ks)
        try:
            f = fit_coverage_ceiling(ks, cb, allow_unconverged=True)
            draws.append((f.params["c_max"], f.params["a"], f.params["b"]))
        except FitError:  # a resample without enough non-zero coverage: no law in it
            draws.append((np.nan,) * 3)
    d = np.array(draws, float)
    out.update(c_max_ci=_ci(d[:, 0]), a_ci=_ci(d[:, 1]), b_ci=_ci(d[:, 2]), n_boot=n_boot)
    return out


def _distribution(r: dict, m: int):
    """(probabilities, right) of one row's finished answers plus a last 'unfinished' category."""
    counts = np.array([c for _, c, _ in r["answers"]] + [m - sum(c for _, c, _ in r["answers"])], float)
    right = np.array([bool(ok) for _, _, ok in r["answers"]] + [False])
    return counts / counts.sum(), right


def vote_null(rows: list[dict], *, n_sim: int = 1000, seed: int = 0) -> dict:
    """Expected majority-vote accuracy at each M if votes were M independent draws from each
    problem's answer distribution, cross-fitted: for the votes of sampling seed s, the distribution
    comes from another seed's largest-M samples; with one seed, from its largest M other than the
    predicted M. Also its limit (the share of 'easy' problems, on the same split)."""
    best = {(r["seed"], r["M"], r["problem"]): r for r in rows if r["scheme"] == "best"}
    if not best:
        raise DataError("no rows with sampled answers in the study")
    seeds = sorted({k[0] for k in best})
    ms = sorted({k[1] for k in best})
    if len(seeds) < 2 and len(ms) < 2:
        raise DataError("the vote null needs 2 sampling seeds or 2 values of M (fitted apart from what it predicts)")
    probs = sorted({k[2] for k in best})
    rng = np.random.default_rng(seed)
    pred = np.zeros((len(seeds), len(ms)))
    easy = []
    for a, s in enumerate(seeds):
        for j, m in enumerate(ms):
            src_seed = seeds[(a + 1) % len(seeds)]
            src_m = ms[-1] if (len(seeds) > 1 or m != ms[-1]) else ms[-2]
            vals = []
            for p in probs:
                pr, right = _distribution(best[src_seed, src_m, p], src_m)
                vals.append(_simulate(pr, right, m, n_sim, rng))
                if j == 0:
                    wrong = pr[:-1][~right[:-1]]
                    top_wrong = wrong.max() if wrong.size else 0
                    easy.append(bool(right[:-1].any()) and pr[:-1][right[:-1]].max() > top_wrong)
            pred[a, j] = np.mean(vals)
    measured = [float(np.mean([x["correct"] for x in rows if x["scheme"] == "vote" and x["M"] == m])) for m in ms]
    how = ("another sampling seed's" if len(seeds) > 1 else "the same seed's other M's") + " samples"
    return {"M": ms, "predicted": pred.mean(0).tolist(), "measured": measured, "easy_fraction": float(np.mean(easy)),
            "n_sim": n_sim, "fitted_on": how}


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
