"""AdamW with global-norm clipping, and the two learning-rate schedules (cosine, WSD).

The learning rate and weight decay enter the jitted step as arguments, not constants, so one
compiled step serves every learning rate, seed and budget of a given shape (and the persistent
compilation cache can reuse it across the runs of a sweep).
"""

from __future__ import annotations

import jax
import numpy as np
import optax

from scaling.config import OptimConfig


def schedule(cfg: OptimConfig, steps: int):
    """Learning rate per step (0-based, host-side float) for a run of `steps` steps.

    cosine: linear warmup over `warmup`*steps, then cosine to `final_lr_frac`*lr at the last step.
    wsd:    linear warmup, constant, then a linear decay over the last `decay`*steps to
            `final_lr_frac`*lr (warmup-stable-decay).
    """
    warm = max(1, round(cfg.warmup * steps)) if cfg.warmup > 0 else 0
    peak, final = cfg.lr, cfg.lr * cfg.final_lr_frac
    decay = max(1, round(cfg.decay * steps)) if cfg.decay > 0 else 0

    def lr(step: int) -> float:
        if step < warm:
            return peak * (step + 1) / warm
        if cfg.schedule == "cosine":
            frac = min(max((step - warm) / max(steps - 1 - warm, 1), 0.0), 1.0)
            return float(final + (peak - final) * 0.5 * (1 + np.cos(np.pi * frac)))
        if not decay:
            return peak
        frac = min(max((step - (steps - decay) + 1) / decay, 0.0), 1.0)
        return peak + (final - peak) * frac

    return lr


def moments(cfg: OptimConfig) -> optax.GradientTransformation:
    """Clipping then Adam's moment estimates; `apply` turns them into an AdamW update."""
    return optax.chain(optax.clip_by_global_norm(cfg.clip_norm), optax.scale_by_adam(cfg.beta1, cfg.beta2))


def apply(params, direction, lr, weight_decay):
    """AdamW step: p <- p - lr * (direction + weight_decay * p), decaying matrices only."""
    def one(p, d):
        decay = weight_decay * p if p.ndim >= 2 else 0.0  # biases and norm scales are not decayed
        return p - lr * (d + decay)

    return jax.tree.map(one, params, direction)
