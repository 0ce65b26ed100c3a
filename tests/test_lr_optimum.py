"""The learning-rate optimum on a planted truth: loss = a power law in N·D plus a bowl in log(lr)
around lr*(N, D) = c·N^a·D^b, seed offsets shared by a seed's runs, point noise. The fit must find
the planted optimum and exponents inside its intervals, flag a grid that misses the optimum, and
leave a sweep with one learning rate per configuration alone."""

import numpy as np
import pandas as pd
import pytest

from scaling.errors import DataError, FitError
from scaling.fit import lr_optimum as lo
from scaling.fit.frontier import lr_edge_warnings

A, B, C = -0.5, -0.1, 0.3
Y = "eval/loss/caption"
POINTS = ((100, 5e5), (200, 1e6), (300, 2e6), (400, 4e6))  # (step, tokens): a run's finished points


def planted(N, D, a=A):
    return C * N**a * D**B


def ladder(rng, *, a=A, widths=(16, 24, 32, 48), seeds=5, n_lrs=5, shift=None, point_noise=0.002,
           recipe="r", mid=False):
    """Each width's grid: n_lrs rates a factor 2 apart around its final point's optimum (times
    1.13, so the optimum is not a grid point), times ``shift[width]``."""
    rows = []
    for w in widths:
        N = 1000.0 * w**2
        grid = planted(N, POINTS[-1][1], a) * 1.13 * (shift or {}).get(w, 1.0) * 2.0 ** (np.arange(n_lrs) - (n_lrs - 1) / 2)
        for s in range(seeds):
            off = rng.normal(0, 0.004)  # one offset per seed, shared by its learning rates and points
            for lr in grid:
                run = f"{recipe}{w}-{lr:.4g}-{s}"
                for step, D in POINTS:
                    bowl = 0.05 * np.log(lr / planted(N, D, a)) ** 2
                    L = (0.6 + 50 * (N * D) ** -0.15 + bowl) * np.exp(off + rng.normal(0, point_noise))
                    rows.append({"run_id": run, "recipe": recipe, "seed": s, "model.width": w, "optim.lr": lr,
                                 "step": step, "point": "finished", "params/total": N, "tokens/total": D,
                                 "compute/flops": 6 * N * D, Y: L})
                if mid:
                    rows.append({**rows[-1], "step": 50, "point": "mid", Y: rows[-1][Y] * 1.3})
    return pd.DataFrame(rows)


def test_quadratic_optimum_closed_form():
    u = np.log([1e-3, 2e-3, 4e-3, 8e-3])
    u0 = np.log(3e-3)
    bowl = 1.0 + 0.2 * (u - u0) ** 2
    us, ls, edge = lo.optima(u, bowl[None])
    assert us[0] == pytest.approx(u0, abs=1e-12) and ls[0] == pytest.approx(1.0, abs=1e-12) and not edge[0]
    # not a bowl: the best rate tried, flagged at the edge; two rates: always the edge
    us, ls, edge = lo.optima(u, (2.0 - 0.1 * (u - u0) ** 2)[None])
    assert us[0] == u[0] and edge[0]  # the rate tried farthest from u0
    us, ls, edge = lo.optima(u[:2], np.array([[1.0, 0.9]]))
    assert us[0] == u[1] and ls[0] == 0.9 and edge[0]
    # vertex beyond the grid: the best rate tried
    us, _, edge = lo.optima(u, (1.0 + 0.2 * (u - np.log(0.1)) ** 2)[None])
    assert us[0] == u[-1] and edge[0]


def test_planted_optimum_and_exponents_recovered():
    res = lo.lr_optimum(ladder(np.random.default_rng(0)), Y, n_boot=400)
    f = res["fits"]["r"]
    assert f["terms"] == ["params", "tokens"] and f["n_points"] == 16 and f["n_edge_left_out"] == 0
    for name, truth in (("a", A), ("b", B), ("log_c", np.log(C))):
        lo_, hi_ = f["intervals"][name]
        assert lo_ <= truth <= hi_, name
    assert abs(f["params"]["a"] - A) < 0.01 and abs(f["params"]["b"] - B) < 0.01
    assert not res["warnings"]
    cover = [r["lr_lo"] <= planted(r["params"], r["tokens"]) <= r["lr_hi"] for r in res["cells"]]
    assert np.mean(cover) >= 0.75
    for r in res["cells"]:  # the frontier's rate: the one tried nearest the optimum, all seeds kept
        nearest = r["lrs"][int(np.argmin(np.abs(np.log(r["lrs"]) - np.log(planted(r["params"], r["tokens"])))))]
        assert r["lr_chosen"] == nearest and len(r["runs_chosen"]) == 5
    t = lo.transfer_check(f)
    assert not t["flat"] and t["drift"] and t["interval"][1] < 0


def test_exponent_interval_covers_the_planted_truth():
    """Coverage over independent ladders: the interval of a is a 95% one, so (almost) all cover."""
    hits = 0
    for i in range(12):
        f = lo.lr_optimum(ladder(np.random.default_rng(100 + i), point_noise=0.003), Y, n_boot=100, seed=i)["fits"]["r"]
        hits += f["intervals"]["a"][0] <= A <= f["intervals"]["a"][1]
    assert hits >= 10


def test_flat_optimum_passes_the_transfer_check():
    f = lo.lr_optimum(ladder(np.random.default_rng(1), a=0.0), Y, n_boot=200)["fits"]["r"]
    t = lo.transfer_check(f)
    assert t["flat"] and not t["drift"] and t["interval"][0] <= 0 <= t["interval"][1] and t["max_change"] < 1.2
    assert "flat when" in t["test"]


def test_a_small_well_measured_drift_still_transfers_and_a_wide_interval_does_not():
    """Equivalence, not significance: a drift the interval resolves but well inside the tolerance is
    flat (and reported as a drift); a tolerance below what the interval allows is not met."""
    f = lo.lr_optimum(ladder(np.random.default_rng(2), a=0.03, point_noise=0.0005), Y, n_boot=200)["fits"]["r"]
    t = lo.transfer_check(f)
    assert t["flat"] and t["max_change"] <= lo.TRANSFER_TOLERANCE
    strict = lo.transfer_check(f, tolerance=1.0 + (t["max_change"] - 1.0) / 2)
    assert not strict["flat"] and strict["max_change"] == t["max_change"]
    with pytest.raises(FitError):
        lo.transfer_check(f, tolerance=1.0)


def test_edge_warning_fires_and_edge_cells_leave_the_fit():
    df = ladder(np.random.default_rng(2), shift={48: 8.0})  # width 48's grid starts above its optimum
    res = lo.lr_optimum(df, Y, n_boot=100)
    assert len(res["warnings"]) == 1 and "model.width 48" in res["warnings"][0]
    assert "model.width 16" not in res["warnings"][0]
    assert res["fits"]["r"]["n_edge_left_out"] == 4 and res["fits"]["r"]["n_points"] == 12
    assert all(r["edge"] == (r["name"] == "model.width 48") for r in res["cells"])
    # the claim's warning is the same check
    assert lr_edge_warnings(df, "r", Y) == res["warnings"]


def test_one_rate_per_configuration_changes_nothing():
    df = ladder(np.random.default_rng(3), n_lrs=1)
    assert lo.lr_optimum(df, Y) is None
    assert lo.best_lr_rows(df, None) is df
    assert lr_edge_warnings(df, "r", Y) == []


def test_best_lr_rows_keep_real_runs_and_their_mid_points():
    df = ladder(np.random.default_rng(4), n_lrs=3, mid=True)
    res = lo.lr_optimum(df, Y, n_boot=50)
    kept = lo.best_lr_rows(df, res)
    fin = kept[kept["point"] == "finished"]
    assert set(kept.columns) == set(df.columns)
    # per (width, step) one learning rate, every seed
    per = fin.groupby(["model.width", "step"]).agg(lrs=("optim.lr", "nunique"), seeds=("seed", "nunique"))
    assert (per["lrs"] == 1).all() and (per["seeds"] == 5).all()
    for r in res["cells"]:
        w = int(r["name"].split()[-1])
        got = fin[(fin["model.width"] == w) & (fin["step"] == r["point"])]["optim.lr"].unique()
        assert got.tolist() == [r["lr_chosen"]]
    mid = kept[kept["point"] == "mid"]
    assert set(mid["run_id"]) <= set(fin[fin["step"] == 400]["run_id"]) and len(mid) == 4 * 5


def test_bad_input_is_a_data_error_naming_it():
    df = ladder(np.random.default_rng(5), widths=(16, 24), n_lrs=3)
    with pytest.raises(DataError, match="'optim.lr'"):
        lo.lr_optimum(df.drop(columns="optim.lr"), Y)
    bad = df.copy()
    bad.loc[3, Y] = -1.0
    with pytest.raises(DataError, match=Y):
        lo.lr_optimum(bad, Y)
    twice = pd.concat([df, df.iloc[[0]].assign(run_id="other")], ignore_index=True)
    with pytest.raises(DataError, match="a second run of one seed"):
        lo.lr_optimum(twice, Y)
    with pytest.raises(DataError, match="resamples"):
        lo.lr_optimum(df, Y, n_boot=3)
    # two sizes cannot carry a constant, a and b: the fit says so, the per-cell optima stand
    res = lo.lr_optimum(df[df["step"] == 400], Y, n_boot=50)
    assert "error" in res["fits"]["r"] and len(res["cells"]) == 2
    with pytest.raises(FitError, match="size"):
        lo.transfer_check(res["fits"]["r"])


def test_one_seed_gives_no_interval_rather_than_a_false_one():
    df = ladder(np.random.default_rng(6), seeds=1)
    res = lo.lr_optimum(df, Y, n_boot=50)
    assert all(np.isnan(r["lr_lo"]) and np.isnan(r["loss_hi"]) for r in res["cells"])
    f = res["fits"]["r"]
    assert abs(f["params"]["a"] - A) < 0.05 and all(np.isnan(v) for v in f["intervals"]["a"])
    with pytest.raises(FitError, match="no interval"):
        lo.transfer_check(f)
