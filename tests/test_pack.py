"""Packs: members train together in one jitted step, yet each equals the same run trained alone.

The tolerance: a pack's batched (vmapped) matrix products may sum in another order than a lone
run's, a difference of about one float32 rounding (~1e-7 relative) per product. On this tiny
config (40 steps, 2 cooldown branches) the measured gap is at most 7e-7 relative on every float
(`-s` prints it); the test allows 1e-5, two orders of magnitude of growth over training. A lone run
(a pack of one) runs unbatched, and is checked bit for bit against a pack of one elsewhere:
everything in tests/test_train.py and tests/test_branches.py trains through `train_pack`.
"""

import math

import numpy as np
import pytest

from scaling import config, records
from scaling.errors import ConfigError
from scaling.pack import check_pack, pack_key
from scaling.sweep.engine import Job, pack_jobs
from scaling.train import train, train_pack

TINY = {"model.width": 16, "data.val_examples": 32, "train.batch_size": 8, "train.eval_batch_size": 32,
        "train.tokens": 8 * 320 * 40, "train.checkpoint_every": 9, "train.eval_points": 3,
        "optim.schedule": "wsd", "optim.decay": 0.2, "optim.warmup": 0.05, "train.branches": 2}
MEASURED = ("time/", "throughput/")
TOLERANCE = 1e-5


def _cfg(**extra):
    return config.load(None, {**TINY, **extra})


def _stable(recs):
    return [{k: v for k, v in r.items() if not k.startswith(MEASURED)} for r in recs]


MEMBERS = [{"seed": 1}, {"seed": 2, "optim.lr": 3e-3}, {"seed": 1, "optim.weight_decay": 0.3}]


def _gap(a: list[dict], b: list[dict]) -> float:
    """Largest relative difference between two runs' records; non-float fields must be equal."""
    assert len(a) == len(b)
    worst = 0.0
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            if isinstance(x[k], float) and not isinstance(x[k], bool):
                if math.isnan(x[k]):
                    assert math.isnan(y[k]), k
                    continue
                worst = max(worst, abs(x[k] - y[k]) / max(abs(x[k]), 1e-12))
            else:
                assert x[k] == y[k], k
    return worst


def test_members_equal_lone_runs(tmp_path):
    cfgs = [_cfg(**m) for m in MEMBERS]
    alone = [_stable(records.read_metrics(tmp_path / f"alone{i}")) for i, c in enumerate(cfgs)
             if train(c, tmp_path / f"alone{i}")["status"] == "done"]
    summaries = train_pack(cfgs, [tmp_path / f"pack{i}" for i in range(len(cfgs))])
    assert [s["status"] for s in summaries] == ["done"] * len(cfgs)
    assert all(s["pack"] == len(cfgs) for s in summaries)
    packed = [_stable(records.read_metrics(tmp_path / f"pack{i}")) for i in range(len(cfgs))]
    gaps = [_gap(a, p) for a, p in zip(alone, packed)]
    print(f"\npack of {len(cfgs)} vs lone runs: largest relative gap per member {gaps}")
    assert max(gaps) <= TOLERANCE
    assert len({r[-1]["eval/loss/caption"] for r in packed}) == len(cfgs)  # members really differ
    # determinism: the kill-and-resume test below trains a pack twice and compares bit for bit


@pytest.mark.slow
def test_a_diverging_member_stops_and_the_others_go_on(tmp_path):
    cfgs = [_cfg(seed=0), _cfg(seed=1, **{"optim.lr": 1e30}), _cfg(seed=2)]
    summaries = train_pack(cfgs, [tmp_path / f"m{i}" for i in range(3)])
    assert [s["status"] for s in summaries] == ["done", "diverged", "done"]
    bad = summaries[1]
    assert 1 <= bad["diverged_step"] <= bad["steps_planned"]
    lone = train(cfgs[1], tmp_path / "lone_bad")
    assert lone["status"] == "diverged" and lone["diverged_step"] == bad["diverged_step"]
    assert _stable(records.read_metrics(tmp_path / "m1")) == _stable(records.read_metrics(tmp_path / "lone_bad"))
    train(cfgs[2], tmp_path / "lone2")
    assert _gap(_stable(records.read_metrics(tmp_path / "lone2")), _stable(records.read_metrics(tmp_path / "m2"))) \
        <= TOLERANCE


class _Kill(Exception):
    pass


def _kill_at(n: int):
    seen = []

    def progress(step, steps, rec):
        seen.append(rec)
        if len(seen) == n:
            raise _Kill

    return progress


@pytest.mark.slow
def test_a_killed_pack_resumes_every_member_to_the_same_records(tmp_path):
    cfgs = [_cfg(seed=s) for s in range(3)]
    train_pack(cfgs, [tmp_path / f"ref{i}" for i in range(3)])
    ref = [_stable(records.read_metrics(tmp_path / f"ref{i}")) for i in range(3)]
    # killed twice (after the first branch's records, then later), resumed as the same pack: exact
    dirs = [tmp_path / f"run{i}" for i in range(3)]
    for n in (2 * len(cfgs) + 1, 2 * len(cfgs)):
        with pytest.raises(_Kill):
            train_pack(cfgs, dirs, progress=_kill_at(n))
        assert not any(records.is_committed(d) for d in dirs)
    assert [s["status"] for s in train_pack(cfgs, dirs)] == ["done"] * 3
    assert [_stable(records.read_metrics(d)) for d in dirs] == ref
    # killed, then two members resumed without the third (as after it committed): padded to the
    # size the pack checkpointed at, they train exactly as in the uninterrupted pack
    dirs = [tmp_path / f"pad{i}" for i in range(3)]
    with pytest.raises(_Kill):
        train_pack(cfgs, dirs, progress=_kill_at(2 * len(cfgs) + 1))
    assert [s["status"] for s in train_pack(cfgs[1:], dirs[1:])] == ["done"] * 2
    assert [_stable(records.read_metrics(d)) for d in dirs[1:]] == ref[1:]
    # killed, then one member resumed alone and the others as a pack of two (members restart from
    # different checkpoints): each still equals the uninterrupted pack within the tolerance
    dirs = [tmp_path / f"split{i}" for i in range(3)]
    with pytest.raises(_Kill):
        train_pack(cfgs, dirs, progress=_kill_at(2 * len(cfgs) + 1))
    train(cfgs[0], dirs[0])
    assert [s["status"] for s in train_pack(cfgs, dirs)] == ["done"] * 3
    assert max(_gap(r, _stable(records.read_metrics(d))) for r, d in zip(ref, dirs)) <= TOLERANCE


def test_runs_of_another_shape_never_share_a_pack():
    base = _cfg()
    assert pack_key(base) == pack_key(_cfg(seed=3, **{"optim.lr": 1e-2, "optim.weight_decay": 0.0}))
    for other in ({"model.width": 24}, {"train.tokens": 8 * 320 * 41}, {"train.batch_size": 4},
                  {"optim.decay": 0.3}, {"data.val_examples": 16}, {"model.dtype": "bfloat16"}):
        assert pack_key(base) != pack_key(_cfg(**other)), other
        with pytest.raises(ConfigError, match="pack: runs differ in"):
            check_pack([base, _cfg(**other)])

    class Spec:
        def __init__(self, cfg, rid):
            self.cfg, self.run_id, self.stage = cfg, rid, "pretrain"

    jobs = [Job(Spec(_cfg(seed=s, **{"model.width": w}), f"r{w}_{s}"), None) for s in range(5) for w in (16, 24)]
    packs = pack_jobs(jobs, 2, lambda j: pack_key(j.spec.cfg))
    assert all(len({j.spec.cfg.model.width for j in p}) == 1 for p in packs)
    assert sorted(len(p) for p in packs) == [1, 1, 2, 2, 2, 2]
    assert np.sum([len(p) for p in packs]) == len(jobs)
    assert [len(p) for p in pack_jobs(jobs, 1, lambda j: pack_key(j.spec.cfg))] == [1] * len(jobs)
    with pytest.raises(ValueError):
        pack_jobs(jobs, 0, lambda j: None)


@pytest.mark.slow
def test_a_sweep_trains_each_shape_as_one_pack(tmp_path):
    from scaling.sweep import books, runner, spec

    sweep_file = tmp_path / "packs.yaml"
    flat = {k: v for k, v in TINY.items() if k not in ("model.width",)}
    recipe = "{" + ", ".join(f"{k}: {v}" for k, v in flat.items()) + "}"
    sweep_file.write_text(f"recipes:\n  baseline: {recipe}\ngrid:\n  model.width: [16, 24]\n  seed: [0, 1, 2]\n"
                          f"resources: {{cpus: 1, pack: 8}}\n")
    sweep = spec.load_sweep(sweep_file)
    result = runner.run_sweep(sweep, tmp_path / "out", workers=2)
    assert result.ok and result.counts == {"done": 6}
    by_width: dict = {}
    for run in sweep.runs:
        state = books.read_state(tmp_path / "out", run.run_id)
        summary = records.read_summary(tmp_path / "out" / "runs" / run.run_id)
        assert summary["status"] == "done" and summary["pack"] == 3
        by_width.setdefault(run.cfg.model.width, set()).add((state["job_id"], state["pack"]))
    assert all(len(v) == 1 for v in by_width.values())  # one process per shape
    assert len({v.pop() for v in by_width.values()}) == 2  # and the two shapes apart
    logs = [(tmp_path / "out" / "runs" / r.run_id / "log.txt").read_text() for r in sweep.runs]
    assert sum("packed with 2 other runs" in t for t in logs) == 4
