"""Transformer building blocks (pre-norm): attention, MLP, block, and a stack of blocks.

`dtype` is the compute dtype (`model.dtype`): parameters are float32 and cast to it at each matmul,
activations are held in it; layer-norm statistics and the attention softmax run in float32.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from scaling.config import RunConfig

_INIT = nnx.initializers.normal(stddev=0.02)


def compute_dtype(cfg: RunConfig) -> jnp.dtype:
    """The compute dtype the run config's `model.dtype` names (float32 | bfloat16)."""
    return jnp.dtype(cfg.model.dtype)


def at_least_f32(dtype) -> jnp.dtype:
    """The dtype of logits, softmax and loss: float32, or wider if the compute dtype is."""
    return jnp.promote_types(dtype, jnp.float32)


def linear(d_in: int, d_out: int, rngs: nnx.Rngs, std: float = 0.02, dtype=jnp.float32) -> nnx.Linear:
    return nnx.Linear(d_in, d_out, kernel_init=nnx.initializers.normal(stddev=std), dtype=dtype,
                      param_dtype=jnp.float32, rngs=rngs)


def norm(width: int, rngs: nnx.Rngs, dtype=jnp.float32) -> nnx.LayerNorm:
    return nnx.LayerNorm(width, dtype=dtype, param_dtype=jnp.float32, rngs=rngs)


def attend(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array | None,
           divisor: float | None = None) -> jax.Array:
    """q [b, q, h, dh], k/v [b, k, h, dh], mask broadcastable to [b, h, q, k] (None: attend to all)
    -> [b, q, h*dh]. Scores (divided by `divisor`, default sqrt(dh); `Attention.divisor`) and
    softmax in float32 (at least), the mixing matmul in v's dtype."""
    b, s, h, dh = q.shape
    acc = jnp.promote_types(q.dtype, jnp.float32)
    divisor = math.sqrt(dh) if divisor is None else divisor
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k, preferred_element_type=acc) / divisor
    if mask is not None:
        scores = jnp.where(mask, scores, jnp.finfo(acc).min)
    weights = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
    return jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, s, h * dh)


class Attention(nnx.Module):
    """Multi-head self-attention with one fused QKV projection; causal or bidirectional. Scores
    are divided by `divisor` (None: sqrt of the head size; `scaling.models.mup.attention_divisor`)."""

    def __init__(self, width: int, heads: int, out_std: float, rngs: nnx.Rngs, dtype=jnp.float32,
                 divisor: float | None = None):
        self.heads = heads
        self.divisor = math.sqrt(width // heads) if divisor is None else divisor
        self.qkv = linear(width, 3 * width, rngs, dtype=dtype)
        self.out = linear(width, width, rngs, std=out_std, dtype=dtype)

    def __call__(self, x: jax.Array, causal: bool) -> jax.Array:
        b, s, d = x.shape
        h = self.heads
        q, k, v = jnp.split(self.qkv(x).reshape(b, s, 3, h, d // h), 3, axis=2)
        q, k, v = (t[:, :, 0] for t in (q, k, v))  # [b, s, h, dh]
        mask = jnp.tril(jnp.ones((s, s), dtype=bool)) if causal else None
        return self.out(attend(q, k, v, mask, self.divisor))


class MLP(nnx.Module):
    def __init__(self, width: int, ratio: int, out_std: float, rngs: nnx.Rngs, dtype=jnp.float32):
        self.up = linear(width, ratio * width, rngs, dtype=dtype)
        self.down = linear(ratio * width, width, rngs, std=out_std, dtype=dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.down(jax.nn.gelu(self.up(x)))


class Block(nnx.Module):
    def __init__(self, width: int, heads: int, ratio: int, depth: int, rngs: nnx.Rngs, dtype=jnp.float32,
                 divisor: float | None = None):
        out_std = 0.02 / math.sqrt(2 * depth)  # residual branches scaled with depth (GPT-2 practice)
        self.norm1 = norm(width, rngs, dtype)
        self.attn = Attention(width, heads, out_std, rngs, dtype, divisor)
        self.norm2 = norm(width, rngs, dtype)
        self.mlp = MLP(width, ratio, out_std, rngs, dtype)

    def __call__(self, x: jax.Array, causal: bool) -> jax.Array:
        x = x + self.attn(self.norm1(x), causal)
        return x + self.mlp(self.norm2(x))


class Stack(nnx.Module):
    """`depth` blocks and a final norm; `divisor`: the attention scores' (`Attention`)."""

    def __init__(self, width: int, depth: int, heads: int, ratio: int, rngs: nnx.Rngs, dtype=jnp.float32,
                 divisor: float | None = None):
        self.blocks = nnx.List([Block(width, heads, ratio, depth, rngs, dtype, divisor) for _ in range(depth)])
        self.norm = norm(width, rngs, dtype)

    def __call__(self, x: jax.Array, causal: bool) -> jax.Array:
        for block in self.blocks:
            x = block(x, causal)
        return self.norm(x)


def embedding(rows: int, width: int, rngs: nnx.Rngs) -> nnx.Param:
    return nnx.Param(_INIT(rngs.params(), (rows, width)))
