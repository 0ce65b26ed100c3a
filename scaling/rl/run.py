"""One RL run into its run directory: same layout, records and resume as pretraining.

    config.json    {"stage": "rl", RL config (bound to the pretrained run id), "pretrained_config": ...}
    metrics.jsonl  one record per evaluation: step 0 (the starting model), then log-spaced steps from
                   the end of the warmup (`eval.start`, `scaling.schedule.rl_eval_steps`)
    summary.json   written last (status done | diverged), the commit marker
    checkpoint/    (params, optimizer state) and the cumulative counters, for resume
    final/         the RL-trained parameters

Records: run_id, recipe, stage, step, pretrained/run_id, params/*, rl/flops (= sampling + update +
reference, exact, cumulative), rl/flops_sampling, rl/flops_update, rl/flops_reference,
rl/flops_2n6n, rl/rollouts, rl/rollouts_filtered, rl/tokens_sampled, train/* (means since the last
evaluation), opt/lr, opt/grad_norm, eval/pass@k/{train,heldout}, eval/pass@1/<set>/tier<t>,
eval/length/<set>, eval/reward/<set>, time/wall_s; and the controls beside every pass@k:
eval/greedy/pass@1/<set> (temperature 0) and eval/guess/pass@k/<set>, eval/guess/modal/pass@1/<set>
(the question-blind guess baseline, `scaling.rl.guess`).

`train(cfg, run_dir)` is the sweep launcher's entry (`scaling sweep run` on a `stage: rl` sweep):
the contract of `scaling.train.train`, the pretrained run named by the run's spec.json.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
from flax import nnx

from scaling import checkpoint, lifecycle, preemption, records, tracking
from scaling import config as C
from scaling import flops as F
from scaling.errors import ConfigError, DataError
from scaling.models import build
from scaling.rl import config as R
from scaling.rl import problems as P
from scaling.rl.learner import Learner
from scaling.schedule import rl_eval_steps

COUNTERS = ("flops_sampling", "flops_update", "flops_reference", "flops", "flops_2n6n",
            "rollouts", "filtered", "tokens_sampled")
MEANS = ("reward", "accuracy", "length", "loss", "kl", "clip_frac")


def load_pretrained(run_dir: str | Path):
    """(model config, graphdef, parameters, run id) of a finished pretraining run.

    DataError for a missing or unfinished run; ConfigError when its config.json does not match
    its run id or its final checkpoint."""
    run_dir = Path(run_dir)
    raw = records.finished_config(run_dir, prefix="--from ", noun="pretrained run")
    if "stage" in raw and "pretrained_config" in raw:  # a pretraining config.json carries no stage tag
        raise DataError(f"--from {run_dir}: is an RL run, not a pretraining run")
    rid = raw.pop("run_id", None)
    cfg = C.build(raw, source=f"{run_dir}/{records.CONFIG}")
    if C.run_id(cfg) != rid:
        raise ConfigError(f"{run_dir}/{records.CONFIG}: does not match its run id {rid!r} (edited after training?)")
    graphdef, template = nnx.split(build(cfg, 0), nnx.Param)
    params = checkpoint.restore_checked(run_dir, template, records.CONFIG)
    return cfg, graphdef, params, rid


def run(cfg: R.RLConfig, run_dir: str | Path, pretrained_dir: str | Path, *, progress=None) -> dict:
    """RL-train the final parameters of `pretrained_dir` with `cfg` into `run_dir`; returns the
    summary (at once if the run is committed). `progress(step, steps, record)` after each eval."""
    run_dir = Path(run_dir)
    model_cfg, graphdef, params0, pre_id = load_pretrained(pretrained_dir)
    cfg = R.with_pretrained(cfg, pre_id)
    R.validate(cfg)
    rid = R.run_id(cfg)
    train_set = P.build(model_cfg.data, cfg.problems, "train")
    heldout = P.build(model_cfg.data, cfg.problems, "heldout")
    folder = lifecycle.open_run(run_dir, {"stage": "rl", **C.to_dict(cfg),
                                          "pretrained_config": C.to_dict(model_cfg)}, rid)
    if folder.done:
        return folder.summary()
    learner = Learner(model_cfg, cfg, graphdef, params0, train_set)
    n_eval = cfg.eval.train_problems or len(train_set)
    eval_train = train_set.take(np.arange(min(n_eval, len(train_set))))
    schedule_at = set(rl_eval_steps(cfg))
    p = F.params(model_cfg)
    base = {"run_id": rid, "recipe": cfg.recipe, "stage": "rl", "pretrained/run_id": pre_id,
            "params/total": p["total"], "params/nonembed": p["total"] - p["embed"]}
    meta = {**dict.fromkeys(COUNTERS, 0.0), **{f"sum_{k}": 0.0 for k in MEANS}, "since": 0.0, "wall_s": 0.0}
    start, kept = folder.start, folder.kept
    learner.state, restored = folder.restore(learner.state)
    meta.update(restored)
    t0 = time.perf_counter() - meta["wall_s"]
    if cfg.log_every < 0:
        raise ConfigError(f"log_every: must be non-negative (0: off), got {cfg.log_every}")
    log = tracking.TrainLog(run_dir, cfg.log_every, start=start, wall_s=meta["wall_s"])
    log.resume(meta)

    def record(step: int, extra: dict) -> dict:
        rec = {**base, "step": step, **{f"rl/{k}": meta[k] for k in COUNTERS if k.startswith("flops")},
               "rl/rollouts": meta["rollouts"], "rl/rollouts_filtered": meta["filtered"],
               "rl/tokens_sampled": meta["tokens_sampled"], **extra,
               **learner.evaluate(eval_train, "train", 0), **learner.evaluate(heldout, "heldout", 1),
               "time/wall_s": time.perf_counter() - t0}
        records.append_metrics(run_dir, rec)
        log.evaluation(rec)
        if progress is not None:
            progress(step, cfg.steps, rec)
        return rec

    last = kept[-1] if kept else record(0, {})
    summary = {"run_id": rid, "recipe": cfg.recipe, "stage": "rl", "pretrained/run_id": pre_id,
               "steps_planned": cfg.steps}
    # SIGTERM / SIGUSR2 (a scheduler's notice): checkpoint at the step and exit to be requeued
    guard = preemption.install() if threading.current_thread() is threading.main_thread() else preemption.Guard()
    try:
        return _loop(learner, cfg, folder, start, meta, schedule_at, record, last, summary, t0, guard, log)
    finally:
        guard.uninstall()
        log.close()


def _loop(learner, cfg, folder, start, meta, schedule_at, record, last, summary, t0, guard, log) -> dict:
    for step in range(start, cfg.steps):
        out = learner.step(step)
        if lifecycle.first_bad([out["loss"]], [out["grad_norm"]]) is not None:
            summary.update(status="diverged", diverged_step=step + 1, step=step, final=last,
                           wall_s=time.perf_counter() - t0)
            return folder.commit(summary)
        meta["flops_sampling"] += out["rl/flops_sampling"]
        meta["flops_update"] += out["rl/flops_update"]
        meta["flops_reference"] += out["rl/flops_reference"]
        meta["flops"] += out["rl/flops"]
        meta["flops_2n6n"] += out["rl/flops_2n6n"]
        for k in ("rollouts", "filtered", "tokens_sampled"):
            meta[k] += out[k]
        for k in MEANS:
            meta[f"sum_{k}"] += out[k]
        meta["since"] += 1
        done = step + 1
        log.step(done, loss=out["loss"], lr=float(learner.lr(step)), grad_norm=out["grad_norm"],
                 **{"train/reward": out["reward"], "train/accuracy": out["accuracy"]})
        if done in schedule_at:
            means = {f"train/{k}": meta[f"sum_{k}"] / meta["since"] for k in MEANS}
            last = record(done, {**means, "opt/lr": float(learner.lr(done - 1)), "opt/grad_norm": out["grad_norm"]})
            meta.update({f"sum_{k}": 0.0 for k in MEANS}, since=0.0)
        if (done in schedule_at or done % cfg.checkpoint_every == 0 or guard.requested) and done < cfg.steps:
            meta["wall_s"] = time.perf_counter() - t0
            log.sync()
            folder.save(done, learner.state, {**meta, **log.window()})
            if guard.requested:
                raise preemption.Preempted(done, guard.signal_name)
    summary.update(status="done", step=cfg.steps, final=last, wall_s=time.perf_counter() - t0)
    return folder.commit(summary, final_params=learner.state[0])


def pretrained_dir_of(run_dir: str | Path, cfg: R.RLConfig) -> Path:
    """The pretrained run an RL run of a sweep starts from: `pretrained_dir` of its spec.json
    (relative to the run directory), else `<sweep_dir>/pretrained/runs/<cfg.pretrained>`."""
    run_dir = Path(run_dir)
    spec_path = run_dir / "spec.json"
    spec = records.read_json(spec_path) if spec_path.is_file() else {}
    if spec.get("pretrained_dir"):
        return (run_dir / spec["pretrained_dir"]).resolve()
    if not cfg.pretrained:
        raise ConfigError(f"{run_dir}: the RL config names no pretrained run, and spec.json no pretrained_dir")
    # the layout of scaling.sweep.layout, spelled here: importing scaling.sweep from a trainer would tie
    # the launcher and the RL stage in a circle
    return run_dir.resolve().parent.parent / "pretrained" / records.RUNS / cfg.pretrained


def train(cfg, run_dir: str | Path) -> dict:
    """Launcher entry (`scaling.rl.run:train`): RL-train the run prepared in `run_dir` (config.json,
    spec.json written by `scaling.sweep.runner`) from its pretrained run; returns the summary.
    `cfg` is an RLConfig or its dict (config.json's content)."""
    if isinstance(cfg, dict):
        cfg = R.build({k: v for k, v in cfg.items() if k not in ("stage", "pretrained_config", "run_id")},
                      source=f"{run_dir}/{records.CONFIG}")

    def progress(step, steps, rec):
        p1 = rec.get("eval/pass@1/heldout")
        shown = f"  pass@1/heldout={p1:.3f}" if p1 is not None else ""
        print(f"rl step {step}/{steps}  rl/flops={rec['rl/flops']:.3g}{shown}", flush=True)

    return run(cfg, run_dir, pretrained_dir_of(run_dir, cfg), progress=progress)
