"""Cooldown branches: finished points, exact compute, the main line left untouched, a branch against a
separate run of its length, resume, and bad settings refused before anything trains."""

import numpy as np
import pytest

from scaling import config, flops, records
from scaling.errors import ConfigError
from scaling.schedule import branches, lr_schedule
from scaling.train import train

BASE = {"data.world": "kinds", "data.text_len": 10, "data.kinds": 2000, "data.val_examples": 32,
        "model.width": 16, "train.batch_size": 8, "train.eval_batch_size": 32, "train.eval_points": 3,
        "optim.schedule": "wsd", "optim.decay": 0.25, "optim.warmup": 0.02, "train.checkpoint_every": 1000}
STEPS = 160
MEASURED = ("time/", "throughput/")


def _cfg(**extra):
    cfg = config.load(None, BASE)
    per_step = flops.step_cost(cfg).tokens
    return config.load(None, {**BASE, "train.tokens": STEPS * per_step, **extra})


def _stable(recs):
    return [{k: v for k, v in r.items() if not k.startswith(MEASURED)} for r in recs]


def test_branch_plan_has_the_shape_of_whole_wsd_runs():
    cfg = _cfg(**{"train.branches": 2})
    plan = branches(cfg.optim, cfg.train, STEPS)
    assert [(b.start, b.end) for b in plan] == [(30, 40), (60, 80)]
    # the run's own decay follows the same rule: it starts decay * steps before the end
    lr = lr_schedule(cfg.optim, STEPS)
    assert lr(119) == cfg.optim.lr and lr(120) < cfg.optim.lr and lr(STEPS - 1) == pytest.approx(
        cfg.optim.lr * cfg.optim.final_lr_frac)


BRANCHED = {"train.branches": 2, "train.checkpoint_every": 25}  # checkpoints for the resume test


@pytest.fixture(scope="module")
def branched(tmp_path_factory):
    """(summary, folder) of the two-branch run, trained once for the tests that only read it."""
    run = tmp_path_factory.mktemp("branched") / "run"
    return train(_cfg(**BRANCHED), run), run


def test_branch_records_are_finished_points_with_exact_compute(branched):
    cfg = _cfg(**BRANCHED)
    summary = branched[0]
    recs = records.read_metrics(branched[1])
    cost = flops.step_cost(cfg)
    finished = [r for r in recs if r["point"] == "finished"]
    assert [r["step"] for r in finished] == [40, 80, STEPS]
    assert [r.get("branch/start_step") for r in finished] == [30, 60, None]
    assert {r["point"] for r in recs} == {"finished", "mid"}
    spent = [r["compute/flops_spent"] for r in recs]
    assert spent == sorted(spent)
    assert spent[-1] == (STEPS + 10 + 20) * cost.flops == summary["steps_spent"] * cost.flops
    for r in recs:
        assert r["compute/flops"] == r["step"] * cost.flops
        assert r["seed"] == cfg.seed and r["config_id"] == config.config_id(cfg)
        assert r["data/entropy_floor/caption"] == pytest.approx(3 * 1.1569500642 / 6, rel=1e-9)
    assert finished[0]["opt/lr"] == pytest.approx(cfg.optim.lr * cfg.optim.final_lr_frac)
    assert summary["final"]["step"] == STEPS and summary["final"]["point"] == "finished"
    # later branches reach lower losses
    losses = [r["eval/loss/caption"] for r in finished]
    assert losses[0] > losses[1] > losses[2]


def test_branches_leave_the_main_line_untouched(branched, tmp_path):
    with_branches = branched[0]
    plain = train(_cfg(), tmp_path / "p")
    a = {k: v for k, v in with_branches["final"].items() if k.startswith("eval/")}
    b = {k: v for k, v in plain["final"].items() if k.startswith("eval/")}
    assert a == b  # bit-identical: a branch returns the exact stable state


def test_a_branch_equals_a_separate_run_of_its_length_without_warmup(tmp_path):
    cfg = _cfg(**{"train.branches": 1, "optim.warmup": 0.0})
    train(cfg, tmp_path / "b")
    branch = next(r for r in records.read_metrics(tmp_path / "b") if r.get("branch/start_step") is not None)
    short = _cfg(**{"optim.warmup": 0.0, "train.tokens": branch["step"] * flops.step_cost(cfg).tokens})
    alone = train(short, tmp_path / "s")["final"]
    for split in ("caption", "qa", "text", "interleaved"):
        assert branch[f"eval/loss/{split}"] == alone[f"eval/loss/{split}"]


def test_branch_runs_are_deterministic(branched, tmp_path):
    cfg = _cfg(**BRANCHED)
    train(cfg, tmp_path / "b")  # a second, separate training of the fixture's config
    assert _stable(records.read_metrics(branched[1])) == _stable(records.read_metrics(tmp_path / "b"))


def test_resume_inside_a_branch_gives_the_same_records(branched, tmp_path):
    cfg = _cfg(**BRANCHED)  # the whole run is the fixture's

    class Kill(Exception):
        pass

    seen = []

    def kill_after_second_finished(step, steps, rec):
        seen.append(rec["point"])
        if seen.count("finished") == 2:
            raise Kill

    with pytest.raises(Kill):
        train(cfg, tmp_path / "cut", progress=kill_after_second_finished)
    assert not records.is_committed(tmp_path / "cut")
    train(cfg, tmp_path / "cut")
    assert _stable(records.read_metrics(tmp_path / "cut")) == _stable(records.read_metrics(branched[1]))


@pytest.mark.parametrize("extra,culprit", [
    ({"train.branches": 2, "optim.schedule": "cosine"}, "train.branches"),
    ({"train.branches": 2, "optim.decay": 1.0}, "optim.decay"),
    ({"train.branches": 2, "optim.decay": 0.0}, "optim.decay"),
    ({"train.branches": 2, "train.branch_spacing": 1.0}, "train.branch_spacing"),
    ({"train.branches": -1}, "train.branches"),
    ({"train.branches": 7}, "train.branches"),  # the earliest would start inside the warmup
])
def test_bad_branch_settings_are_refused_before_training(tmp_path, extra, culprit):
    with pytest.raises(ConfigError, match=culprit):
        train(_cfg(**extra), tmp_path / "run")
    assert not (tmp_path / "run").exists()


DEMO = {"data.world": "kinds", "data.text_len": 10, "data.val_examples": 256, "data.mix_caption": 0.5,
        "data.mix_qa": 0.2, "data.mix_text": 0.2, "data.mix_interleaved": 0.1, "model.family": "early",
        "model.width": 16, "optim.lr": 5e-3, "optim.schedule": "wsd", "optim.decay": 0.2, "optim.warmup": 0.005,
        "train.tokens": 1_200_000, "train.batch_size": 20, "train.eval_points": 1, "train.eval_batch_size": 256,
        "train.checkpoint_every": 5000}


@pytest.mark.slow
def test_cooldown_branches_match_separate_runs_within_the_seed_spread(tmp_path):
    """The anchor of finished points (Hägele et al. 2024), at the demo's settings (its smallest
    early-fusion model): with 3 seeds, a branch ending at D tokens against a separate WSD run of D
    tokens (same size and schedule shape; only the warmup, 0.5% of each run, differs) at D = 1/8,
    1/4 and 1/2 of the run: the mean gap lies within the seed spread. With the warmup matched in
    steps the two are the same computation (`test_a_branch_equals_a_separate_run_...`)."""
    gaps, alone_losses, ends = [], [], []
    for seed in range(3):
        cfg = config.load(None, {**DEMO, "train.branches": 3, "seed": seed})
        train(cfg, tmp_path / f"b{seed}")
        recs = [r for r in records.read_metrics(tmp_path / f"b{seed}") if r.get("branch/start_step") is not None]
        row = []
        for r in recs:
            tokens = r["step"] * flops.step_cost(cfg).tokens
            alone = train(config.load(None, {**DEMO, "seed": seed, "train.tokens": tokens}),
                          tmp_path / f"s{seed}-{r['step']}")["final"]
            row.append((r["eval/loss/caption"], alone["eval/loss/caption"]))
        ends = [r["step"] for r in recs]
        gaps.append([b - a for b, a in row])
        alone_losses.append([a for _, a in row])
    gaps, alone_losses = np.array(gaps), np.array(alone_losses)
    assert gaps.shape == (3, 3)
    seed_sd = alone_losses.std(axis=0, ddof=1)  # spread of the separate runs' losses over seeds, per D
    print("D steps:", ends, "gap mean:", gaps.mean(0), "gap sd:", gaps.std(0, ddof=1), "seed sd:", seed_sd)
    assert (np.abs(gaps.mean(axis=0)) <= seed_sd).all()
