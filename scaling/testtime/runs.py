"""A finished run's model for test-time evaluation: a pretraining run or an RL run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flax import nnx

from scaling import checkpoint, records
from scaling import config as C
from scaling.errors import ConfigError, DataError
from scaling.models import build
from scaling.rl import config as R


@dataclass(frozen=True)
class Loaded:
    """model_cfg (RunConfig), graphdef, params, run_id, stage (pretrain | rl), rl (the RL run's
    RLConfig, or None for a pretraining run)."""

    model_cfg: C.RunConfig
    graphdef: object
    params: object
    run_id: str
    stage: str
    rl: R.RLConfig | None


def load_run(run_dir: str | Path) -> Loaded:
    """DataError naming the folder when it is missing, not a run, unfinished or not done."""
    run_dir = Path(run_dir)
    raw = records.finished_config(run_dir)
    if "pretrained_config" not in raw:  # an RL run's config.json names the model it started from
        from scaling.rl.run import load_pretrained

        cfg, graphdef, params, rid = load_pretrained(run_dir)
        return Loaded(cfg, graphdef, params, rid, "pretrain", None)
    rid = raw.get("run_id")
    rl_cfg = R.build({k: v for k, v in raw.items() if k not in ("stage", "pretrained_config", "run_id")},
                     source=f"{run_dir}/{records.CONFIG}")
    model_cfg = C.build(raw["pretrained_config"], source=f"{run_dir}/{records.CONFIG} pretrained_config")
    graphdef, template = nnx.split(build(model_cfg, 0), nnx.Param)
    try:
        params = checkpoint.restore_final(run_dir, template)
    except ValueError as err:
        raise ConfigError(f"{run_dir}/final: checkpoint does not match {records.CONFIG} ({err})") from None
    return Loaded(model_cfg, graphdef, params, rid, "rl", rl_cfg)
