"""GRPO pieces: exact-answer rewards, length penalties, group-relative advantages, the clipped
policy-ratio loss with an optional k3 KL term to the starting model.

Host-side (NumPy): rewards, advantages and the alignment of sampled tokens with the model's
target positions. Device-side (JAX): the loss.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from scaling.data import check_answer, tokenizer
from scaling.models import targets


def answers_text(tokens: np.ndarray) -> list[str]:
    """Decoded words of each row up to its <eos> (a row without <eos> keeps a trailing marker so
    that it never matches: an answer must be finished)."""
    tok = tokenizer()
    out = []
    for row in np.asarray(tokens):
        words = []
        for t in row:
            t = int(t)
            if t == tok.eos_id:
                break
            if t == tok.pad_id:
                words.append("<unfinished>")
                break
            words.append(tok.words[t])
        else:
            words.append("<unfinished>")
        out.append(" ".join(words))
    return out


def correctness(tokens: np.ndarray, expected: list[str], group: int) -> np.ndarray:
    """bool [P*group]: exact answer check (`scaling.data.check_answer`) of every sampled row."""
    got = answers_text(tokens)
    return np.array([check_answer(g, expected[i // group]) for i, g in enumerate(got)], bool)


def rewards(correct: np.ndarray, length: np.ndarray, group: int, penalty: str, coef: float,
            max_len: int) -> np.ndarray:
    """Reward per row: 1 for a correct answer, 0 otherwise, minus a length charge on correct
    answers only (so a wrong or empty answer never gains from being short):
    `correct`: coef * len / max_len; `group`: coef * (len - mean len of the group's correct
    answers) / max_len. With coef < 1 a correct answer always earns more than a wrong one."""
    r = correct.astype(np.float64)
    if penalty == "none" or coef == 0:
        return r
    length = length.astype(np.float64)
    if penalty == "correct":
        return r - coef * correct * length / max_len
    c = correct.reshape(-1, group)
    ln = length.reshape(-1, group)
    mean = np.where(c.sum(1) > 0, (c * ln).sum(1) / np.maximum(c.sum(1), 1), 0.0)
    return r - coef * correct * (length - np.repeat(mean, group)) / max_len


def advantages(r: np.ndarray, group: int, std_norm: bool, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """(advantage per row, bool per row: the group's rewards are not all equal)."""
    g = r.reshape(-1, group)
    centred = g - g.mean(1, keepdims=True)
    std = g.std(1, keepdims=True)
    adv = centred / (std + eps) if std_norm else centred
    informative = np.repeat(std[:, 0] > 0, group)
    return adv.reshape(-1), informative


def align(values: np.ndarray, prompt_len: np.ndarray, length: np.ndarray, text_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-token sampled values [B, max_len] -> (values, mask) at the forward's target positions
    [B, text_len - 1]: answer token t of a row sits at target index prompt_len - 1 + t."""
    b, m = values.shape
    out = np.zeros((b, text_len - 1), np.float32)
    mask = np.zeros((b, text_len - 1), np.float32)
    for t in range(m):
        rows = np.nonzero(t < length)[0]
        out[rows, prompt_len[rows] - 1 + t] = values[rows, t]
        mask[rows, prompt_len[rows] - 1 + t] = 1.0
    return out, mask


def token_logp(logits: jax.Array, text: jax.Array, temperature) -> jax.Array:
    """log softmax(logits / temperature) of each next token: [B, text_len - 1]."""
    logp = jax.nn.log_softmax(logits.astype(jnp.float32) / temperature, axis=-1)
    return jnp.take_along_axis(logp, targets(text)[..., None], axis=-1)[..., 0]


def loss(logp, old_logp, ref_logp, mask, adv, clip: float, kl: float):
    """Token-mean clipped surrogate (+ kl * k3 estimate of KL(policy || reference)).

    logp/old_logp/ref_logp/mask [B, n_targets]; adv [B]. Returns (loss, metrics dict)."""
    ratio = jnp.exp(logp - old_logp)
    a = adv[:, None]
    surrogate = jnp.minimum(ratio * a, jnp.clip(ratio, 1 - clip, 1 + clip) * a)
    count = jnp.maximum(mask.sum(), 1.0)
    per_token, kl_mean = -surrogate, jnp.float32(0.0)
    if kl > 0:  # static: with the term off, no reference log-probs enter (and no inf * 0)
        d = ref_logp - logp
        k3 = jnp.exp(d) - d - 1
        per_token = per_token + kl * k3
        kl_mean = (k3 * mask).sum() / count
    out = (per_token * mask).sum() / count
    clipped = ((jnp.abs(ratio - 1) > clip) * mask).sum() / count
    return out, {"kl": kl_mean, "clip_frac": clipped}
