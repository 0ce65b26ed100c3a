"""AdamW with global-norm clipping and optional per-parameter learning-rate multipliers (µP:
`scaling.models.mup`; the learning-rate schedules live in `scaling.schedule`).

The learning rate and weight decay enter the jitted step as arguments, not constants, so one
compiled step serves every learning rate, seed and budget of a given shape (and the persistent
compilation cache can reuse it across the runs of a sweep).
"""

from __future__ import annotations

import jax
import optax

from scaling.config import OptimConfig
from scaling.schedule import lr_schedule as schedule  # noqa: F401  (the schedule a run uses)


def moments(cfg: OptimConfig, lr_scale=None) -> optax.GradientTransformation:
    """Clipping then Adam's moment estimates, then (if given) each parameter's learning-rate
    multiplier (`scaling.models.lr_scale`: a tree of floats shaped like the parameters); `apply`
    turns the result into an AdamW update. The multipliers scale Adam's step only, not the weight
    decay (see `scaling.models.mup`)."""
    parts = [optax.clip_by_global_norm(cfg.clip_norm), optax.scale_by_adam(cfg.beta1, cfg.beta2)]
    if lr_scale is not None:
        parts.append(per_parameter(lr_scale))
    return optax.chain(*parts)


def per_parameter(factors) -> optax.GradientTransformation:
    """Multiply each update by its parameter's constant factor (`factors`: shaped like the updates)."""
    def update(updates, state, params=None):
        return jax.tree.map(lambda u, f: u * f, updates, factors), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def apply(params, direction, lr, weight_decay):
    """AdamW step: p <- p - lr * (direction + weight_decay * p), decaying matrices only."""
    def one(p, d):
        decay = weight_decay * p if p.ndim >= 2 else 0.0  # biases and norm scales are not decayed
        return p - lr * (d + decay)

    return jax.tree.map(one, params, direction)
