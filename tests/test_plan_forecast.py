"""`scaling plan forecast`: the planner prefers a design that spans more compute, spends no more
than the budget, reads learning rates off the pilots, and refuses bad input in one line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scaling.cli import main
from scaling.fit.plan_forecast import ladder, plan

E, ALPHA = 1.8, 0.3
A = 1e15**ALPHA


def _pilots() -> pd.DataFrame:
    """4 computes x 2 seeds x 2 learning rates on L = E + A C^-alpha; lr 1e-3 is 0.02 worse."""
    rng = np.random.default_rng(0)
    rows = []
    for i, c in enumerate(np.geomspace(1e15, 1e16, 4)):
        for lr in (1e-3, 3e-3):
            for s in range(2):
                rows.append({"compute/flops": c, "params/total": np.sqrt(c / 120), "optim.lr": lr,
                             "run_id": f"r{i}-{lr}-{s}", "config_id": f"c{i}-{lr}",
                             "loss": E + A * c**-ALPHA + (0.02 if lr == 1e-3 else 0.0) + 0.01 * rng.normal()})
    return pd.DataFrame(rows)


def test_ladder_spends_the_budget_and_stops_at_the_target():
    runs = ladder(1e17, 4, 2, 100.0, cap=1e20, tpp=20.0)
    assert sum(r.compute * r.seeds for r in runs) == pytest.approx(1e17, rel=1e-12)
    assert runs[-1].compute / runs[0].compute == pytest.approx(100.0)
    assert all(r.tokens == pytest.approx(20 * r.params) and 6 * r.params * r.tokens == pytest.approx(r.compute)
               for r in runs)
    capped = ladder(1e17, 4, 1, 10.0, cap=1e16, tpp=20.0)
    assert capped[-1].compute == pytest.approx(1e16) and sum(r.compute for r in capped) < 1e17


def test_prefers_the_design_that_spans_more_compute():
    budget = 1e17
    p = plan(_pilots(), "power", {"compute": 1e18}, budget, y="loss", levels=(4,), seeds=(1,),
             spans=(2.0, 1000.0), n_sim=1, n_boot=50)
    widths = {d["span"]: d["width"] for d in p["candidates"]}
    assert p["best"]["span"] == 1000.0 and widths[1000.0] < widths[2.0]
    assert all(d["compute"] <= budget * (1 + 1e-12) for d in p["candidates"])
    assert all(r["compute"] <= 1e18 for d in p["candidates"] for r in d["runs"])
    # the pilots' better learning rate (3e-3 at every size) is the one proposed
    assert all(r["lr"] == pytest.approx(3e-3) for r in p["best"]["runs"])


@pytest.mark.parametrize("args, culprit", [
    (["--budget", "-1"], "--budget"),
    (["--budget", "0"], "--budget"),
    (["--budget", "inf"], "--budget"),
    (["--target", "compute=abc"], "--target"),
    (["--target", "flops=1e18"], "flops"),
    (["--y", "nope"], "nope"),
    (["--lr-col", "nope"], "--lr-col"),
    (["--x", "a,b"], "--x"),
    (["--bootstrap", "3"], "--bootstrap"),
    (["--law", "nope"], "nope"),
])
def test_bad_input_is_one_line(tmp_path, capsys, args, culprit):
    csv = tmp_path / "pilots.csv"
    _pilots().to_csv(csv, index=False)
    base = {"--target": "compute=1e18", "--budget": "1e17", "--y": "loss"}
    given = dict(zip(args[::2], args[1::2]))
    argv = ["plan", "forecast", str(csv)] + [t for k, v in {**base, **given}.items() for t in (k, v)]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and culprit in err[0] and "Traceback" not in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_cli_plans_within_the_budget(tmp_path, capsys):
    """The default candidate grid through the CLI (the shapes compiled above: a few seconds)."""
    import json

    csv = tmp_path / "pilots.csv"
    _pilots().to_csv(csv, index=False)
    assert main(["plan", "forecast", str(csv), "--target", "compute=1e18", "--budget", "1e17", "--y", "loss",
                 "--bootstrap", "50", "--simulations", "1", "--json"]) == 0
    p = json.loads(capsys.readouterr().out)
    widths = [d["width"] for d in p["candidates"]]
    assert len(widths) == 18 and p["best"]["width"] == min(widths) and p["best"]["width"] < p["pilot"]["hi"] - p["pilot"]["lo"]
    assert all(d["compute"] <= 1e17 * (1 + 1e-12) for d in p["candidates"])
