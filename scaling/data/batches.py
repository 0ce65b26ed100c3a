"""Splits, the training mixture, and train/validation batches as NumPy arrays.

Every example of a split has the same stream layout (`layout`): image slots and text segments in a
fixed order. A text segment is `text_len` token ids: the split's start token, the words, <eos>,
then <pad> (0). Images are float32 in [0, 1], [S, S, 3] per slot.

Determinism: a training batch depends only on (data_cfg, seed, step); a validation set only on
data_cfg. Validation scenes form a fixed ~10% pool of all possible scenes (`scenes.is_val_scene`,
a stable hash of the scene's objects); training batches never contain one. The text-only split has
no scenes: its validation set is a fixed sample of the same fact grammar.

Worked reasoning chains (`data.chains`, shapes world): that share of qa examples is a text-only
reasoning problem with its worked solution, 'question <answer> <think> steps </think> answer'
(`scaling.data.reasoning`), on a blank image: the format of the RL stage's reasoning problems.
Training batches draw them from the training side of the problems' split, validation sets from
the held-out side. At the default 0 nothing is drawn, so batches are exactly as without the option.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from scaling.data.config import SPLITS, DataConfig
from scaling.data import kinds, reasoning
from scaling.data.kinds import sample_kinds
from scaling.data.scenes import Draw, cell_pixels, render_into, sample_pool_scene
from scaling.data.text import NUMBERS, QA_TIERS, caption, make_qa, text_passage
from scaling.data.tokenizer import tokenizer
from scaling.errors import DataError

_LAYOUTS = {
    "caption": (("image", 0), ("text", 0)),
    "qa": (("image", 0), ("text", 0)),
    "text": (("text", 0),),
    "interleaved": (("image", 0), ("text", 0), ("image", 1), ("text", 1)),
}
_VAL_STREAM = 0x5A11D  # marks the validation seed sequence apart from any training step


def _check_split(split: str) -> None:
    if split not in _LAYOUTS:
        raise DataError(f"unknown split {split!r} (choose from {', '.join(SPLITS)})")


def layout(split: str) -> tuple[tuple[str, int], ...]:
    """Order of segments in one example's stream: ('image', i) = image slot i, ('text', j) = text
    segment j. caption/qa: image then text; text: text only; interleaved: image, text, image, text."""
    _check_split(split)
    return _LAYOUTS[split]


def n_slots(split: str) -> tuple[int, int]:
    """(number of image slots, number of text segments) of `split`."""
    lay = layout(split)
    return sum(k == "image" for k, _ in lay), sum(k == "text" for k, _ in lay)


def mixture(data_cfg: DataConfig) -> dict[str, float]:
    """Normalised mixture weights per split (all four splits, zeros included)."""
    raw = {s: float(getattr(data_cfg, f"mix_{s}")) for s in SPLITS}
    total = sum(raw.values())
    if min(raw.values()) < 0 or total <= 0:
        raise DataError(f"mixture weights must be non-negative with a positive sum, got {raw}")
    return {s: w / total for s, w in raw.items()}


def split_counts(data_cfg: DataConfig, batch_size: int) -> dict[str, int]:
    """Examples per split in every training batch: weight * batch_size rounded by largest
    remainder (ties: SPLITS order), summing exactly to batch_size; zero counts omitted."""
    if batch_size <= 0:
        raise DataError(f"batch_size must be positive, got {batch_size}")
    quota = {s: w * batch_size for s, w in mixture(data_cfg).items()}
    counts = {s: int(q) for s, q in quota.items()}
    left = batch_size - sum(counts.values())
    order = sorted(SPLITS, key=lambda s: (-(quota[s] - counts[s]), SPLITS.index(s)))
    for s in order[:left]:
        counts[s] += 1
    return {s: counts[s] for s in SPLITS if counts[s] > 0}


def _write(row: np.ndarray, start: int, words: str) -> None:
    """Fill one text segment `row` [text_len] with start, words, <eos> (row is zero = pad)."""
    tok = tokenizer()
    ids = [start] + tok.encode(words) + [tok.eos_id]
    if len(ids) > row.shape[0]:
        raise DataError(f"segment of {len(ids)} tokens exceeds text_len={row.shape[0]}: {words!r}")
    row[:len(ids)] = ids


def _qa_words(scene, draw: Draw, budget: int) -> str:
    """'question <answer> answer' within `budget` words (resampled if a question is too long)."""
    tier = draw(QA_TIERS)
    for _ in range(8):
        q, a = make_qa(scene, draw, tier)
        text = f"{q} <answer> {a}"
        if len(text.split()) <= budget:
            return text
    return f"how many objects <answer> {NUMBERS[len(scene.objects)]}"


def build(data_cfg: DataConfig, split: str, n: int, rng: np.random.Generator, val: bool) -> dict[str, np.ndarray]:
    """`n` examples of `split` drawn with `rng` from the validation (`val`) or training pool.

    Returns {"images": float32 [n, n_img, S, S, 3], "text": int32 [n, n_txt, text_len]}; in the
    kinds world a validation set also has "weight" float64 [n, n_txt] per text segment (`_val_kinds`) and, for captions,
    "soft" float32 [n, n_txt, text_len]: 1 at the name syllables, whose noise the evaluation
    integrates exactly (`scaling.models.model.example_loss_sums`) instead of sampling it.
    """
    if data_cfg.world == "kinds":
        return _build_kinds(data_cfg, split, n, rng, val)
    n_img, n_txt = n_slots(split)
    S, L = data_cfg.image_size, data_cfg.text_len
    cell_pixels(S)  # validates the image size
    if L < 12:
        raise DataError(f"text_len must be at least 12, got {L}")
    images = np.zeros((n, n_img, S, S, 3), np.float32)
    text = np.zeros((n, n_txt, L), np.int32)
    start = tokenizer().start_id[split]
    draw = Draw(rng, block=1024)
    budget = L - 2  # start token and <eos>
    chains = np.random.default_rng(rng.integers(2 ** 63)) if split == "qa" and data_cfg.chains > 0 else None
    for i in range(n):
        if split == "text":
            _write(text[i, 0], start, text_passage(draw, budget))
            continue
        for k in range(n_img):
            if chains is not None and chains.random() < data_cfg.chains:  # a worked chain on a blank image
                _write(text[i, k], start, reasoning.pretraining_words(chains, budget, which="heldout" if val else "train"))
                continue
            scene = sample_pool_scene(draw, data_cfg.max_objects, val)
            render_into(images[i, k], scene)
            if split == "qa":
                _write(text[i, k], start, _qa_words(scene, draw, budget))
            else:
                _write(text[i, k], start, caption(scene, draw, budget))
    return {"images": images, "text": text}


def _val_kinds(w, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A stratified validation sample: the n // 2 most frequent kinds once each, weighted by their
    probability, and the rest drawn from the tail, each weighted by the tail's mass over its count.
    Weighted means are unbiased for the expectation over kinds, with the head measured exactly."""
    head = min(len(w.probs), n // 2 if n > 1 else n)
    kinds, weight = np.arange(head), w.probs[:head].copy()
    if n > head and head < len(w.probs):
        tail = sample_kinds(w, rng, n - head, lo=head)
        kinds = np.concatenate([kinds, tail])
        weight = np.concatenate([weight, np.full(n - head, (1.0 - w.cdf[head - 1]) / (n - head))])
    return kinds, weight


def _build_kinds(data_cfg: DataConfig, split: str, n: int, rng: np.random.Generator, val: bool) -> dict:
    """`build` for the kinds world (`scaling.data.kinds`)."""
    w = kinds.of(data_cfg)
    n_img, n_txt = n_slots(split)
    S, L = data_cfg.image_size, data_cfg.text_len
    cell_pixels(S)
    images = np.zeros((n, n_img, S, S, 3), np.float32)
    text = np.zeros((n, n_txt, L), np.int32)
    start = tokenizer().start_id[split]
    out = {"images": images, "text": text}
    if val:
        first, weight = _val_kinds(w, rng, n)
        out["weight"] = np.zeros((n, n_txt))
    for slot in range(n_txt):
        if not val:
            ks = sample_kinds(w, rng, n)
        else:  # every text segment is a stratified sample; a later one pairs kinds anew
            order = np.arange(n) if slot == 0 else rng.permutation(n)
            ks = first[order]
            out["weight"][:, slot] = weight[order]
        if split == "text":
            words = kinds.text_words(w, rng, ks)
        else:
            shades = w.val_shade[ks] if val else kinds.train_shades(w, rng, ks)
            images[:, slot] = kinds.render(w, ks, shades, S)
            if split == "qa":
                words = kinds.qa_words(w, rng, ks)
            elif val:  # clean names; the loss at each name syllable is the expectation over its noise
                words = kinds.caption_words(w, ks, w.name[ks])
                out.setdefault("soft", np.zeros((n, n_txt, L), np.float32))[:, slot, 3:3 + kinds.NAME_LEN] = 1
            else:
                words = kinds.caption_words(w, ks, kinds.noisy_names(w, rng, ks, data_cfg.noise))
        for i, text_words in enumerate(words):
            _write(text[i, slot], start, text_words)
    return out


def entropy_floor(data_cfg: DataConfig, split: str) -> float | None:
    """The exact irreducible loss of `split` (nats per loss token) for a model that sees the images,
    or None where the world does not define it (the shapes world)."""
    _check_split(split)
    return kinds.entropy_floor(data_cfg, split) if data_cfg.world == "kinds" else None


def _split_index(split: str) -> int:
    _check_split(split)
    return SPLITS.index(split)


def train_batch(data_cfg: DataConfig, seed: int, step: int, batch_size: int) -> dict[str, dict[str, np.ndarray]]:
    """One training batch: {split: {"images": float32 [n, n_img, S, S, 3], "text": int32
    [n, n_txt, text_len]}} with n = split_counts(data_cfg, batch_size)[split].

    Deterministic in (data_cfg, seed, step); each split has its own stream
    default_rng([seed, step, split_index, data_cfg.seed]). Never contains a validation scene.
    """
    if seed < 0 or step < 0:
        raise DataError(f"seed and step must be non-negative, got seed={seed}, step={step}")
    out = {}
    for split, n in split_counts(data_cfg, batch_size).items():
        rng = np.random.default_rng([seed, step, _split_index(split), data_cfg.seed])
        out[split] = build(data_cfg, split, n, rng, val=False)
    return out


@lru_cache(maxsize=64)
def _val_cached(data_cfg: DataConfig, split: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([data_cfg.seed, _VAL_STREAM, _split_index(split)])
    out = build(data_cfg, split, data_cfg.val_examples, rng, val=True)
    for arr in out.values():
        arr.setflags(write=False)
    return out


def val_batch(data_cfg: DataConfig, split: str) -> dict[str, np.ndarray]:
    """The fixed validation set of `split`: data_cfg.val_examples examples, same format as a
    training split (read-only arrays, cached). Depends only on data_cfg; validation-pool scenes only."""
    _check_split(split)
    return dict(_val_cached(data_cfg, split))
