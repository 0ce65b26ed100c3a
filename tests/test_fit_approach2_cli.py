"""`scaling fit --law approach2`: intervals from resampling seeds of an isoFLOP grid, around a
planted compute-optimal exponent."""

import json

import numpy as np
import pandas as pd

from scaling.cli import main


def test_approach2_intervals_cover_the_planted_exponent(tmp_path, capsys):
    # L(N, D) = E + A/N^alpha + B/D^beta with alpha = beta: N*(C) ∝ C^0.5 exactly
    rng = np.random.default_rng(0)
    rows = []
    for budget in (1e15, 1e16, 1e17, 1e18):
        n_opt = np.sqrt(budget / 6)
        for n in n_opt * np.geomspace(0.25, 4, 7):
            d = budget / (6 * n)
            for seed in range(3):
                loss = 1.7 + 400 / n ** 0.34 + 400 / d ** 0.34 + rng.normal(0, 0.002)
                rows.append({"run": f"{budget:g}-{n:.0f}-{seed}", "config_id": f"{budget:g}-{n:.0f}",
                             "budget": budget, "compute/flops": budget * (1 + rng.normal(0, 0.005)),
                             "params/total": n, "tokens/total": d, "loss": loss})
    path = tmp_path / "iso.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    assert main(["fit", str(path), "--law", "approach2", "--y", "loss", "--bootstrap", "200", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    lo, hi = out["intervals"]["a"]
    assert lo < out["params"]["a"] < hi and lo < 0.5 < hi and hi - lo < 0.1
    assert out["n_budgets"] == 4 and "seeds within each of 28 configurations" in out["resampled"]
