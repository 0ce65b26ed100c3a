"""One decoder; the ways images enter it are the model families (`scaling.families`, and their JAX
modules in `scaling.models.families`):

- `early`: image patches -> linear -> the shared stream (early fusion, "native").
- `late`:  patches -> bidirectional ViT encoder -> MLP projector -> the stream ("stitched").
- `blind`: the control; image segments are left out of the stream.

Every position gets a learned position embedding; `early`/`late` also add a modality embedding
(0 = text, 1 = image). Logits are computed only at loss positions (text token k predicts k+1).

`model.dtype` is the compute dtype: parameters stay float32, the stream and every matmul run in it
(`scaling.models.layers`), and the head accumulates into float32 logits, so log-softmax and the
loss are float32 whatever the compute dtype.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from scaling.config import RunConfig
from scaling.models import mup
from scaling.models.families import entry
from scaling.models.layers import Stack, at_least_f32, compute_dtype, embedding
from scaling.stream import max_length, stream, vocab_size


def patchify(images: jax.Array, patch: int) -> jax.Array:
    """[..., S, S, C] -> [..., (S/p)^2, p*p*C], row-major over patches."""
    *lead, s, _, c = images.shape
    g = s // patch
    x = images.reshape(*lead, g, patch, g, patch, c)
    x = jnp.moveaxis(x, -4, -3)  # [..., g, g, p, p, c]
    return x.reshape(*lead, g * g, patch * patch * c)


class Model(nnx.Module):
    def __init__(self, cfg: RunConfig, rngs: nnx.Rngs):
        m, dt = cfg.model, compute_dtype(cfg)
        self.cfg = cfg
        self.tok = embedding(vocab_size(), m.width, rngs)
        self.pos = embedding(max_length(cfg), m.width, rngs)
        for name, module in entry(m.family).modules(cfg, rngs).items():  # the family's own, in its order
            setattr(self, name, module)
        self.decoder = Stack(m.width, m.depth, m.heads, m.mlp_ratio, rngs, dt,
                             mup.attention_divisor(cfg, m.width // m.heads))
        self.head = nnx.Linear(m.width, vocab_size(), use_bias=False,
                               kernel_init=nnx.initializers.normal(stddev=0.02), dtype=dt,
                               param_dtype=jnp.float32, preferred_element_type=at_least_f32(dt), rngs=rngs)

    def embed(self, split: str, images: jax.Array, text: jax.Array) -> jax.Array:
        """images [B, n_img, S, S, 3], text [B, n_txt, T] -> stream [B, L, width]."""
        family = entry(self.cfg.model.family)
        parts = []
        for seg in stream(self.cfg, split).segments:
            if seg.kind == "text":
                x = family.text(self, self.tok[...][text[:, seg.index]])
            else:
                x = family.image(self, patchify(images[:, seg.index], self.cfg.vision.patch_size))
            parts.append(x)
        x = jnp.concatenate(parts, axis=1)
        return (x + self.pos[...][: x.shape[1]]).astype(compute_dtype(self.cfg))

    def __call__(self, split: str, images: jax.Array, text: jax.Array) -> jax.Array:
        """Logits at the loss positions: [B, n_targets, vocab]."""
        hidden = self.decoder(self.embed(split, images, text), causal=True)
        where = jnp.asarray(stream(self.cfg, split).target_positions)
        return self.head(hidden[:, where])


def targets(text: jax.Array) -> jax.Array:
    """Next-token targets matching `Model.__call__`'s positions: [B, n_txt*(T-1)] token ids."""
    return text[:, :, 1:].reshape(text.shape[0], -1)


def example_loss_sums(logits: jax.Array, text: jax.Array, pad_id: int = 0, soft: jax.Array | None = None,
                      noise: float = 0.0, noise_ids: tuple[int, ...] = ()) -> tuple[jax.Array, jax.Array]:
    """Per text segment: (sum of next-token cross-entropy over non-pad targets [nats], number of
    such targets), each [B, n_txt].

    `soft` [B, n_txt, T] marks text tokens that the generator replaces, with probability `noise`,
    by a uniform draw from `noise_ids`: there the cross-entropy is its exact expectation over that
    noise, (1 - noise) * (-log p(token)) + noise * mean over noise_ids of (-log p(id)).
    """
    tgt = targets(text)
    logp = jax.nn.log_softmax(logits.astype(at_least_f32(logits.dtype)), axis=-1)
    nll = -jnp.take_along_axis(logp, tgt[..., None], axis=-1)[..., 0]
    if soft is not None:
        uniform = -jnp.mean(logp[..., jnp.asarray(noise_ids)], axis=-1)
        expected = (1 - noise) * nll + noise * uniform
        nll = jnp.where(targets(soft) > 0, expected, nll)
    mask = (tgt != pad_id).astype(jnp.float32)
    shape = (*text.shape[:2], text.shape[2] - 1)
    return jnp.sum((nll * mask).reshape(shape), axis=-1), jnp.sum(mask.reshape(shape), axis=-1)


def loss_sums(logits: jax.Array, text: jax.Array, pad_id: int = 0) -> tuple[jax.Array, jax.Array]:
    """(sum of next-token cross-entropy over non-pad targets [nats], number of such targets)."""
    s, c = example_loss_sums(logits, text, pad_id)
    return jnp.sum(s), jnp.sum(c)


def build(cfg: RunConfig, seed: int) -> Model:
    """A fresh model of `cfg` from `seed`, initialised as its parameterisation (`model.param`) says."""
    model = Model(cfg, nnx.Rngs(params=seed))
    if cfg.model.param == "mup":
        init, _ = _mup_factors(cfg)
        # factors of 1 left alone: outside jit every distinct product would compile a kernel
        nnx.update(model, jax.tree.map(lambda p, f: p if f == 1.0 else p * f, nnx.state(model, nnx.Param), init))
    return model


def _param_shapes(cfg: RunConfig):
    return nnx.state(nnx.eval_shape(lambda: Model(cfg, nnx.Rngs(0))), nnx.Param)


def _mup_factors(cfg: RunConfig):
    return mup.factors(_param_shapes(cfg), _param_shapes(mup.base_config(cfg)))


def lr_scale(cfg: RunConfig):
    """Each parameter's learning-rate multiplier (a tree shaped like the model's parameters), or
    None under the standard parameterisation (one learning rate for every parameter)."""
    return _mup_factors(cfg)[1] if cfg.model.param == "mup" else None
