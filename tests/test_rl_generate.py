"""Key-value cache decoding against the full forward; sampling is deterministic per key."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from scaling import config
from scaling.data import tokenizer
from scaling.models import build
from scaling.rl import generate
from scaling.rl.config import ProblemConfig
from scaling.rl.problems import build as problems


def _setup(family, width=64):
    cfg = config.load(None, {"model.family": family, "model.width": width})
    graphdef, params = nnx.split(build(cfg, 1), nnx.Param)
    # random weights are too flat to tell positions apart: sharpen them so that errors show
    params = jax.tree.map(lambda x: x * 4.0 if x.ndim >= 2 else x, params)
    pr = problems(cfg.data, ProblemConfig(train=4, heldout=4, tiers="0,1,2"), "train")
    return cfg, graphdef, params, pr


@pytest.mark.parametrize("family", ["early", "late", "blind"])
def test_cached_decoding_gives_the_full_forward_logits(family):
    cfg, graphdef, params, pr = _setup(family)
    model = nnx.merge(graphdef, params)
    rng = np.random.default_rng(0)
    steps = 5
    answers = rng.integers(3, tokenizer().size, size=(len(pr), steps)).astype(np.int32)
    text = generate.full_text(pr.prompt, pr.prompt_len, answers, 1)  # prompt + forced answer tokens
    full = model("qa", jnp.asarray(pr.images), jnp.asarray(text))  # [P, T-1, V]
    logits, cache = generate.prefill(model, jnp.asarray(pr.images), jnp.asarray(pr.prompt),
                                     jnp.asarray(pr.prompt_len))
    start = generate.text_start(cfg)
    rows = np.arange(len(pr))
    scale = float(jnp.abs(full).max())
    for t in range(steps):
        want = full[rows, pr.prompt_len - 1 + t]
        np.testing.assert_allclose(np.asarray(logits), np.asarray(want), atol=2e-5 * scale, rtol=1e-4)
        pos = jnp.asarray(start + pr.prompt_len + t)
        logits, cache = generate.decode_step(model, cache, jnp.asarray(answers[:, t]), pos)
    # and the check can fail: a wrong position gives other logits
    wrong, _ = generate.decode_step(model, cache, jnp.asarray(answers[:, 0]), pos - 3)
    assert not np.allclose(np.asarray(wrong), np.asarray(full[rows, pr.prompt_len]), atol=1e-3)


def test_sampled_log_probs_match_the_full_forward_and_keys_fix_the_samples():
    cfg, graphdef, params, pr = _setup("early")
    args = (graphdef, params, jnp.asarray(pr.images), jnp.asarray(pr.prompt), jnp.asarray(pr.prompt_len))
    a = generate.sample(*args, jax.random.key(3), 1.5, group=6, max_len=5)
    b = generate.sample(*args, jax.random.key(3), 1.5, group=6, max_len=5)
    c = generate.sample(*args, jax.random.key(4), 1.5, group=6, max_len=5)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert not np.array_equal(np.asarray(a[0]), np.asarray(c[0]))
    tokens, logp, length, steps = (np.asarray(x) for x in a)
    assert tokens.shape == (len(pr) * 6, 5) and 1 <= int(steps) <= 4
    eos = tokenizer().eos_id
    for row, n in zip(tokens, length):  # <eos> ends a row; <pad> after it
        assert (row[n:] == 0).all() and (eos not in row[:n - 1])
    text = generate.full_text(pr.prompt, pr.prompt_len, tokens, 6)
    logits = nnx.merge(graphdef, params)("qa", jnp.repeat(jnp.asarray(pr.images), 6, 0), jnp.asarray(text))
    full = np.asarray(jax.nn.log_softmax(logits / 1.5, axis=-1))
    plen = np.repeat(pr.prompt_len, 6)
    for r in range(len(tokens)):
        for t in range(length[r]):
            j = plen[r] - 1 + t
            assert abs(full[r, j, text[r, 0, j + 1]] - logp[r, t]) < 1e-4


def test_temperature_zero_decodes_greedily_whatever_the_key():
    cfg, graphdef, params, pr = _setup("early")
    args = (graphdef, params, jnp.asarray(pr.images), jnp.asarray(pr.prompt), jnp.asarray(pr.prompt_len))
    a = [np.asarray(x) for x in generate.sample(*args, jax.random.key(3), 0.0, group=3, max_len=5)]
    b = [np.asarray(x) for x in generate.sample(*args, jax.random.key(9), 0.0, group=3, max_len=5)]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    tokens, logp, length, _ = a
    assert (tokens.reshape(len(pr), 3, -1) == tokens.reshape(len(pr), 3, -1)[:, :1]).all()  # the group agrees
    # every token is the argmax of the full forward on the greedy prefix (the independent truth)
    text = generate.full_text(pr.prompt, pr.prompt_len, tokens, 3)
    logits = np.asarray(nnx.merge(graphdef, params)("qa", jnp.repeat(jnp.asarray(pr.images), 3, 0), jnp.asarray(text)))
    plen = np.repeat(pr.prompt_len, 3)
    for r in range(len(tokens)):
        for t in range(length[r]):
            j = plen[r] - 1 + t
            assert text[r, 0, j + 1] == logits[r, j].argmax()
            assert abs(jax.nn.log_softmax(logits[r, j])[text[r, 0, j + 1]] - logp[r, t]) < 1e-4
    # and sampling at a positive temperature is not greedy
    hot = np.asarray(generate.sample(*args, jax.random.key(3), 50.0, group=3, max_len=5)[0])
    assert not np.array_equal(hot, tokens)
