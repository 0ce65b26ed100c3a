"""RL compute, counted the way `scaling.flops` counts training (a multiply-add is 2 FLOPs, only
matrix products), for what the jitted steps actually execute:

- prefill: per problem, the whole qa stream (image + the fixed-shape text segment) through the
  decoder with dense attention, and the head at the last prompt position only;
- decode: per row and decode step, the dense products of one position, attention over the whole
  cache (the qa stream's length), and the head; the loop runs until every row of the batch is
  done, so finished rows still cost their share;
- update: per row and gradient step, the training cost of one qa example
  (`scaling.flops.train_flops`: forward + backward, logits at every text target);
- reference: per row, one forward of the starting model (only when the KL term is on).

Filtered rollouts (groups of equal rewards) still count in sampling; the update runs on the
whole fixed-shape batch, so it counts them too.
"""

from __future__ import annotations

from scaling import flops as F
from scaling.config import RunConfig
from scaling.stream import stream, vocab_size


def prefill(cfg: RunConfig) -> float:
    """FLOPs of one problem's prefill."""
    f = F.forward_flops(cfg, "qa")
    return sum(f.values()) - f["head"] + 2.0 * cfg.model.width * vocab_size()


def decode_step(cfg: RunConfig) -> float:
    """FLOPs of one decode step of one row."""
    m, d = cfg.model, cfg.model.width
    cache = stream(cfg, "qa").length
    dense = 2.0 * (4 * d * d + 2 * m.mlp_ratio * d * d)
    return m.depth * (dense + 4.0 * cache * d) + 2.0 * d * vocab_size()


def update(cfg: RunConfig) -> float:
    """FLOPs of one row in one gradient step."""
    return F.train_flops(cfg, "qa")


def reference(cfg: RunConfig) -> float:
    """FLOPs of one row's forward through the reference model."""
    return sum(F.forward_flops(cfg, "qa").values())


def non_embedding_params(cfg: RunConfig) -> int:
    p = F.params(cfg)
    return p["total"] - p["embed"]


def step_flops(cfg: RunConfig, problems: int, group: int, decode_steps: int, updates: int,
               with_reference: bool) -> dict[str, float]:
    """One RL step's compute by kind, exact and in the 2N/6N convention (N = non-embedding
    parameters; positions: prefill stream, decode tokens, trained stream positions)."""
    rows = problems * group
    L = stream(cfg, "qa").length
    n = non_embedding_params(cfg)
    sampling = problems * prefill(cfg) + decode_steps * rows * decode_step(cfg)
    upd = updates * rows * update(cfg)
    ref = rows * reference(cfg) if with_reference else 0.0
    approx = 2.0 * n * (problems * L + decode_steps * rows) + 6.0 * n * updates * rows * L
    approx += 2.0 * n * rows * L if with_reference else 0.0
    return {"rl/flops_sampling": sampling, "rl/flops_update": upd, "rl/flops_reference": ref,
            "rl/flops": sampling + upd + ref, "rl/flops_2n6n": approx}
