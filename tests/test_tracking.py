"""Live tracking (`scaling.tracking`): train-log records every k steps from a fake loop, cut back on
resume like metrics.jsonl, torn tails ignored, and the optional TensorBoard sink fed the same values."""

from __future__ import annotations

import struct

import pytest

from scaling import tracking
from scaling.errors import ConfigError


def loss_at(step: int) -> float:
    return 3.0 / (1 + 0.1 * step)


def fake_loop(run_dir, steps, *, every, start=0, stop_at=None, ckpt_every=20, tensorboard=False):
    """Steps start+1..steps (or until `stop_at`, like a kill); returns the last checkpointed step."""
    clock = iter(float(i) for i in range(10_000))
    log = tracking.TrainLog(run_dir, every, start=start, tokens_per_step=100, tensorboard=tensorboard,
                            clock=lambda: next(clock))
    saved = start
    for step in range(start + 1, steps + 1):
        log.step(step, loss=loss_at(step), lr=1e-3 * step, grad_norm=0.5)
        if stop_at is not None and step == stop_at:
            return saved  # killed: no close, no sync
        if step % ckpt_every == 0:
            log.sync()
            saved = step
    log.close()
    return saved


def test_records_every_k_steps_with_window_means(tmp_path):
    fake_loop(tmp_path, 50, every=10)
    recs = tracking.read(tmp_path)
    assert [r["step"] for r in recs] == [10, 20, 30, 40, 50]
    first = recs[0]
    assert first["train/loss"] == pytest.approx(sum(loss_at(s) for s in range(1, 11)) / 10)
    assert first["opt/lr"] == pytest.approx(1e-2) and first["opt/grad_norm"] == 0.5
    assert first["tokens/total"] == 1000 and first["throughput/tokens_per_s"] > 0
    assert all(b["time/wall_s"] > a["time/wall_s"] for a, b in zip(recs, recs[1:]))


def test_resume_cuts_back_to_the_checkpoint_and_ends_like_an_uninterrupted_run(tmp_path):
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    whole.mkdir(), broken.mkdir()
    fake_loop(whole, 100, every=10)
    saved = fake_loop(broken, 100, every=10, stop_at=73)
    assert saved == 60 and max(r["step"] for r in tracking.read(broken)) == 70  # records past the checkpoint
    with open(broken / tracking.TRAIN_LOG, "ab") as handle:
        handle.write(b'{"step": 80, "train/lo')  # torn tail of a kill mid-append
    assert max(r["step"] for r in tracking.read(broken)) == 70
    fake_loop(broken, 100, every=10, start=saved)
    got, want = tracking.read(broken), tracking.read(whole)
    assert [r["step"] for r in got] == [r["step"] for r in want] == list(range(10, 101, 10))
    keys = ("train/loss", "opt/lr", "opt/grad_norm", "tokens/total")
    assert [[r[k] for k in keys] for r in got] == [[r[k] for k in keys] for r in want]


def test_sync_point_windows_equal_per_step_accounting(tmp_path):
    """A loop that keeps losses on the device hands over sums at its sync points (evaluations,
    checkpoints, every k-th step): the same records as per-step accounting."""
    per_step, windows = tmp_path / "a", tmp_path / "b"
    per_step.mkdir(), windows.mkdir()
    fake_loop(per_step, 40, every=10)
    log = tracking.TrainLog(windows, 10, tokens_per_step=100)
    syncs = [3, 10, 17, 20, 30, 33, 40]  # an evaluation at 3, 17, 33; the k-th steps
    last = 0
    for s in syncs:
        log.add(s, sum(loss_at(t) for t in range(last + 1, s + 1)), s - last, lr=1e-3 * s, grad_norm=0.5)
        last = s
    log.close()
    got, want = tracking.read(windows), tracking.read(per_step)
    assert [r["step"] for r in got] == [10, 20, 30, 40]
    assert [r["train/loss"] for r in got] == pytest.approx([r["train/loss"] for r in want])


def test_off_and_bad_cadence(tmp_path):
    fake_loop(tmp_path, 30, every=0)
    assert not (tmp_path / tracking.TRAIN_LOG).exists()
    with pytest.raises(ConfigError, match="train.log_every"):
        tracking.TrainLog(tmp_path, -1)


def _scalars(folder):
    """(tag, step, value) of every scalar in the TensorBoard event files under `folder`."""
    from tensorboardX.proto import event_pb2

    out = []
    for path in sorted(folder.rglob("events.out.tfevents.*")):
        data = path.read_bytes()
        i = 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i:i + 8])
            event = event_pb2.Event.FromString(data[i + 12:i + 12 + n])
            i += 12 + n + 4
            out += [(v.tag, event.step, v.simple_value) for v in event.summary.value]
    return out


def test_tensorboard_sink_gets_the_same_records(tmp_path):
    pytest.importorskip("tensorboardX")
    fake_loop(tmp_path, 40, every=10, tensorboard=True)
    scalars = _scalars(tmp_path / tracking.TENSORBOARD)
    losses = {step: value for tag, step, value in scalars if tag == "train/loss"}
    assert losses == pytest.approx({r["step"]: r["train/loss"] for r in tracking.read(tmp_path)}, rel=1e-6)
    assert {tag for tag, _, _ in scalars} >= {"train/loss", "opt/lr", "opt/grad_norm", "throughput/tokens_per_s"}
