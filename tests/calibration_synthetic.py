"""Synthetic sweeps with a known compute multiplier, seeds and run-level noise (calibration).

Every configuration (a size at a learning rate) has finished points at two budgets (cooldown
branches at half and all of its compute) on L(C) = E + A (k C)^-alpha, times a learning-rate
penalty; each run (seed) has one noise offset shared by its points, plus small point noise.
Both recipes use the same compute grid (paired), so the true multiplier is exactly k at every loss.
"""

import numpy as np
import pandas as pd

E, A, ALPHA = 1.8, 300.0, 0.15


def sweep(recipe: str, k: float, rng, *, sizes: int = 6, seeds: int = 3, run_noise: float = 0.003,
          point_noise: float = 0.001, E_=E, lrs=(1.04, 1.0, 1.1)) -> pd.DataFrame:
    """One row per finished point, with the record contract's columns."""
    rows = []
    for i, c_top in enumerate(np.geomspace(1e15, 1e18, sizes)):
        for lr_i, pen in enumerate(lrs):
            cfg = f"{recipe}-s{i}-lr{lr_i}"
            for s in range(seeds):
                off = rng.normal(0, run_noise)
                for frac in (0.5, 1.0):
                    C = c_top * frac
                    L = (E_ + A * (k * C) ** -ALPHA) * pen * np.exp(off + rng.normal(0, point_noise))
                    rows.append({"run_id": f"{cfg}-{s}", "config_id": cfg, "seed": s, "recipe": recipe,
                                 "point": "finished", "compute/flops": C, "params/total": 1e6 * 10 ** i,
                                 "model.width": 64 * (i + 1), "optim.lr": 1e-3 * (lr_i + 1),
                                 "step": int(frac * 1000), "eval/loss/caption": L})
    return pd.DataFrame(rows)


def pair(k: float, seed: int, **kw) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.concat([sweep("base", 1.0, rng, **kw), sweep("cand", k, rng, **kw)], ignore_index=True)
