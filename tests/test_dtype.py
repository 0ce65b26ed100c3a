"""`model.dtype` bfloat16: a compute dtype only. Parameters stay float32 and the analytic FLOP and
parameter counts are those of float32; the loss tracks float32 against a float64 reference of the
forward pass and along a short training run.

Tolerance: one bfloat16 unit roundoff (2^-8 = 0.39%) of the loss, relative. bfloat16 keeps 8
significand bits, so a single rounding of the loss itself would already be that large; the
matmuls accumulate in float32 and the roundings of many elements average out, so the measured
error is a few times smaller (forward, parameters x4 for O(1) logits: at most 7.5e-3 nats on
losses of 6.4-6.8, 1.2e-3 relative; training, 40 steps: at most 1e-3 nats, 3e-4 relative).
float32 against float64: about 1e-7 relative (float32's own roundoff).
"""

import dataclasses

import jax
import jax.numpy as jnp
import pytest
from flax import nnx

from scaling import config, flops, records
from scaling.data import train_batch
from scaling.models import build, loss_sums
from scaling.models.model import compute_dtype
from scaling.train import train

BF16_REL = 2.0 ** -8
F32_REL = 2.0 ** -20
SPLITS = ("caption", "qa", "text", "interleaved")


def _cfg(dtype: str, **extra):
    return config.load(None, {"model.width": 32, "model.dtype": dtype, **extra})


def test_float32_default_keeps_run_ids_and_bf16_gets_its_own():
    assert config.run_id(_cfg("float32")) == config.run_id(config.load(None, {"model.width": 32}))
    assert config.config_id(_cfg("float32")) == config.config_id(config.load(None, {"model.width": 32}))
    assert config.run_id(_cfg("bfloat16")) != config.run_id(_cfg("float32"))
    assert config.config_id(_cfg("bfloat16")) != config.config_id(_cfg("float32"))
    assert compute_dtype(_cfg("bfloat16")) == jnp.bfloat16


@pytest.mark.parametrize("family", ["early", "late", "blind"])
def test_bf16_is_compute_only(family):
    """Same float32 parameters, same counts, same analytic FLOPs; matmuls in bf16, logits float32."""
    f32, bf16 = _cfg("float32", **{"model.family": family}), _cfg("bfloat16", **{"model.family": family})
    g, p = nnx.split(build(bf16, 0), nnx.Param)
    _, p32 = nnx.split(build(f32, 0), nnx.Param)
    assert {leaf.dtype for leaf in jax.tree.leaves(p)} == {jnp.dtype(jnp.float32)}
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), p, p32))  # same init
    assert sum(leaf.size for leaf in jax.tree.leaves(p)) == flops.params(bf16)["total"] == flops.params(f32)["total"]
    assert flops.params(bf16) == flops.params(f32)
    assert flops.step_cost(bf16) == flops.step_cost(f32)
    for split in SPLITS:
        assert flops.forward_flops(bf16, split) == flops.forward_flops(f32, split)
        assert flops.train_flops(bf16, split, causal=True) == flops.train_flops(f32, split, causal=True)

    b = train_batch(bf16.data, 0, 0, 2)["caption"]
    im, tx = jnp.asarray(b["images"]), jnp.asarray(b["text"])
    jaxpr = jax.make_jaxpr(lambda p: nnx.merge(g, p)("caption", im, tx))(p)
    dots = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == "dot_general"]
    assert dots and all(v.aval.dtype == jnp.bfloat16 for e in dots for v in e.invars)
    assert jaxpr.out_avals[0].dtype == jnp.float32


@pytest.mark.parametrize("family", ["early", "late"])
def test_forward_loss_against_float64(family):
    """The loss of one batch per split in bfloat16 and float32 against the same model in float64."""
    base = config.load(None, {"model.width": 32, "model.family": family})
    batch = {k: v for k, v in train_batch(base.data, 0, 0, 16).items() if k in ("caption", "interleaved")}
    loss = {}
    with jax.enable_x64(True):
        for dt in ("float64", "float32", "bfloat16"):
            cfg = dataclasses.replace(base, model=dataclasses.replace(base.model, dtype=dt))  # float64: test only
            g, p = nnx.split(build(cfg, 0), nnx.Param)
            p = jax.tree.map(lambda a: a * 4.0, p)  # O(1) logits: a non-trivial softmax
            for split, b in batch.items():
                im, tx = jnp.asarray(b["images"]), jnp.asarray(b["text"])
                s, c = jax.jit(lambda p: loss_sums(nnx.merge(g, p)(split, im, tx), tx))(p)
                loss[dt, split] = float(s / c)
    for split in batch:
        ref = loss["float64", split]
        assert abs(loss["float32", split] - ref) <= F32_REL * ref
        assert abs(loss["bfloat16", split] - ref) <= BF16_REL * ref
    assert any(loss["bfloat16", s] != loss["float32", s] for s in batch)  # the bf16 path is taken


def test_bf16_training_tracks_float32(tmp_path):
    """A 40-step run in bfloat16 against the same run in float32: every evaluation, every split."""
    extra = {"data.val_examples": 32, "train.batch_size": 8, "train.eval_batch_size": 32,
             "train.tokens": 8 * 320 * 5, "train.eval_points": 4, "train.checkpoint_every": 1000}
    recs = {}
    for dt in ("float32", "bfloat16"):
        assert train(_cfg(dt, **extra), tmp_path / dt)["status"] == "done"
        recs[dt] = records.read_metrics(tmp_path / dt)
    assert [r["step"] for r in recs["float32"]] == [r["step"] for r in recs["bfloat16"]]
    assert recs["float32"][-1]["eval/loss/caption"] < recs["float32"][0]["eval/loss/caption"] - 0.5  # it learns
    differ = False
    for a, b in zip(recs["float32"], recs["bfloat16"]):
        assert a["compute/flops"] == b["compute/flops"]
        for split in SPLITS:
            ref, got = a[f"eval/loss/{split}"], b[f"eval/loss/{split}"]
            assert abs(got - ref) <= BF16_REL * ref, (a["step"], split, ref, got)
            differ |= got != ref
    assert differ


@pytest.mark.slow
def test_bf16_cached_decoding_gives_the_full_forward_logits():
    """The RL sampler's key-value cache in bfloat16 follows the model's own bfloat16 forward
    (measured: equal, eager); tolerance one bf16 rounding of the largest logit."""
    from scaling.data import tokenizer
    from scaling.rl import generate
    from scaling.rl.config import ProblemConfig
    from scaling.rl.problems import build as problems

    cfg = _cfg("bfloat16", **{"model.width": 64})
    graphdef, params = nnx.split(build(cfg, 1), nnx.Param)
    model = nnx.merge(graphdef, jax.tree.map(lambda x: x * 4.0 if x.ndim >= 2 else x, params))
    pr = problems(cfg.data, ProblemConfig(train=4, heldout=4, tiers="0,1,2"), "train")
    answers = jax.random.randint(jax.random.key(0), (len(pr), 3), 3, tokenizer().size).astype(jnp.int32)
    full = model("qa", jnp.asarray(pr.images), jnp.asarray(generate.full_text(pr.prompt, pr.prompt_len, answers, 1)))
    logits, cache = generate.prefill(model, jnp.asarray(pr.images), jnp.asarray(pr.prompt), jnp.asarray(pr.prompt_len))
    assert cache[0].dtype == jnp.bfloat16 and logits.dtype == jnp.float32
    rows, scale = jnp.arange(len(pr)), float(jnp.abs(full).max())
    for t in range(3):
        assert float(jnp.abs(logits - full[rows, pr.prompt_len - 1 + t]).max()) <= BF16_REL * scale
        pos = jnp.asarray(generate.text_start(cfg) + pr.prompt_len + t)
        logits, cache = generate.decode_step(model, cache, answers[:, t], pos)
