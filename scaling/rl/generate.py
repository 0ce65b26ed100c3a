"""Batched sampling with a key-value cache: one prefill per problem, then one token per step.

Prefill runs the qa stream (image + "<qa> question <answer>" + pads: the fixed-shape text segment)
through the decoder once per problem, keeping every layer's keys and values; the cache is then
repeated for the problem's whole group, and each decode step feeds one token per row at its own
stream position (prompts differ in length). Keys at positions past a row's prompt hold pad
garbage from the prefill, but a row writes its position before attending to it and never looks
further, so the result equals a full causal forward (checked by the tests).

The policy is softmax(logits / temperature); the log-probability of every sampled token under it
is returned for the clipped ratio of the update. Temperature 0 decodes greedily (argmax): the
starting model's greedy answers are a control of every RL evaluation.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from scaling.config import RunConfig
from scaling.data import tokenizer
from scaling.models.families import entry
from scaling.models.layers import attend as _attend
from scaling.models.layers import compute_dtype
from scaling.stream import stream


def text_start(cfg: RunConfig) -> int:
    """Stream position of the qa split's text segment (after the image, if the family sees it)."""
    return next(s.start for s in stream(cfg, "qa").segments if s.kind == "text")


def _heads(model) -> tuple[int, int]:
    h = model.cfg.model.heads
    return h, model.cfg.model.width // h


def prefill(model, images, prompt, prompt_len):
    """Whole qa stream through the decoder, keeping keys/values.

    images [P, 1, S, S, 3], prompt [P, 1, T], prompt_len [P] -> (logits at each row's last prompt
    token [P, V], cache (keys, values) each [depth, P, L, heads, head_dim]).
    """
    h, dh = _heads(model)
    x = model.embed("qa", images, prompt)
    b, s, _ = x.shape
    causal = jnp.tril(jnp.ones((s, s), dtype=bool))
    ks, vs = [], []
    for blk in model.decoder.blocks:
        q, k, v = (t[:, :, 0] for t in jnp.split(blk.attn.qkv(blk.norm1(x)).reshape(b, s, 3, h, dh), 3, axis=2))
        x = x + blk.attn.out(_attend(q, k, v, causal, blk.attn.divisor))
        x = x + blk.mlp(blk.norm2(x))
        ks.append(k)
        vs.append(v)
    last = text_start(model.cfg) + prompt_len - 1
    hidden = model.decoder.norm(x[jnp.arange(b), last])
    return model.head(hidden), (jnp.stack(ks), jnp.stack(vs))


def decode_step(model, cache, token, pos):
    """One token per row: token [B] at stream position pos [B] -> (next logits [B, V], cache)."""
    h, dh = _heads(model)
    keys, values = cache
    b = token.shape[0]
    rows = jnp.arange(b)
    x = entry(model.cfg.model.family).text(model, model.tok[...][token] + model.pos[...][pos])
    x = x[:, None].astype(compute_dtype(model.cfg))  # [B, 1, d], in the compute dtype like `Model.embed`
    mask = (jnp.arange(keys.shape[2])[None, :] <= pos[:, None])[:, None, None, :]  # [B, 1, 1, L]
    for i, blk in enumerate(model.decoder.blocks):
        q, k, v = (t[:, :, 0] for t in jnp.split(blk.attn.qkv(blk.norm1(x)).reshape(b, 1, 3, h, dh), 3, axis=2))
        keys = keys.at[i, rows, pos].set(k[:, 0])
        values = values.at[i, rows, pos].set(v[:, 0])
        x = x + blk.attn.out(_attend(q, keys[i], values[i], mask, blk.attn.divisor))
        x = x + blk.mlp(blk.norm2(x))
    return model.head(model.decoder.norm(x[:, 0])), (keys, values)


def _pick(key, logits, temperature):
    """A token per row from softmax(logits / temperature); temperature 0 is greedy (argmax), with
    the log-probability then taken under softmax(logits)."""
    greedy = temperature <= 0
    scaled = logits.astype(jnp.float32) / jnp.where(greedy, 1.0, temperature)
    tok = jnp.where(greedy, jnp.argmax(scaled, axis=-1), jax.random.categorical(key, scaled, axis=-1))
    logp = jnp.take_along_axis(jax.nn.log_softmax(scaled, axis=-1), tok[:, None], axis=-1)[:, 0]
    return tok.astype(jnp.int32), logp


@partial(jax.jit, static_argnames=("graphdef", "group", "max_len"))
def sample(graphdef, params, images, prompt, prompt_len, key, temperature, *, group: int, max_len: int):
    """`group` answers to each of P problems, in one batch of P*group rows (problem-major).

    Returns tokens int32 [P*group, max_len] (<pad> after a row's <eos>), logp float32 (same
    shape; 0 past the end), length int32 [P*group] (tokens generated, <eos> included), and
    decode_steps (int32: decode steps executed for the whole batch; the loop stops when every
    row is done, so the compute actually spent is prefill + decode_steps * one decode step).
    """
    model = nnx.merge(graphdef, params)
    tok = tokenizer()
    logits, (keys, values) = prefill(model, images, prompt, prompt_len)
    rep = lambda a, axis: jnp.repeat(a, group, axis=axis)  # noqa: E731
    logits, keys, values = rep(logits, 0), rep(keys, 1), rep(values, 1)
    n = logits.shape[0]
    limit = prompt.shape[-1] - rep(prompt_len, 0)  # room left in the text segment
    pos0 = text_start(model.cfg) + rep(prompt_len, 0)  # where the first answer token sits
    first, lp = _pick(jax.random.fold_in(key, 0), logits, temperature)
    tokens = jnp.zeros((n, max_len), jnp.int32).at[:, 0].set(first)
    logps = jnp.zeros((n, max_len), jnp.float32).at[:, 0].set(lp)
    done = (first == tok.eos_id) | (limit <= 1)
    length = jnp.ones(n, jnp.int32)

    def cond(state):
        t, _, _, _, done, _, _ = state
        return (t < max_len) & ~jnp.all(done)

    def body(state):
        t, tokens, logps, cache, done, length, steps = state
        logits, cache = decode_step(model, cache, tokens[:, t - 1], pos0 + t - 1)
        nxt, lp = _pick(jax.random.fold_in(key, t), logits, temperature)
        nxt = jnp.where(done, tok.pad_id, nxt)
        tokens = tokens.at[:, t].set(nxt)
        logps = logps.at[:, t].set(jnp.where(done, 0.0, lp))
        length = length + (~done).astype(jnp.int32)
        done = done | (nxt == tok.eos_id) | (t + 1 >= limit)
        return t + 1, tokens, logps, cache, done, length, steps + 1

    state = (jnp.int32(1), tokens, logps, (keys, values), done, length, jnp.int32(0))
    _, tokens, logps, _, _, length, steps = jax.lax.while_loop(cond, body, state)
    return tokens, logps, length, steps


def full_text(prompt, prompt_len, tokens, group: int):
    """Text segments [P*group, 1, T] holding prompt + sampled answer (NumPy or JAX arrays), the
    input of the full forward used by the update and by the reference model."""
    prompt = np.repeat(np.asarray(prompt), group, axis=0)
    plen = np.repeat(np.asarray(prompt_len), group, axis=0)
    tokens = np.asarray(tokens)
    out = prompt.copy()
    T = out.shape[-1]
    for t in range(tokens.shape[1]):
        where = plen + t < T
        rows = np.nonzero(where)[0]
        out[rows, 0, plen[rows] + t] = tokens[rows, t]
    return out
