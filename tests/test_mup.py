"""The µP parameterisation (`model.param: mup`, `scaling.models.mup`) against its defining properties.

- Coordinate check: after a few Adam steps at one learning rate, the change of the logits' coordinates
  is (nearly) the same at every width under mup, and grows about in proportion to width under the
  standard parameterisation (the reason the best learning rate moves with width there).
- The multipliers reach the optimizer the trainer builds: Adam's first step on a hidden or output
  matrix is base_width / width of an input's (closed form: Adam's first step is the gradient's sign).
- Initial scales: hidden matrices' std falls as 1/sqrt(width), the readout's as 1/width, inputs keep
  theirs; at the base width mup is the standard model, draw for draw.
- Every family is covered, cached decoding (RL, test time) uses mup's attention scale, the standard
  run ids are unchanged, and bad values are one line naming the key.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from scaling import config as C
from scaling import families
from scaling.cli import main
from scaling.errors import ConfigError
from scaling.models import build, loss_sums, lr_scale
from scaling.models.mup import attention_divisor
from scaling.optim import apply, moments
from scaling.stream import stream

BASE = 32
INPUTS = ("tok", "pos", "modality", "patch_embed")  # input layers: their fan-in does not grow with width


def _cfg(param: str, width: int, family: str = "blind", **more) -> C.RunConfig:
    return C.build({}, {"model.family": family, "model.width": width, "model.param": param,
                        "model.base_width": BASE, **more})


def _leaves(tree) -> dict[str, object]:
    return {jax.tree_util.keystr(p): v for p, v in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _logit_change(param: str, width: int, steps: int = 2, lr: float = 1e-3) -> float:
    """RMS change of the logits on a fixed random text batch after `steps` Adam steps (one block,
    so that only width varies), through the project's own optimizer and multipliers."""
    cfg = _cfg(param, width, **{"model.depth": 1})
    graphdef, params = nnx.split(build(cfg, 0), nnx.Param)
    tx = moments(cfg.optim, lr_scale(cfg))
    segments = sum(1 for s in stream(cfg, "text").segments if s.kind == "text")
    text = jnp.asarray(np.random.default_rng(0).integers(3, 50, size=(8, segments, cfg.data.text_len)), jnp.int32)
    images = jnp.zeros((8, 0, cfg.data.image_size, cfg.data.image_size, 3))

    def loss(p):
        logits = nnx.merge(graphdef, p)("text", images, text)
        total, count = loss_sums(logits, text)
        return total / count, logits

    @jax.jit
    def step(state):  # -> the next state, and the logits before the step
        p, o = state
        grads, logits = jax.grad(loss, has_aux=True)(p)
        direction, o = tx.update(grads, o)
        return (apply(p, direction, lr, 0.0), o), logits

    state, before = step((params, tx.init(params)))
    for _ in range(steps):
        state, after = step(state)
    return float(jnp.sqrt(jnp.mean((after - before) ** 2)))


def test_coordinate_check_is_flat_in_width_under_mup_and_not_under_standard():
    widths = (32, 128, 512)
    slope = {}
    for param in ("standard", "mup"):
        change = [_logit_change(param, w) for w in widths]
        slope[param] = np.polyfit(np.log(widths), np.log(change), 1)[0]  # change ∝ width^slope
    assert slope["standard"] > 0.8, slope  # standard: the update's effect grows about like width
    assert abs(slope["mup"]) < 0.35, slope  # mup: width-independent up to finite-width terms


def _first_adam_step(tx, params) -> dict[str, np.ndarray]:
    """Adam's first step on a gradient of ones: g / (|g| + eps), about 1 on every coordinate, times
    the multiplier (the clipping before it only shrinks g)."""
    grads = jax.tree.map(jnp.ones_like, params)
    step, _ = tx.update(grads, tx.init(params), params)
    return _leaves(step)


def _grows(name: str, leaf) -> bool:
    return leaf.ndim >= 2 and not any(f"['{i}']" in name for i in INPUTS)


def test_the_trainers_optimizer_carries_the_multipliers():
    from scaling.trainer import Trainer

    trainer = Trainer([_cfg("mup", 4 * BASE)])
    try:
        for name, leaf in _first_adam_step(trainer.tx, trainer.member_state(0)[0]).items():
            np.testing.assert_allclose(np.asarray(leaf), 0.25 if _grows(name, leaf) else 1.0, rtol=1e-4,
                                       err_msg=name)
    finally:
        trainer.close()


@pytest.mark.parametrize("param, width", [("standard", 4 * BASE), ("mup", BASE)])
def test_one_learning_rate_for_all_under_standard_and_at_the_base(param, width):
    cfg = _cfg(param, width)
    params = nnx.state(build(cfg, 0), nnx.Param)
    for name, leaf in _first_adam_step(moments(cfg.optim, lr_scale(cfg)), params).items():
        np.testing.assert_allclose(np.asarray(leaf), 1.0, rtol=1e-4, err_msg=name)


def test_initial_scales_follow_fan_in_and_equal_standard_at_the_base():
    wide, std = build(_cfg("mup", 8 * BASE), 0), build(_cfg("standard", 8 * BASE), 0)
    r = 8
    blk = wide.decoder.blocks[0]
    assert np.std(np.asarray(blk.mlp.up.kernel[...])) == pytest.approx(0.02 / math.sqrt(r), rel=0.02)
    assert np.std(np.asarray(wide.head.kernel[...])) == pytest.approx(0.02 / r, rel=0.02)
    np.testing.assert_array_equal(np.asarray(wide.tok[...]), np.asarray(std.tok[...]))  # an input: as standard
    same = (build(_cfg("mup", BASE), 3), build(_cfg("standard", BASE), 3))
    for a, b in zip(*(jax.tree.leaves(nnx.state(m, nnx.Param)) for m in same)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("family", families.FAMILIES)
def test_every_family_has_a_multiplier_for_every_parameter(family):
    cfg = _cfg("mup", 2 * BASE, family)
    scale, shapes = _leaves(lr_scale(cfg)), _leaves(nnx.state(build(cfg, 0), nnx.Param))
    assert scale.keys() == shapes.keys()
    hidden = [n for n, leaf in shapes.items() if _grows(n, leaf)]
    assert hidden and all(scale[n] == 0.5 for n in hidden)
    assert all(scale[n] == 1.0 for n in shapes if n not in hidden)


def test_attention_is_scaled_one_over_head_size_anchored_at_the_base():
    for width, heads in ((32, 1), (48, 1), (128, 4), (128, 1)):
        cfg = _cfg("mup", width, **{"model.heads": heads})
        d = width // heads
        assert attention_divisor(cfg, d) == pytest.approx(d / math.sqrt(BASE))  # base head size 32
        assert attention_divisor(_cfg("standard", width, **{"model.heads": heads}), d) == math.sqrt(d)


def test_cached_decoding_uses_mups_attention_scale():
    from scaling.rl import generate
    from scaling.rl.config import ProblemConfig
    from scaling.rl.problems import build as problems

    cfg = _cfg("mup", 48, "early")  # one head of 48: mup's divisor differs from sqrt(48)
    graphdef, params = nnx.split(build(cfg, 1), nnx.Param)
    pr = problems(cfg.data, ProblemConfig(train=2, heldout=2, tiers="0"), "train")
    text = generate.full_text(pr.prompt, pr.prompt_len, np.full((len(pr), 1), 5, np.int32), 1)
    images = jnp.asarray(pr.images)
    full = jax.jit(lambda p: nnx.merge(graphdef, p)("qa", images, jnp.asarray(text)))(params)
    logits = jax.jit(lambda p: generate.prefill(nnx.merge(graphdef, p), images, jnp.asarray(pr.prompt),
                                                jnp.asarray(pr.prompt_len))[0])(params)
    want = np.asarray(full[np.arange(len(pr)), pr.prompt_len - 1])
    np.testing.assert_allclose(np.asarray(logits), want, rtol=1e-4, atol=1e-5)


def test_run_ids_standard_unchanged_mup_distinct():
    std = _cfg("standard", 64)
    old = C.to_dict(std)
    for key in ("param", "base_width"):
        del old["model"][key]  # a config written before the option existed
    assert C.run_id(C.build(old)) == C.run_id(std)
    assert C.run_id(std) == C.run_id(C.build({}, {"model.family": "blind", "model.width": 64,
                                                   "model.base_width": 7}))  # not read: not in the id
    mup = _cfg("mup", 64)
    assert C.run_id(mup) != C.run_id(std)
    assert C.run_id(mup) != C.run_id(C.build({}, {"model.family": "blind", "model.width": 64,
                                                  "model.param": "mup", "model.base_width": 64}))


@pytest.mark.parametrize("setting, key", [
    ("model.param=foo", "model.param"), ("model.base_width=0", "model.base_width"),
    ("model.base_width=-32", "model.base_width"), ("model.base_width=100", "model.base_width"),
])
def test_bad_values_are_one_line_naming_the_key(setting, key, tmp_path, capsys):
    with pytest.raises(ConfigError, match=key):
        C.build({}, [setting, "model.param=mup"] if "param=foo" not in setting else [setting])
    overrides = ["--set", setting] + ([] if "param=" in setting else ["--set", "model.param=mup"])
    rc = main(["train", "--out", str(tmp_path / "run"), *overrides])
    cap = capsys.readouterr()
    lines = [x for x in (cap.out + cap.err).splitlines() if x.strip()]
    assert rc == 2 and len(lines) == 1 and key in lines[0] and "Traceback" not in lines[0], lines
    assert not (tmp_path / "run").exists()


def test_flops_and_parameters_are_the_standard_models():
    from scaling import flops

    std, mup = _cfg("standard", 48, "early"), _cfg("mup", 48, "early")  # a head of 48: mup's divisor differs
    assert flops.params(mup) == flops.params(std)
    assert flops.step_cost(mup) == flops.step_cost(std)
    assert flops.against_xla(mup, splits=("caption",)) == flops.against_xla(std, splits=("caption",))
