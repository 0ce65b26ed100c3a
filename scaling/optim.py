"""AdamW with global-norm clipping (the learning-rate schedules live in `scaling.schedule`).

The learning rate and weight decay enter the jitted step as arguments, not constants, so one
compiled step serves every learning rate, seed and budget of a given shape (and the persistent
compilation cache can reuse it across the runs of a sweep).
"""

from __future__ import annotations

import jax
import optax

from scaling.config import OptimConfig
from scaling.schedule import lr_schedule as schedule  # noqa: F401  (the schedule a run uses)


def moments(cfg: OptimConfig) -> optax.GradientTransformation:
    """Clipping then Adam's moment estimates; `apply` turns them into an AdamW update."""
    return optax.chain(optax.clip_by_global_norm(cfg.clip_norm), optax.scale_by_adam(cfg.beta1, cfg.beta2))


def apply(params, direction, lr, weight_decay):
    """AdamW step: p <- p - lr * (direction + weight_decay * p), decaying matrices only."""
    def one(p, d):
        decay = weight_decay * p if p.ndim >= 2 else 0.0  # biases and norm scales are not decayed
        return p - lr * (d + decay)

    return jax.tree.map(one, params, direction)
