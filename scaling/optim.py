"""AdamW with global-norm clipping and the two learning-rate schedules (cosine, WSD)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from scaling.config import OptimConfig


def schedule(cfg: OptimConfig, steps: int) -> optax.Schedule:
    """Learning rate per step (0-based) for a run of `steps` steps.

    cosine: linear warmup over `warmup`*steps, then cosine to `final_lr_frac`*lr at the last step.
    wsd:    linear warmup, constant, then a linear decay over the last `decay`*steps to
            `final_lr_frac`*lr (warmup-stable-decay).
    """
    warm = max(1, round(cfg.warmup * steps)) if cfg.warmup > 0 else 0
    peak, final = cfg.lr, cfg.lr * cfg.final_lr_frac

    def lr(step):
        step = jnp.asarray(step, jnp.float32)
        warm_lr = peak * (step + 1) / max(warm, 1)
        if cfg.schedule == "cosine":
            frac = jnp.clip((step - warm) / max(steps - 1 - warm, 1), 0.0, 1.0)
            after = final + (peak - final) * 0.5 * (1 + jnp.cos(jnp.pi * frac))
        else:
            decay = max(1, round(cfg.decay * steps)) if cfg.decay > 0 else 0
            start = steps - decay
            frac = jnp.clip((step - start + 1) / max(decay, 1), 0.0, 1.0) if decay else 0.0
            after = peak + (final - peak) * frac
        return jnp.where(step < warm, warm_lr, after)

    return lr


def _decay_mask(params):
    # Decay matrices only; biases and norm scales are left alone.
    return jax.tree.map(lambda x: x.ndim >= 2, params)


def optimizer(cfg: OptimConfig, steps: int) -> optax.GradientTransformation:
    return optax.chain(
        optax.clip_by_global_norm(cfg.clip_norm),
        optax.adamw(schedule(cfg, steps), b1=cfg.beta1, b2=cfg.beta2,
                    weight_decay=cfg.weight_decay, mask=_decay_mask),
    )
