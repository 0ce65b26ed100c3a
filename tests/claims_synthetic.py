"""Synthetic sweeps with a planted compute multiplier (shared by the claims tests)."""

import numpy as np
import pandas as pd

# A Chinchilla-like surface in (params, tokens); compute = 6 N D.
E, A, B, ALPHA, BETA = 1.7, 400.0, 1200.0, 0.34, 0.30


def runs(recipe: str, k: float, seed: int, sizes=np.geomspace(2e6, 6e7, 8), lrs=(1.0, 1.15),
         evals: int = 8, noise: float = 0.004, run_noise: float = 0.004) -> pd.DataFrame:
    """One row per evaluation. The recipe reaches each loss with `k` times less compute than k=1."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        d_max = 20 * n * 3
        for lr_penalty in lrs:  # a worse learning rate: a run above the frontier
            run = f"{recipe}-{n:.3g}-{lr_penalty}-{seed}"
            offset = rng.normal(0, run_noise)
            for d in np.geomspace(d_max / 2 ** (evals - 1), d_max, evals):
                loss = (E + A / n**ALPHA + B / d**BETA) * lr_penalty ** 0.1
                loss *= np.exp(offset + rng.normal(0, noise))
                rows.append({"run_id": run, "recipe": recipe, "compute/flops": 6 * n * d / k,
                             "params/total": n, "eval/loss/caption": loss})
    return pd.DataFrame(rows)
