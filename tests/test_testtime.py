"""Test-time scaling: aggregation rules, the study's accounting against independent counts, its
FLOPs against XLA's cost analysis, a reasoning RL run feeding it, and bad input (exit 2)."""

import json

import jax
import numpy as np
import pytest
from flax import nnx

from chain_vocab import chain_vocabulary
from scaling import config, records
from scaling import rl
from scaling.cli import main
from scaling.errors import DataError
from scaling.models import build
from scaling.rl import flops as rlflops
from scaling.rl import problems as P
from scaling.testtime import aggregate, load_run, run, schemes
from scaling.train import train

PRE = {"model.width": 32, "data.val_examples": 16, "train.batch_size": 8, "train.eval_batch_size": 16,
       "train.tokens": 8 * 320 * 12, "train.eval_points": 2}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny pretrained run (and an RL run from it on reasoning problems) in the chain vocabulary."""
    with chain_vocabulary():
        P._build_reasoning.cache_clear()
        root = tmp_path_factory.mktemp("tt")
        assert train(config.load(None, PRE), root / "pre")["status"] == "done"
        cfg = rl.load(None, {"steps": 3, "checkpoint_every": 10, "problems.kind": "reasoning",
                             "problems.train": 16, "problems.heldout": 8, "problems.difficulty": "1,2",
                             "grpo.problems": 4, "sampling.group": 4, "sampling.max_len": 10, "eval.samples": 4,
                             "eval.k": "1,4", "eval.train_problems": 4, "eval.chunk": 4, "eval.points": 2,
                             "grpo.length_penalty": "kimi", "grpo.length_coef": 0.5})
        summary = rl.run(cfg, root / "rl", root / "pre")
        yield root, summary
        P._build_reasoning.cache_clear()


def test_vote_and_summary_rules():
    u = aggregate.UNFINISHED
    assert aggregate.majority(["b", "a", "a", "b", "c"]) == "b"  # tie: the first to appear
    assert aggregate.majority([f"a {u}", f"a {u}", "c"]) == "c"  # unfinished answers never win
    assert aggregate.majority([f"x {u}", ""]) == ""
    assert aggregate.summary(["two", "one", "two", "red circle", "red circle", "red circle"], 2, 9) == \
        ["red circle", "two"]
    assert aggregate.summary(["red circle", "two"], 2, 1) == ["two"]  # bounded: what overflows is left out
    prompt = np.array([[5, 9, 9, 2, 0, 0, 0, 0]])
    enc = {"x": [7], "y z": [8, 8]}.__getitem__
    out, n = aggregate.summary_prompt(prompt, 4, ["x", "y z"], enc, 2, room=1)
    assert out.tolist() == [[5, 9, 9, 7, 8, 8, 2, 0]] and n == 7
    out, n = aggregate.summary_prompt(prompt, 4, ["x", "y z"], enc, 2, room=2)  # more room for the answer: fewer words
    assert out.tolist() == [[5, 9, 9, 7, 2, 0, 0, 0]] and n == 5


def test_reasoning_rl_run_records_thinking_and_truncation(world):
    root, summary = world
    assert summary["status"] == "done"
    recs = records.read_metrics(root / "rl")
    for r in recs:
        for name in ("train", "heldout"):
            assert 0 <= r[f"eval/truncated/{name}"] <= 1 and 0 <= r[f"eval/chain_valid/{name}"] <= 1
            assert 0 <= r[f"eval/think/{name}/mean"] <= 10
            for label in ("correct", "incorrect"):
                q = [r[f"eval/think/{name}/{label}/q{p}"] for p in (10, 50, 90)]
                if q[0] is not None:  # NaN (no such answers) is stored as null
                    assert q[0] <= q[1] <= q[2]
            assert 0 <= r[f"eval/pass@1/{name}"] <= r[f"eval/pass@4/{name}"] <= 1


def test_study_accounting_against_independent_counts(world, tmp_path):
    root, _ = world
    with chain_vocabulary():
        loaded = load_run(root / "rl")
        assert loaded.stage == "rl" and loaded.rl.problems.kind == "reasoning"
        probs = P.build(loaded.model_cfg.data, loaded.rl.problems, "heldout")
        rows, xla = schemes.evaluate(loaded, probs, [1, 2, 4], [0, 1], max_len=10)
    n = len(probs)
    assert len(rows) == 2 * 3 * n * 3 and len(xla) == 2 * 3 * 2
    pre, step = rlflops.prefill(loaded.model_cfg), rlflops.decode_step(loaded.model_cfg)
    by = {(r["seed"], r["M"], r["problem"], r["scheme"]): r for r in rows}
    for seed in (0, 1):
        for m in (1, 2, 4):
            vote = [by[seed, m, i, "vote"] for i in range(n)]
            # the loop runs until the longest row of the batch is done: steps = longest - 1
            longest = max(r["tt/tokens_critical"] for r in vote)
            assert sum(r["tt/flops"] for r in vote) == pytest.approx(n * pre + (longest - 1) * n * m * step)
            for i in range(n):
                v, b, a = by[seed, m, i, "vote"], by[seed, m, i, "best"], by[seed, m, i, "agents"]
                assert b["correct"] >= v["correct"]  # a correct vote means some sample is correct
                assert b["correct"] == (b["n_correct"] > 0) and 0 <= b["n_correct"] <= m
                assert v["tt/tokens_critical"] <= v["tt/tokens_total"] <= m * v["tt/tokens_critical"]
                assert m * 1 <= v["tt/tokens_total"] <= m * 10
                if m == 1:
                    assert v["correct"] == b["correct"] and v["tt/tokens_total"] == v["tt/tokens_critical"]
                fl = a["tt/tokens_total"] - v["tt/tokens_total"]
                assert 1 <= fl <= 10 and a["tt/tokens_critical"] == v["tt/tokens_critical"] + fl
                assert (v["tt/rounds"], a["tt/rounds"], a["tt/branches"]) == (1, 2, m)
                assert a["tt/latency_s"] > v["tt/latency_s"] > 0
                # the query's latency: its critical path at the device's tau for its own batch (M rows; 1 in round 2)
                assert v["tt/latency_s"] == pytest.approx(v["tt/tokens_critical"] * v["tt/step_s"])
                tau1 = by[seed, 1, i, "vote"]["tt/step_s"]
                assert a["tt/latency_s"] == pytest.approx(v["tt/latency_s"] + fl * tau1)
                assert v["tt/step_lo_s"] <= v["tt/step_s"] <= v["tt/step_hi_s"]
                assert b["selection"] == "oracle (upper bound)" and v["target"] == probs.answers[i]
    # same seed: same samples (keys are explicit); another seed: other samples
    with chain_vocabulary():
        again, _ = schemes.evaluate(loaded, probs, [2], [1], max_len=10)
    timed = ("tt/latency_s", "tt/step_s", "tt/step_lo_s", "tt/step_hi_s", "tt/batch_wall_s")
    strip = lambda rs: [{k: v for k, v in r.items() if k not in timed} for r in rs]  # noqa: E731
    assert strip(again) == strip([r for r in rows if r["seed"] == 1 and r["M"] == 2])


def test_decode_step_time_per_batch_size(world):
    """tau(B) on the tiny model: one row per batch size, >= 10 timed repeats; no timed assertion."""
    from scaling.testtime import latency

    root, _ = world
    with chain_vocabulary():
        loaded = load_run(root / "rl")
        probs = P.build(loaded.model_cfg.data, loaded.rl.problems, "heldout")
        table = latency.measure(loaded, probs, [4, 1, 4], repeats=10)
    assert [t["B"] for t in table] == [1, 4] and all(t["repeats"] == 10 for t in table)
    assert all(0 < t["lo_s"] <= t["tau_s"] <= t["hi_s"] for t in table)
    assert latency.knee([t["B"] for t in table], [t["tau_s"] for t in table], 1.25) in (1, 4)
    with pytest.raises(DataError, match="--repeats"):
        latency.measure(loaded, probs, [1], repeats=9)


@pytest.mark.parametrize("family", ["early", "blind"])  # late: same counts, covered by test_rl_flops
def test_testtime_flops_match_xla(family):
    cfg = config.load(None, {"model.family": family, "model.width": 128})
    graphdef, params = nnx.split(build(cfg, 0), nnx.Param)
    probs = P.build(cfg.data, rl.load(None, {"problems.train": 4, "problems.heldout": 4,
                                             "grpo.problems": 4}).problems, "heldout")
    for m in (1, 8):
        d = schemes.decode(graphdef, params, cfg, probs, jax.random.key(0), m, 6, 1.0)
        assert abs(d["xla"] / d["xla_model"] - 1) < 0.05, (family, m, d["xla"] / d["xla_model"])


def test_cli_records_resume_and_bad_input(world, tmp_path, capsys):
    root, _ = world
    with chain_vocabulary():
        out = tmp_path / "tt"
        args = ["testtime", str(root / "pre"), "--out", str(out), "--m", "1,2", "--problems", "4"]
        assert main(args) == 0
        text = capsys.readouterr().out
        assert "agents" in text and "XLA/analytic" in text
        s = json.loads((out / "summary.json").read_text())
        assert s["status"] == "done" and s["stage"] == "pretrain" and s["M"] == [1, 2]
        rows = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
        assert len(rows) == 2 * 4 * 3
        mtime = (out / "records.jsonl").stat().st_mtime
        assert main(args) == 0 and (out / "records.jsonl").stat().st_mtime == mtime  # done: nothing rerun
        assert main(args[:-1] + ["3"]) == 2
        assert "holds another test-time study (differs in problems)" in capsys.readouterr().err
        assert main(["testtime", str(root / "pre"), "--out", str(tmp_path / "a"), "--m", "4,0"]) == 2
        assert "M must be positive, got 0" in capsys.readouterr().err
        for bad, named in ((["--problems", "0"], "--problems"), (["--set", "val"], "--set"),
                           (["--kind", "essay"], "--kind"), (["--max-len", "1"], "--max-len"),
                           (["--m", "1,x"], "--m"), (["--repeats", "9"], "--repeats")):
            assert main(["testtime", str(root / "pre"), "--out", str(tmp_path / "e"), *bad]) == 2
            assert named in capsys.readouterr().err
        blocker = tmp_path / "blocker"
        blocker.write_text("")
        assert main(["testtime", str(root / "pre"), "--out", str(blocker / "tt"), "--m", "1"]) == 2
        assert "not writable" in capsys.readouterr().err
        assert not (tmp_path / "e").exists()
        assert main(["testtime", str(tmp_path / "none"), "--out", str(tmp_path / "b")]) == 2
        assert "no such run directory" in capsys.readouterr().err
        half = tmp_path / "half"
        half.mkdir()
        (half / "config.json").write_text((root / "pre" / "config.json").read_text())
        assert main(["testtime", str(half), "--out", str(tmp_path / "c")]) == 2
        assert "unfinished" in capsys.readouterr().err
    # a model without the chain format's tokens: named, exit 2 (a pretrained run built in a vocabulary
    # without them, asked for reasoning problems)
    with chain_vocabulary(False):
        P._build_reasoning.cache_clear()
        plain = tmp_path / "plain"
        assert train(config.load(None, {**PRE, "train.tokens": 8 * 320 * 2}), plain)["status"] == "done"
        rc = main(["testtime", str(plain), "--out", str(tmp_path / "d"), "--m", "1", "--kind", "reasoning"])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and str(plain) in err[0] and "<think>" in err[0]
    P._build_reasoning.cache_clear()
    # final/ replaced by another run's parameters after the commit: refused, naming it
    import shutil

    swapped = tmp_path / "swapped"
    shutil.copytree(root / "pre", swapped)
    shutil.rmtree(swapped / "final")
    shutil.copytree(plain / "final", swapped / "final")
    assert main(["testtime", str(swapped), "--out", str(tmp_path / "f"), "--m", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{swapped / 'final'}: the final parameters changed after the run was committed" in err[0]
    assert not (tmp_path / "f").exists()


def test_rl_report_trajectories_claims_and_study(world, tmp_path):
    """`scaling report` on an RL sweep (scaling.report.rl): trajectories, claims, the study of the named run."""
    import shutil

    import pandas as pd

    from scaling.report import rl as report_rl
    from scaling.errors import ConfigError

    root, _ = world
    rid = json.loads((root / "rl" / "config.json").read_text())["run_id"]
    runs = tmp_path / "sweep"
    shutil.copytree(root / "rl", runs / "runs" / rid)
    rng, rows = np.random.default_rng(0), []
    for lam in (0.0, 0.5):
        for seed in range(3):
            for j, step in enumerate([0, 1, 2, 3, 5, 8, 13, 20, 30, 40]):
                rows.append({"run_id": rid if (lam, seed) == (0.5, 0) else f"r{lam}{seed}", "seed": seed,
                             "grpo.length_coef": lam, "step": step, "rl/flops": step * 1e9,
                             "eval/think/heldout/mean": 5 + j * (lam - 0.2) + rng.normal(0, 0.3),
                             "eval/pass@1/heldout": 0.2 + 0.02 * j + rng.normal(0, 0.01),
                             "eval/pass@16/heldout": 0.6 + 0.02 * j + rng.normal(0, 0.01)})
    df = pd.DataFrame(rows)
    cfg = report_rl.settings({"group": "grpo.length_coef", "length": "eval/think/heldout/mean", "min_seg": 2,
                              "bootstrap": 50, "testtime": {"run": {"grpo.length_coef": 0.5, "seed": 0}, "m": "1,2",
                                                            "problems": 4}}, "t.yaml")
    with chain_vocabulary():
        res = report_rl.write(df, tmp_path / "rep", cfg, runs=runs, sweep_name="t", timings={})
    traj = {(t["group"], t["seed"]): t for t in res["trajectories"]}
    assert len(traj) == 6 and traj[0.5, 0]["start"] == rows[30]["eval/think/heldout/mean"]
    assert traj[0.0, 1]["min"] == min(r["eval/think/heldout/mean"] for r in rows[10:20])
    assert set(res["phases"]["metrics"]) == {"0.0/eval/think/heldout/mean", "0.5/eval/think/heldout/mean"}
    assert len(res["loglinear"]["metrics"]) == 4
    # the report's verdicts are the registry's records: same verdicts as its payloads, one schema
    from scaling.claims import record

    claims = [record.validate(r)["claim"] for r in res["verdicts"]]
    assert claims == ["phases", "loglinear", "gain", "parallel", "parallel", "parallel"]
    by_claim = {r["claim"]: r for r in res["verdicts"]}
    assert by_claim["phases"]["verdicts"] == {k: m["verdict"] for k, m in res["phases"]["metrics"].items()}
    assert by_claim["loglinear"]["verdict"] == res["loglinear"]["combined"]
    assert [r["subject"] for r in res["verdicts"][3:]] == ["scheme vote", "scheme best", "scheme agents"]
    assert (runs / "testtime" / rid / "summary.json").is_file() and res["testtime"]["run_id"] == rid
    md = (tmp_path / "rep" / "summary.md").read_text()
    assert "parallel claim" in md and "## Phase claim" in md and "log-linear claim" in md
    with pytest.raises(ConfigError, match="matches 0 runs"):
        report_rl.pick_run(df, {"seed": 7})
    with pytest.raises(ConfigError, match="report.testtime.m"):
        report_rl.settings({"testtime": {"run": {"seed": 0}, "m": "1,x"}}, "t.yaml")


@pytest.mark.slow
def test_notebook_runs_top_to_bottom(world, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from pathlib import Path

    root, _ = world
    with chain_vocabulary():
        run(root / "pre", tmp_path / "tt", ms=[1, 2, 4], seeds=[0, 1], n_problems=4)
    monkeypatch.setenv("SCALING_TESTTIME", str(tmp_path / "tt"))
    monkeypatch.setenv("SCALING_RL_SWEEP", str(tmp_path / "no_rl_runs"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nbdir = Path(__file__).resolve().parents[1] / "notebooks"
    nb = nbformat.read(nbdir / "testtime.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(nbdir)}}).execute()
    outs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outs)
    assert "'verdict': 'supported'" in text and "parallel claim" in text
