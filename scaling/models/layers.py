"""Transformer building blocks (pre-norm): attention, MLP, block, and a stack of blocks."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

_INIT = nnx.initializers.normal(stddev=0.02)


def linear(d_in: int, d_out: int, rngs: nnx.Rngs, std: float = 0.02) -> nnx.Linear:
    return nnx.Linear(d_in, d_out, kernel_init=nnx.initializers.normal(stddev=std), rngs=rngs)


class Attention(nnx.Module):
    """Multi-head self-attention with one fused QKV projection; causal or bidirectional."""

    def __init__(self, width: int, heads: int, out_std: float, rngs: nnx.Rngs):
        self.heads = heads
        self.qkv = linear(width, 3 * width, rngs)
        self.out = linear(width, width, rngs, std=out_std)

    def __call__(self, x: jax.Array, causal: bool) -> jax.Array:
        b, s, d = x.shape
        h = self.heads
        q, k, v = jnp.split(self.qkv(x).reshape(b, s, 3, h, d // h), 3, axis=2)
        q, k, v = (t[:, :, 0] for t in (q, k, v))  # [b, s, h, dh]
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(d // h)
        if causal:
            mask = jnp.tril(jnp.ones((s, s), dtype=bool))
            scores = jnp.where(mask, scores, jnp.finfo(scores.dtype).min)
        weights = jax.nn.softmax(scores, axis=-1)
        mixed = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, s, d)
        return self.out(mixed)


class MLP(nnx.Module):
    def __init__(self, width: int, ratio: int, out_std: float, rngs: nnx.Rngs):
        self.up = linear(width, ratio * width, rngs)
        self.down = linear(ratio * width, width, rngs, std=out_std)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.down(jax.nn.gelu(self.up(x)))


class Block(nnx.Module):
    def __init__(self, width: int, heads: int, ratio: int, depth: int, rngs: nnx.Rngs):
        out_std = 0.02 / math.sqrt(2 * depth)  # residual branches scaled with depth (GPT-2 practice)
        self.norm1 = nnx.LayerNorm(width, rngs=rngs)
        self.attn = Attention(width, heads, out_std, rngs)
        self.norm2 = nnx.LayerNorm(width, rngs=rngs)
        self.mlp = MLP(width, ratio, out_std, rngs)

    def __call__(self, x: jax.Array, causal: bool) -> jax.Array:
        x = x + self.attn(self.norm1(x), causal)
        return x + self.mlp(self.norm2(x))


class Stack(nnx.Module):
    """`depth` blocks and a final norm."""

    def __init__(self, width: int, depth: int, heads: int, ratio: int, rngs: nnx.Rngs):
        self.blocks = nnx.List([Block(width, heads, ratio, depth, rngs) for _ in range(depth)])
        self.norm = nnx.LayerNorm(width, rngs=rngs)

    def __call__(self, x: jax.Array, causal: bool) -> jax.Array:
        for block in self.blocks:
            x = block(x, causal)
        return self.norm(x)


def embedding(rows: int, width: int, rngs: nnx.Rngs) -> nnx.Param:
    return nnx.Param(_INIT(rngs.params(), (rows, width)))
