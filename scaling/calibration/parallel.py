"""Calibration of `claim parallel` on the test-time demo's design: planted truths, false verdicts.

Design (as `sweeps/testtime_demo.yaml`'s study): 32 problems, sampling seeds 0 and 1, M = 1, 2, 4,
..., 64. Each draw is a new problem set: per-problem single-sample success probabilities from
Beta(0.6, 0.9) (mean 0.4, most problems near 0 or 1, like the demo's), exact answers from 9
possible per tier (3 tiers; fixed across draws, so the guess baseline is the demo's kind), and
Bernoulli outcomes per sampling seed, M and problem. The scheme (agents) has success probability

    logit p(M) = logit p(1) + lift * log2(M) / 6      (lift 0: flat accuracy)

and a critical path (decoding steps per query) of the longest of M sample lengths, each
base_i + Poisson(jitter) with base_i from 4 to 12, times (1 + stretch * log2(M) / 6).

Truths (the claim: accuracy rises by more than min_gain over a single sample while the critical
path stays within x1.25):

    flat accuracy          lift 0,   jitter 0,   stretch 0     claim false: count SUPPORTED
    rising accuracy        lift 1.2, jitter 0,   stretch 0     claim true:  count REFUTED
    flat critical path     lift 1.2, jitter 0.1, stretch 0     claim true:  count REFUTED
    rising critical path   lift 1.2, jitter 0.3, stretch 1.5   claim false: count SUPPORTED

`calibrate(draws, seed)` -> one row per truth: the verdict counts, the false rates, and the
planted population gain and critical-path ratio (from 200,000 problems).

    python -m scaling.calibration parallel --draws 200
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scaling.claims import parallel as PC
from scaling.claims import rules

MS = (1, 2, 4, 8, 16, 32, 64)
SEEDS = (0, 1)
PROBLEMS = 32
TIERS, ANSWERS = 3, 9
BETA = (0.6, 0.9)
N_BOOT = 400


@dataclass(frozen=True)
class Truth:
    name: str
    lift: float  # logit shift of the scheme's success at M = 64 over a single sample
    jitter: float  # Poisson mean of a sample's extra length
    stretch: float  # critical path at M = 64: x (1 + stretch)
    claim_true: bool

    @property
    def false_verdict(self) -> str:
        return rules.REFUTED if self.claim_true else rules.SUPPORTED


TRUTHS = (
    Truth("flat accuracy", 0.0, 0.0, 0.0, False),
    Truth("rising accuracy", 1.2, 0.0, 0.0, True),
    Truth("flat critical path", 1.2, 0.1, 0.0, True),
    Truth("rising critical path", 1.2, 0.3, 1.5, False),
)


def _expit(x):
    return 1 / (1 + np.exp(-x))


def _success(p1, m, lift):
    lo = np.log(np.clip(p1, 1e-9, 1 - 1e-9)) - np.log1p(-np.clip(p1, 1e-9, 1 - 1e-9))
    return _expit(lo + lift * np.log2(m) / 6)


def records(truth: Truth, rng, problems: int = PROBLEMS) -> list[dict]:
    """One synthetic study (rows as `scaling.testtime` writes them: the vote at M = 1 is the
    single sample, agents is the scheme judged)."""
    tiers = np.arange(problems) % TIERS
    target = [f"a{(7 * i + 3 * t) % ANSWERS}" for i, t in enumerate(tiers)]  # fixed answers
    p1 = rng.beta(*BETA, problems)
    base = rng.integers(4, 13, problems)
    rows = []
    for s in SEEDS:
        for m in MS:
            ok = rng.random(problems) < _success(p1, m, truth.lift)
            single = rng.random(problems) < p1
            lengths = base[:, None] + rng.poisson(truth.jitter, (problems, m))
            crit = lengths.max(1) * (1 + truth.stretch * np.log2(m) / 6)
            crit1 = base + rng.poisson(truth.jitter, problems)
            for i in range(problems):
                common = {"seed": s, "M": m, "problem": i, "tier": int(tiers[i]), "target": target[i]}
                rows.append({**common, "scheme": "agents", "correct": bool(ok[i]),
                             "tt/tokens_critical": float(crit[i])})
                if m == 1:
                    rows.append({**common, "scheme": "vote", "correct": bool(single[i]),
                                 "tt/tokens_critical": float(crit1[i])})
    return rows


def planted(truth: Truth, n: int = 200_000, seed: int = 0) -> dict:
    """The population's gain at M = 64 over a single sample and its critical-path ratio."""
    rng = np.random.default_rng(seed)
    p1 = rng.beta(*BETA, n)
    base = rng.integers(4, 13, n)
    crit = (base + rng.poisson(truth.jitter, (64, n)).max(0)) * (1 + truth.stretch)
    return {"gain": float(np.mean(_success(p1, 64, truth.lift) - p1)),
            "critical_ratio": float(crit.mean() / (base + rng.poisson(truth.jitter, n)).mean())}


def calibrate(draws: int = 200, seed: int = 0, truths=TRUTHS, n_boot: int = N_BOOT) -> list[dict]:
    """One row per truth: verdict counts over `draws` synthetic studies and the false-verdict rate."""
    out = []
    for k, truth in enumerate(truths):
        rng = np.random.default_rng([seed, k])
        counts = dict.fromkeys(rules.VERDICTS, 0)
        for d in range(draws):
            r = PC.parallel_claim(records(truth, rng), scheme="agents", n_boot=n_boot, seed=d)
            counts[r["verdict_scheme"]] += 1
        p = planted(truth)
        out.append({"claim": "parallel", "truth": truth.name, "claim_true": truth.claim_true, "draws": draws,
                    "planted_gain": round(p["gain"], 4), "planted_critical_ratio": round(p["critical_ratio"], 3),
                    **counts, "false_verdict": truth.false_verdict,
                    "false_rate": counts[truth.false_verdict] / draws})
    return out


def table(rows: list[dict]) -> list[str]:
    """The calibration table in lines."""
    out = [f"{'truth':<22} {'claim':>6} {'gain':>6} {'crit x':>7} {'draws':>5} {'SUP':>4} {'REF':>4} {'INC':>4} "
           f"{'false':>8}"]
    for r in rows:
        out.append(f"{r['truth']:<22} {str(r['claim_true']).lower():>6} {r['planted_gain']:>6.3f} "
                   f"{r['planted_critical_ratio']:>7.3f} {r['draws']:>5} {r['supported']:>4} {r['refuted']:>4} "
                   f"{r['inconclusive']:>4} {r['false_rate']:>7.1%} ({r['false_verdict']})")
    return out


if __name__ == "__main__":  # until the package's runner (`python -m scaling.calibration parallel`) is wired
    import argparse

    ap = argparse.ArgumentParser(prog="python -m scaling.calibration.parallel")
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print("\n".join(table(calibrate(args.draws, args.seed))))
