"""A stand-in for `scaling.train.train` with the same contract, for launcher tests (seconds, no JAX).

config.json via records.prepare_run_dir; one record per evaluation appended to metrics.jsonl; a
checkpoint (ckpt.json) every other evaluation; on resume, records past the checkpoint are dropped;
summary.json last. Records are a deterministic function of the config and step.

Behaviour switches ride on config values no real sweep uses here:
  optim.lr >= 1          diverges at the second evaluation (status "diverged")
  model.mlp_ratio == 5   the process kills itself with SIGKILL (an infrastructure failure)
  model.mlp_ratio == 6   raises an exception (a bug: failed, never retried)
  model.mlp_ratio == 7   kills itself only on its first attempt (succeeds when retried)
Env FAKE_STEP_S sets the seconds per evaluation (default 0.02). Every step it trains is appended to
`fake_steps` (so tests count steps done twice). SIGTERM/SIGUSR2 (`scaling.preemption`): the loop
checkpoints at the step it is on and raises Preempted, as the real loop does.
"""

from __future__ import annotations

import math
import os
import signal
import time
from pathlib import Path

from scaling import config as C
from scaling import preemption, records


def _loss(cfg, step: int) -> float:
    return round(2.0 + 50.0 / cfg.model.width + 1.0 / (1 + step) + 0.01 * cfg.seed, 9)


def train(cfg, run_dir):
    run_dir = Path(run_dir)
    rid = C.run_id(cfg)
    state = records.prepare_run_dir(run_dir, C.to_dict(cfg), rid)
    if state == "done":
        return records.read_summary(run_dir)
    marker = run_dir / "fake_attempts"
    attempts = int(marker.read_text()) + 1 if marker.exists() else 1
    marker.write_text(str(attempts))
    if cfg.model.mlp_ratio == 5 or (cfg.model.mlp_ratio == 7 and attempts == 1):
        os.kill(os.getpid(), signal.SIGKILL)
    if cfg.model.mlp_ratio == 6:
        raise RuntimeError("fake trainer: a bug")
    step_s = float(os.environ.get("FAKE_STEP_S", "0.02"))
    ckpt = run_dir / "ckpt.json"
    done_step = records.read_json(ckpt)["step"] if ckpt.exists() else 0
    kept = [r for r in records.read_metrics(run_dir) if r["step"] <= done_step]
    records.rewrite_metrics(run_dir, kept)
    n = cfg.train.eval_points
    status, diverged_step = "done", None
    guard = preemption.install()
    for step in range(done_step + 1, n + 1):
        time.sleep(step_s)
        with open(run_dir / "fake_steps", "a") as handle:
            handle.write(f"{step}\n")
        loss = _loss(cfg, step)
        if cfg.optim.lr >= 1 and step >= 2:
            loss = math.nan
        rec = {"run_id": rid, "recipe": cfg.recipe, "step": step, "tokens/total": step * 1000,
               "compute/flops": step * 1e6 * cfg.model.width, "params/total": 100 * cfg.model.width,
               "train/loss": loss, "eval/loss/text": loss, "opt/lr": cfg.optim.lr,
               "time/wall_s": round(step * step_s, 3)}
        records.append_metrics(run_dir, rec)
        if math.isnan(loss):
            status, diverged_step = "diverged", step
            break
        if step % 2 == 0 or guard.requested:
            records.atomic_write_json(ckpt, {"step": step})
        if guard.requested and step < n:
            raise preemption.Preempted(step, guard.signal_name)
    guard.uninstall()
    last = records.read_metrics(run_dir)[-1]
    summary = {"status": status, "step": last["step"], "diverged_step": diverged_step,
               **{k: v for k, v in last.items() if k not in ("run_id", "recipe", "step")}}
    records.write_summary(run_dir, summary)
    return summary
