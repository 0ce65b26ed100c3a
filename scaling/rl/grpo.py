"""GRPO pieces: exact-answer rewards (or the random-reward control's), length penalties, group-relative advantages, the clipped
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


def parse(tokens: np.ndarray) -> dict[str, np.ndarray | list[str]]:
    """Every sampled row read as '[<think> steps </think>] answer <eos>'.

    Returns answer (words after </think>, or the whole row without a think block; a row without
    <eos> or with an unclosed think block gets a trailing marker so that it never matches),
    completion (all words before <eos>), think (int: tokens strictly inside the think block),
    closed (bool: the row opens with <think> and closes it with </think>: a chain, whose length
    means something), truncated (bool: no <eos> within the budget)."""
    tok = tokenizer()
    open_id, end_id = tok.ids.get("<think>", -1), tok.ids.get("</think>", -1)
    rows = np.asarray(tokens)
    answers, completions = [], []
    think = np.zeros(len(rows), np.int64)
    closed = np.zeros(len(rows), bool)
    truncated = np.zeros(len(rows), bool)
    for r, row in enumerate(rows):
        ids = [int(t) for t in row]
        stop = ids.index(tok.eos_id) if tok.eos_id in ids else None
        if stop is None:
            truncated[r] = True
            body = ids[:ids.index(tok.pad_id)] if tok.pad_id in ids else ids
        else:
            body = ids[:stop]
        words = [tok.words[t] for t in body]
        completions.append(" ".join(words))
        if end_id in body:
            j = body.index(end_id)
            think[r] = j - (1 if body[:1] == [open_id] else 0)
            closed[r] = body[:1] == [open_id]
            words = words[j + 1:]
        elif open_id in body:
            think[r] = len(body) - 1 - body.index(open_id)
            words = words + ["<unfinished>"]
        if stop is None:
            words = words + ["<unfinished>"]
        answers.append(" ".join(words))
    return {"answer": answers, "completion": completions, "think": think, "closed": closed, "truncated": truncated}


def graded(answers: list[str], expected: list[str], group: int) -> np.ndarray:
    """bool [P*group]: exact answer check (`scaling.data.check_answer`) of parsed answers."""
    return np.array([check_answer(g, expected[i // group]) for i, g in enumerate(answers)], bool)


def correctness(tokens: np.ndarray, expected: list[str], group: int) -> np.ndarray:
    """bool [P*group]: exact answer check of every sampled row (after its chain, if any)."""
    return graded(parse(tokens)["answer"], expected, group)


def verifier_signal(correct: np.ndarray, rng: np.random.Generator, p: float) -> np.ndarray:
    """The verifier's verdict: a row is rewarded when its answer is correct."""
    return correct


def random_signal(correct: np.ndarray, rng: np.random.Generator, p: float) -> np.ndarray:
    """The spurious-reward control: each row rewarded with probability p, whatever its answer
    (`rng` is keyed by seed and step, so a run stays a function of its config). Any gain it brings
    comes from the update itself (sharpening, format), not from the verifier."""
    return rng.random(correct.shape) < p


#: what `grpo.reward` names: (correct, rng, p) -> bool per row, the signal the rewards are built on
SIGNALS = {"verifier": verifier_signal, "random": random_signal}


def rewards(correct: np.ndarray, length: np.ndarray, group: int, penalty: str, coef: float,
            max_len: int) -> np.ndarray:
    """Reward per row: 1 for a correct answer, 0 otherwise, minus a length charge on correct
    answers only (so a wrong or empty answer never gains from being short):
    `correct`: coef * len / max_len; `group`: coef * (len - mean len of the group's correct
    answers) / max_len; `kimi` (Kimi k1.5): coef * ((len - min) / (max - min) - 0.5), min and max
    over the whole group's lengths (no charge when they are equal). With coef < 1 a correct answer
    always earns more than a wrong one."""
    r = correct.astype(np.float64)
    if penalty == "none" or coef == 0:
        return r
    length = length.astype(np.float64)
    if penalty == "correct":
        return r - coef * correct * length / max_len
    if penalty == "kimi":
        ln = length.reshape(-1, group)
        lo, hi = ln.min(1, keepdims=True), ln.max(1, keepdims=True)
        frac = np.where(hi > lo, (ln - lo) / np.where(hi > lo, hi - lo, 1.0), 0.5).reshape(-1)
        return r - coef * correct * (frac - 0.5)
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
