"""A finished run's model for test-time evaluation: a pretraining run or an RL run.

What is evaluated must be what the run committed: its config.json names its stage's config (an
RL run's with the `pretrained_config` it started from), its final parameters have the shapes that
config's model needs, and the seed recorded at commit (summary.json) is its config's seed; each
mismatch is a DataError or ConfigError naming the file.
"""

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
    """DataError naming the folder when it is missing, not a run, unfinished or not done; naming
    the file when its config, seed or final parameters do not agree."""
    run_dir = Path(run_dir)
    raw = records.finished_config(run_dir)
    cfg_path = run_dir / records.CONFIG
    if not isinstance(raw, dict):
        raise DataError(f"{cfg_path}: expected a JSON object")
    check_seed(run_dir, raw)
    if "stage" not in raw and "pretrained_config" not in raw:  # a pretraining config.json has no stage tag
        from scaling.rl.run import load_pretrained

        cfg, graphdef, params, rid = load_pretrained(run_dir)  # checks the parameters' shapes (checkpoint.restore_checked)
        return Loaded(cfg, graphdef, params, rid, "pretrain", None)
    if not isinstance(raw.get("pretrained_config"), dict):
        raise DataError(f"{cfg_path}: pretrained_config: missing or not a mapping (an RL run's config names "
                        f"the model it started from)")
    rid = raw.get("run_id")
    rl_cfg = R.build({k: v for k, v in raw.items() if k not in ("stage", "pretrained_config", "run_id")},
                     source=str(cfg_path))
    model_cfg = C.build(raw["pretrained_config"], source=f"{cfg_path} pretrained_config")
    graphdef, template = nnx.split(build(model_cfg, 0), nnx.Param)
    params = checkpoint.restore_checked(run_dir, template, records.CONFIG)
    return Loaded(model_cfg, graphdef, params, rid, "rl", rl_cfg)


def check_seed(run_dir: Path, raw: dict) -> None:
    """ConfigError when the seed recorded at commit (summary.json, or its final record) is not the
    seed config.json names: its final parameters were trained with another seed."""
    summary = records.read_summary(run_dir) or {}
    final = summary.get("final") if isinstance(summary.get("final"), dict) else {}
    recorded = summary.get("seed", final.get("seed"))
    if recorded is not None and raw.get("seed") is not None and recorded != raw.get("seed"):
        raise ConfigError(f"{run_dir / records.CONFIG}: seed {raw.get('seed')!r}, but the run committed the final "
                          f"parameters of seed {recorded!r} ({run_dir / records.SUMMARY})")
