"""Frozen run configuration: dataclasses, strict YAML/JSON loading, `a.b=value` overrides.

A config is resolved before use: ladder-derived sizes (depth, heads) are filled in, so the resolved
config says exactly what is trained, and its hash is the run id.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from scaling import families
from scaling.data.config import DataConfig
from scaling.data.config import check as check_data
from scaling.errors import ConfigError

SCHEDULES = ("cosine", "wsd")
DTYPES = ("float32", "bfloat16")
PARAMS = ("standard", "mup")  # parameterisations (`scaling.models.mup`)


@dataclass(frozen=True)
class ModelConfig:
    """The decoder and how images enter it.

    family: `early` (patches -> linear -> shared stream), `late` (ViT encoder -> MLP projector ->
    decoder), `blind` (no image: the control). depth/heads = 0 take the ladder's value for `width`.
    dtype: the compute dtype of matmuls and activations (`float32` | `bfloat16`); parameters,
    optimizer state, softmax/log-softmax and the loss stay float32. In the run id only when not
    float32, so float32 runs keep their ids.
    param: `standard` (every matrix initialised at std 0.02, one learning rate) | `mup` (per-layer
    initialisation and Adam learning-rate multipliers relative to a model of `base_width`, so the
    best learning rate transfers across widths: `scaling.models.mup`). `param` is in the run id only
    when not standard, `base_width` only under mup.
    """

    family: str = "early"
    width: int = 64
    depth: int = 0
    heads: int = 0
    mlp_ratio: int = 4
    dtype: str = "float32"
    param: str = "standard"
    base_width: int = 32


@dataclass(frozen=True)
class VisionConfig:
    """Image patching, and the `late` family's own ViT encoder (width/depth/heads 0 = ladder)."""

    patch_size: int = 4
    width: int = 0
    depth: int = 0
    heads: int = 0
    mlp_ratio: int = 4


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with global-norm clipping. `warmup` and `decay` are fractions of the run's steps."""

    lr: float = 3e-3
    schedule: str = "cosine"
    warmup: float = 0.05
    decay: float = 0.2
    final_lr_frac: float = 0.1
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    clip_norm: float = 1.0


@dataclass(frozen=True)
class TrainConfig:
    """Budget and schedule. `tokens` counts every stream position processed (image and text).

    branches: cooldown branches (`scaling.schedule`; needs optim.schedule wsd): branch j ends at
    the run's steps / branch_spacing^j (j = 1..branches), each a finished point like the run's end.
    log_every: a train-log record every k steps (`scaling.tracking`; 0: off); tensorboard: also
    write TensorBoard events. Neither changes what is trained, so neither is part of the run id.
    """

    tokens: int = 2_000_000
    batch_size: int = 32
    eval_points: int = 8
    eval_batch_size: int = 64
    checkpoint_every: int = 200
    branches: int = 0
    branch_spacing: float = 2.0
    log_every: int = 50
    tensorboard: bool = False


@dataclass(frozen=True)
class RunConfig:
    recipe: str = "default"
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    vision: VisionConfig = field(default_factory=VisionConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


# ---------------------------------------------------------------- the size ladder


def ladder(width: int) -> tuple[int, int]:
    """(depth, heads) for a decoder of `width`: head size 32, depth grows with width."""
    heads = max(1, width // 32)
    depth = max(2, width // 32)
    return depth, heads


def vision_width(width: int) -> int:
    """The `late` family's ViT width for a decoder of `width` when `vision.width` is 0."""
    return max(16, width // 2)


def resolve(cfg: RunConfig) -> RunConfig:
    """Fill ladder-derived sizes and validate; the result is what gets trained and hashed."""
    m, v = cfg.model, cfg.vision
    depth, heads = ladder(m.width) if m.width > 0 else (0, 0)
    m = dataclasses.replace(m, depth=m.depth or depth, heads=m.heads or heads)
    vw = v.width or vision_width(m.width)
    vdepth, vheads = ladder(vw)
    v = dataclasses.replace(v, width=vw, depth=v.depth or max(1, vdepth // 2), heads=v.heads or vheads)
    out = dataclasses.replace(cfg, model=m, vision=v)
    validate(out)
    return out


def validate(cfg: RunConfig) -> None:
    """Raise ConfigError naming the key for any impossible setting."""
    m, v, d, o, t = cfg.model, cfg.vision, cfg.data, cfg.optim, cfg.train
    families.get(m.family)  # ConfigError naming the choices
    if m.dtype not in DTYPES:
        raise ConfigError(f"model.dtype: unknown compute dtype {m.dtype!r} (choose from {', '.join(DTYPES)})")
    if m.param not in PARAMS:
        raise ConfigError(f"model.param: unknown parameterisation {m.param!r} (choose from {', '.join(PARAMS)})")
    if m.param == "mup":
        if m.base_width <= 0:
            raise ConfigError(f"model.base_width: must be positive, got {m.base_width}")
        base_heads = ladder(m.base_width)[1]
        if m.base_width % base_heads:
            raise ConfigError(f"model.base_width: {m.base_width} does not split into the ladder's {base_heads} "
                              f"heads (the base model's head size anchors mup's attention scale)")
    positive = {
        "model.width": m.width, "model.depth": m.depth, "model.heads": m.heads, "model.mlp_ratio": m.mlp_ratio,
        "vision.patch_size": v.patch_size, "vision.width": v.width, "vision.depth": v.depth,
        "vision.heads": v.heads, "vision.mlp_ratio": v.mlp_ratio, "data.image_size": d.image_size,
        "data.max_objects": d.max_objects, "data.text_len": d.text_len, "data.val_examples": d.val_examples,
        "train.tokens": t.tokens, "train.batch_size": t.batch_size, "train.eval_points": t.eval_points,
        "train.eval_batch_size": t.eval_batch_size, "train.checkpoint_every": t.checkpoint_every,
        "optim.lr": o.lr, "optim.clip_norm": o.clip_norm,
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key}: must be positive, got {value}")
    if m.width % m.heads:
        raise ConfigError(f"model.heads: {m.heads} does not divide model.width {m.width}")
    if v.width % v.heads:
        raise ConfigError(f"vision.heads: {v.heads} does not divide vision.width {v.width}")
    if d.image_size % v.patch_size:
        raise ConfigError(f"vision.patch_size: {v.patch_size} does not divide data.image_size {d.image_size}")
    check_data(d)
    if o.schedule not in SCHEDULES:
        raise ConfigError(f"optim.schedule: unknown schedule {o.schedule!r} (choose from {', '.join(SCHEDULES)})")
    for key, value in {"optim.warmup": o.warmup, "optim.decay": o.decay, "optim.final_lr_frac": o.final_lr_frac,
                       "optim.beta1": o.beta1, "optim.beta2": o.beta2}.items():
        if not 0 <= value <= 1:
            raise ConfigError(f"{key}: must lie in [0, 1], got {value}")
    if o.warmup + (o.decay if o.schedule == "wsd" else 0) > 1:
        raise ConfigError(f"optim.warmup + optim.decay exceed the run ({o.warmup} + {o.decay})")
    if t.log_every < 0:
        raise ConfigError(f"train.log_every: must be non-negative (0: off), got {t.log_every}")
    if t.branches < 0:
        raise ConfigError(f"train.branches: must be non-negative, got {t.branches}")
    if t.branches:
        if o.schedule != "wsd":
            raise ConfigError(f"train.branches: cooldown branches need optim.schedule wsd, got {o.schedule!r}")
        if not 0 < o.decay < 1:
            raise ConfigError(f"optim.decay: the cooldown fraction must lie in (0, 1) with branches, got {o.decay}")
        if not t.branch_spacing > 1:
            raise ConfigError(f"train.branch_spacing: must exceed 1, got {t.branch_spacing}")
    if o.weight_decay < 0:
        raise ConfigError(f"optim.weight_decay: must be non-negative, got {o.weight_decay}")
    for key, value in {"seed": cfg.seed, "data.seed": d.seed}.items():  # NumPy and JAX take no negative seeds
        if value < 0:
            raise ConfigError(f"{key}: must be non-negative, got {value}")


def check_steps(cfg: RunConfig, steps: int) -> None:
    """ConfigError when the run's `steps` (`scaling.flops.num_steps`) cannot hold its evaluations:
    more `train.eval_points` than steps would silently give fewer points than asked for."""
    if steps < 1:
        raise ConfigError(f"train.tokens: {cfg.train.tokens} tokens make no whole training step")
    if cfg.train.eval_points > steps:
        raise ConfigError(f"train.eval_points: {cfg.train.eval_points} evaluations do not fit in the run's "
                          f"{steps} steps (raise train.tokens or lower train.eval_points)")


# ---------------------------------------------------------------- dict <-> dataclass


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def _coerce(value: Any, typ: Any, key: str) -> Any:
    if typ is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if typ is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)  # 1e6 written in YAML
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if typ is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigError(f"{key}: expected a finite number, got {value!r}")
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if typ is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    raise ConfigError(f"{key}: unsupported type {typ}")


def from_dict(cls: type, data: Any, prefix: str = "") -> Any:
    """Build dataclass `cls` from a nested dict; unknown keys and wrong types are errors."""
    where = prefix.rstrip(".") or "config"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(f"{prefix}{key}: unknown key (known: {', '.join(sorted(known))})")
    kwargs = {}
    for key, value in data.items():
        typ = hints[key]
        if is_dataclass(typ):
            kwargs[key] = from_dict(typ, value, f"{prefix}{key}.")
        else:
            kwargs[key] = _coerce(value, typ, f"{prefix}{key}")
    return cls(**kwargs)


def parse_value(text: str) -> Any:
    """Parse an override's right-hand side as YAML (so 3e-3, 64, true, early all work)."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:  # YAML 1.1 reads 3e-3 as a string
            return float(value)
        except ValueError:
            return value
    return value


def apply_overrides(data: dict, overrides: list[str] | dict) -> dict:
    """Return a copy of nested dict `data` with `a.b=value` overrides set (validated later)."""
    out = json.loads(json.dumps(data))
    items = overrides.items() if isinstance(overrides, dict) else [_split_override(o) for o in overrides]
    for key, value in items:
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part, {}), dict):
                raise ConfigError(f"{key}: {part} is not a section")
            node = node.setdefault(part, {})
        node[parts[-1]] = parse_value(value) if isinstance(value, str) else value
    return out


def _split_override(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. model.width=64")
    key, value = text.split("=", 1)
    if not key.strip():
        raise ConfigError(f"--set {text!r}: empty key")
    return key.strip(), value.strip()


def read_mapping(path: str | Path) -> dict:
    """Read a YAML or JSON file into a dict; errors name the file."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (YAML or JSON expected)") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or "malformed YAML"
        raise ConfigError(f"{path}:{where} malformed YAML ({problem})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def build(data: dict, overrides: list[str] | dict | None = None, source: str = "config") -> RunConfig:
    """Nested dict (+ overrides) -> resolved, validated RunConfig. Errors are prefixed by `source`."""
    try:
        merged = apply_overrides(data, overrides or [])
        return resolve(from_dict(RunConfig, merged))
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


def load(path: str | Path | None = None, overrides: list[str] | dict | None = None) -> RunConfig:
    """Load a YAML/JSON run config (None = defaults) and apply `a.b=value` overrides."""
    data = read_mapping(path) if path is not None else {}
    return build(data, overrides, source=str(path) if path is not None else "config")


def run_id(cfg: RunConfig) -> str:
    """Short stable hash of the resolved config: only the keys the run's family uses (an `early`
    run's id ignores the ViT's `vision.width`, a `blind` run's every `vision.*` key); paths,
    resources and code version are not part of it."""
    return _hash(_used(cfg))


def config_id(cfg: RunConfig) -> str:
    """Like `run_id` but blind to the seed: the runs of one configuration (replicates) share it."""
    data = _used(cfg)
    data.pop("seed")
    return _hash(data)


WORLD_KEYS = {"shapes": (), "kinds": ("kinds", "zipf", "noise")}
# keys added after runs were recorded: in the id only when not at this default, so old ids stand
ADDED = {("model", "dtype"): "float32", ("model", "param"): "standard"}


def _used(cfg: RunConfig) -> dict:
    data = to_dict(cfg)
    used = families.get(cfg.model.family).vision_keys  # the others cannot change its model
    data["vision"] = {k: v for k, v in data["vision"].items() if k in used}
    unused = {k for keys in WORLD_KEYS.values() for k in keys} - set(WORLD_KEYS.get(cfg.data.world, ()))
    if not cfg.data.chains:
        unused.add("chains")  # only a run that has worked chains names them in its id
    data["data"] = {k: v for k, v in data["data"].items() if k not in unused}
    data["train"] = {k: v for k, v in data["train"].items() if k not in ("log_every", "tensorboard")}
    if cfg.model.param != "mup":
        del data["model"]["base_width"]  # only mup reads it
    for (section, key), default in ADDED.items():
        if data[section].get(key) == default:
            del data[section][key]
    return data


def _hash(data: dict) -> str:
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def flatten(data: dict, prefix: str = "") -> dict:
    """{'model': {'width': 64}} -> {'model.width': 64}."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
