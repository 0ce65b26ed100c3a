"""Learning-rate schedules and the AdamW step, against closed forms and optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from scaling.config import OptimConfig
from scaling.optim import apply, moments, schedule


def test_cosine_schedule_closed_form():
    cfg = OptimConfig(lr=1.0, schedule="cosine", warmup=0.1, final_lr_frac=0.1)
    lr = schedule(cfg, 100)
    assert lr(0) == pytest.approx(0.1) and lr(9) == pytest.approx(1.0)
    assert lr(10) == pytest.approx(1.0)
    mid = 10 + (99 - 10) / 2
    assert lr(int(mid)) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * (int(mid) - 10) / 89)))
    assert lr(99) == pytest.approx(0.1)


def test_wsd_schedule_is_flat_then_decays_linearly():
    cfg = OptimConfig(lr=2.0, schedule="wsd", warmup=0.1, decay=0.2, final_lr_frac=0.0)
    lr = schedule(cfg, 100)
    assert [lr(s) for s in (10, 50, 79)] == [2.0, 2.0, 2.0]
    assert lr(80) == pytest.approx(2.0 * (1 - 1 / 20))
    assert lr(99) == pytest.approx(0.0)
    steps = [lr(s) for s in range(80, 100)]
    assert np.allclose(np.diff(steps), -0.1)


def test_adamw_step_matches_optax():
    cfg = OptimConfig(lr=1e-2, weight_decay=0.1, beta1=0.9, beta2=0.95, clip_norm=1.0)
    params = {"w": jnp.arange(6.0).reshape(2, 3) / 10, "b": jnp.ones(3)}
    grads = {"w": jnp.full((2, 3), 0.3), "b": jnp.full(3, -2.0)}
    ours = moments(cfg)
    ref = optax.chain(optax.clip_by_global_norm(cfg.clip_norm),
                      optax.adamw(cfg.lr, b1=cfg.beta1, b2=cfg.beta2, weight_decay=cfg.weight_decay,
                                  mask=lambda p: jax.tree.map(lambda x: x.ndim >= 2, p)))
    s_ours, s_ref = ours.init(params), ref.init(params)
    p_ours = p_ref = params
    for _ in range(3):
        direction, s_ours = ours.update(grads, s_ours)
        p_ours = apply(p_ours, direction, cfg.lr, cfg.weight_decay)
        upd, s_ref = ref.update(grads, s_ref, p_ref)
        p_ref = optax.apply_updates(p_ref, upd)
    for k in params:
        np.testing.assert_allclose(p_ours[k], p_ref[k], rtol=1e-6, atol=1e-7)
