"""The RL stage's frozen configuration: GRPO on verifiable scene questions, strict YAML like
`scaling.config`.

An RL config is resolved against the pretrained run it starts from: `pretrained` holds that run's
id (a hash of its resolved config), so the RL run id (a hash of the resolved RL config) changes
with the starting model, and never with paths or resources.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from scaling.config import apply_overrides, from_dict, read_mapping, to_dict
from scaling.data.reasoning import FAMILIES, MAX_DIFFICULTY
from scaling.errors import ConfigError
from scaling.schedule import eval_start, warmup_steps

PENALTIES = ("none", "correct", "group", "kimi")
REWARDS = ("verifier", "random")  # scaling.rl.grpo.SIGNALS
KINDS = ("scene", "reasoning")
# keys added after run ids were first issued: left out of the hash while at their default, so the
# ids of runs that do not use them stay as they were
_ADDED = {("problems", "kind"): "scene", ("problems", "families"): "tally,sum,hops",
          ("problems", "difficulty"): "1,2,3,4", ("grpo", "reward"): "verifier", ("grpo", "reward_p"): 0.5,
          # evaluating from step 1 is what runs did before eval.start existed: their ids stand
          ("eval", "start"): "1"}


@dataclass(frozen=True)
class ProblemConfig:
    """Verifiable questions about procedural scenes (`scaling.data.make_qa`).

    kind: scene (questions about a scene, answered directly) | reasoning (text questions answered
    with a chain '<think> steps </think> answer', `scaling.data.reasoning`; needs a vocabulary with
    <think> and </think>).
    tiers: comma-separated difficulty tiers (0 attributes, 1 counting, 2 relations), balanced (scene).
    families, difficulty: reasoning families (tally, sum, hops) and difficulties (steps), every
    pair in turn (reasoning; pairs that cannot fit the text segment are an error).
    train / heldout: problems in the training set (scenes of the training pool) and in the
    held-out set (scenes of the validation pool, never trained on in pretraining or RL).
    """

    kind: str = "scene"
    tiers: str = "0,1,2"
    families: str = "tally,sum,hops"
    difficulty: str = "1,2,3,4"
    train: int = 256
    heldout: int = 128
    seed: int = 0


@dataclass(frozen=True)
class SamplingConfig:
    """Rollouts: `group` answers per problem sampled at `temperature`, at most `max_len` tokens
    (the token budget: chain, answer words and <eos>; also capped by the room left in the text
    segment). A row that reaches the budget without <eos> is truncated: unfinished, so wrong."""

    group: int = 8
    temperature: float = 1.0
    max_len: int = 6


@dataclass(frozen=True)
class GRPOConfig:
    """Group-relative policy optimisation.

    problems: problems per step (each gets `sampling.group` rollouts).
    clip: PPO ratio clip epsilon. kl: weight of the k3 KL estimate to the starting model (0: off,
    and no reference forwards are spent). updates: gradient steps per batch of rollouts.
    std_norm: divide advantages by the group's reward std (false: Dr. GRPO). filter: drop groups
    whose rewards are all equal from the update (their rollouts still count as compute).
    length_penalty: none | correct (a correct answer earns 1 - length_coef * len / max_len) |
    group (a correct answer earns 1 - length_coef * (len - mean len of the group's correct
    answers) / max_len) | kimi (Kimi k1.5's group-relative form: a correct answer earns
    1 + length_coef * (0.5 - (len - min) / (max - min)), min and max over the group's answers);
    wrong answers earn 0 in every form, so abstaining is never rewarded.
    reward: verifier (the exact answer check) | random (the spurious-reward control arm: each
    rollout counts as "correct" with probability reward_p, independently of its answer, from a
    stream keyed by seed and step; the length penalty then applies to those rows as above).
    """

    problems: int = 8
    clip: float = 0.2
    kl: float = 0.0
    updates: int = 1
    std_norm: bool = True
    filter: bool = False
    length_penalty: str = "none"
    length_coef: float = 0.0
    reward: str = "verifier"
    reward_p: float = 0.5


@dataclass(frozen=True)
class RLOptimConfig:
    """AdamW at a constant rate after a linear warmup of `warmup` (fraction of the steps)."""

    lr: float = 1e-4
    warmup: float = 0.0
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.99
    clip_norm: float = 1.0


@dataclass(frozen=True)
class EvalConfig:
    """Evaluations at `points` log-spaced RL steps (plus step 0, the starting model).

    start: where the log-spaced steps begin (`scaling.schedule.rl_eval_steps`): "warmup" (the end
    of the learning-rate warmup, so evaluations used for fits lie after it) or a step (e.g. "1").

    samples: answers per problem (n of the unbiased pass@k estimator); k: comma-separated k's,
    each at most `samples`; train_problems: how many training problems to evaluate (0 = all).
    """

    points: int = 8
    start: str = "warmup"
    samples: int = 16
    k: str = "1,2,4,8,16"
    train_problems: int = 128
    temperature: float = 1.0
    chunk: int = 16


@dataclass(frozen=True)
class RLConfig:
    recipe: str = "grpo"
    seed: int = 0
    pretrained: str = ""  # the starting run's id; filled in from the pretrained run directory
    steps: int = 200
    checkpoint_every: int = 50
    log_every: int = 10  # a train-log record every k steps (scaling.tracking; 0: off); not in the run id
    problems: ProblemConfig = field(default_factory=ProblemConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    optim: RLOptimConfig = field(default_factory=RLOptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


def int_list(text: str, key: str) -> tuple[int, ...]:
    """'1, 2,4' -> (1, 2, 4); ConfigError naming `key` otherwise."""
    try:
        out = tuple(int(t) for t in str(text).replace(" ", "").split(",") if t != "")
    except ValueError:
        raise ConfigError(f"{key}: expected comma-separated integers, got {text!r}") from None
    return out


def validate(cfg: RLConfig) -> None:
    """Raise ConfigError naming the key for any impossible setting."""
    p, s, g, o, e = cfg.problems, cfg.sampling, cfg.grpo, cfg.optim, cfg.eval
    if p.kind not in KINDS:
        raise ConfigError(f"problems.kind: unknown kind {p.kind!r} (choose from {', '.join(KINDS)})")
    if p.kind == "reasoning":
        fams = [f for f in p.families.replace(" ", "").split(",") if f]
        if not fams or any(f not in FAMILIES for f in fams):
            raise ConfigError(f"problems.families: choose from {', '.join(FAMILIES)}, got {p.families!r}")
        levels = int_list(p.difficulty, "problems.difficulty")
        if not levels or min(levels) < 1 or any(d > max(MAX_DIFFICULTY[f] for f in fams) for d in levels):
            raise ConfigError(f"problems.difficulty: difficulties from 1 to {max(MAX_DIFFICULTY[f] for f in fams)}, "
                              f"got {p.difficulty!r}")
    tiers = int_list(p.tiers, "problems.tiers")
    if not tiers:
        raise ConfigError(f"problems.tiers: empty problem set (no tiers in {p.tiers!r})")
    if any(not 0 <= t <= 2 for t in tiers):
        raise ConfigError(f"problems.tiers: tiers lie in 0..2, got {p.tiers!r}")
    for key, value in {"problems.train": p.train, "problems.heldout": p.heldout}.items():
        if value <= 0:
            raise ConfigError(f"{key}: empty problem set ({value} problems)")
    positive = {"steps": cfg.steps, "checkpoint_every": cfg.checkpoint_every, "sampling.group": s.group,
                "sampling.max_len": s.max_len, "sampling.temperature": s.temperature,
                "grpo.problems": g.problems, "grpo.updates": g.updates, "optim.lr": o.lr,
                "optim.clip_norm": o.clip_norm, "eval.points": e.points, "eval.samples": e.samples,
                "eval.temperature": e.temperature, "eval.chunk": e.chunk}
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key}: must be positive, got {value}")
    if s.max_len < 2:
        raise ConfigError(f"sampling.max_len: at least 2 tokens (an answer word and <eos>), got {s.max_len}")
    if s.group < 2:
        raise ConfigError(f"sampling.group: group-relative advantages need at least 2 samples, got {s.group}")
    if g.problems > p.train:
        raise ConfigError(f"grpo.problems: {g.problems} per step exceeds problems.train={p.train}")
    if g.length_penalty not in PENALTIES:
        raise ConfigError(f"grpo.length_penalty: unknown form {g.length_penalty!r} (choose from {', '.join(PENALTIES)})")
    if g.reward not in REWARDS:
        raise ConfigError(f"grpo.reward: unknown reward {g.reward!r} (choose from {', '.join(REWARDS)})")
    if not 0 < g.reward_p < 1:
        raise ConfigError(f"grpo.reward_p: the random reward's probability must lie in (0, 1), got {g.reward_p}")
    if not 0 <= g.length_coef < 1:
        raise ConfigError(f"grpo.length_coef: must lie in [0, 1) so a correct answer always beats a wrong one, "
                          f"got {g.length_coef}")
    if g.clip <= 0 or g.kl < 0:
        raise ConfigError(f"grpo.clip must be positive and grpo.kl non-negative, got {g.clip}, {g.kl}")
    for key, value in {"optim.warmup": o.warmup, "optim.beta1": o.beta1, "optim.beta2": o.beta2}.items():
        if not 0 <= value <= 1:
            raise ConfigError(f"{key}: must lie in [0, 1], got {value}")
    if o.weight_decay < 0:
        raise ConfigError(f"optim.weight_decay: must be non-negative, got {o.weight_decay}")
    ks = int_list(e.k, "eval.k")
    if not ks or min(ks) < 1:
        raise ConfigError(f"eval.k: need positive k's, got {e.k!r}")
    if max(ks) > e.samples:
        raise ConfigError(f"eval.k: k={max(ks)} is larger than eval.samples={e.samples} samples per problem")
    if e.train_problems < 0:
        raise ConfigError(f"eval.train_problems: must be non-negative, got {e.train_problems}")
    eval_start(e.start, cfg.steps, warmup_steps(o, cfg.steps))  # ConfigError naming eval.start
    for key, value in {"seed": cfg.seed, "problems.seed": p.seed}.items():  # NumPy and JAX take no negative seeds
        if value < 0:
            raise ConfigError(f"{key}: must be non-negative, got {value}")


def _start_as_text(data: dict) -> dict:
    """eval.start written as a number in YAML (start: 5) is the step "5"."""
    e = data.get("eval") if isinstance(data, dict) else None
    if isinstance(e, dict) and isinstance(e.get("start"), (int, float)) and not isinstance(e["start"], bool):
        v = e["start"]
        e["start"] = str(int(v)) if float(v).is_integer() else str(v)
    return data


def build(data: dict, overrides: list[str] | dict | None = None, source: str = "rl config") -> RLConfig:
    """Nested dict (+ `a.b=value` overrides) -> validated RLConfig; errors prefixed by `source`."""
    try:
        cfg = from_dict(RLConfig, _start_as_text(apply_overrides(data, overrides or [])))
        validate(cfg)
        return cfg
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


def load(path: str | Path | None = None, overrides: list[str] | dict | None = None) -> RLConfig:
    data = read_mapping(path) if path is not None else {}
    return build(data, overrides, source=str(path) if path is not None else "rl config")


def with_pretrained(cfg: RLConfig, pretrained_id: str) -> RLConfig:
    """`cfg` bound to the pretrained run `pretrained_id`; ConfigError if it names another run."""
    if cfg.pretrained and cfg.pretrained != pretrained_id:
        raise ConfigError(f"pretrained: the config names run {cfg.pretrained!r}, but the pretrained run "
                          f"directory holds run {pretrained_id!r}")
    return dataclasses.replace(cfg, pretrained=pretrained_id)


def run_id(cfg: RLConfig) -> str:
    """Short stable hash of the resolved RL config (which names the pretrained run's id)."""
    if not cfg.pretrained:
        raise ConfigError("pretrained: the RL config is not bound to a pretrained run yet")
    d = to_dict(cfg)
    d.pop("log_every")  # what is logged between evaluations does not change what is trained
    for (section, key), default in _ADDED.items():
        if d[section].get(key) == default:
            del d[section][key]
    blob = json.dumps({"stage": "rl", **d}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
