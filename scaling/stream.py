"""Geometry of the token stream: where each image and text segment sits, per family and split.

Pure Python (no JAX), shared by the models, the analytic FLOP count and the planner so all see one
truth. Whether a family's image segments enter the stream is its row's `sees_images` (`scaling.families`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from scaling import families
from scaling.config import RunConfig
from scaling.data import SPLITS, layout, tokenizer


@dataclass(frozen=True)
class Segment:
    kind: str  # "image" | "text"
    index: int  # image slot or text segment number within the example
    start: int  # first position in the decoder stream
    length: int  # positions in the decoder stream


@dataclass(frozen=True)
class Stream:
    split: str
    segments: tuple[Segment, ...]
    length: int  # decoder positions per example
    n_images: int  # image slots in the example (also for `blind`, whose stream omits them)
    n_texts: int
    patches: int  # patches per image
    image_positions: int  # decoder positions holding image tokens
    text_positions: int
    # Loss positions: text token k+1 is predicted from the position of text token k.
    target_positions: tuple[int, ...]


def patches_per_image(cfg: RunConfig) -> int:
    return (cfg.data.image_size // cfg.vision.patch_size) ** 2


def stream(cfg: RunConfig, split: str) -> Stream:
    return _stream(cfg.model.family, cfg.data.image_size, cfg.vision.patch_size, cfg.data.text_len, split)


@lru_cache(maxsize=None)
def _stream(family: str, image_size: int, patch_size: int, text_len: int, split: str) -> Stream:
    patches = (image_size // patch_size) ** 2
    sees_images = families.get(family).sees_images
    segments, pos, targets = [], 0, []
    n_images = n_texts = 0
    for kind, index in layout(split):
        if kind == "image":
            n_images += 1
            if not sees_images:
                continue  # e.g. the blind control
            segments.append(Segment("image", index, pos, patches))
            pos += patches
        else:
            n_texts += 1
            segments.append(Segment("text", index, pos, text_len))
            targets.extend(range(pos, pos + text_len - 1))
            pos += text_len
    image_positions = sum(s.length for s in segments if s.kind == "image")
    return Stream(split, tuple(segments), pos, n_images, n_texts, patches, image_positions,
                  pos - image_positions, tuple(targets))


def max_length(cfg: RunConfig) -> int:
    """Longest decoder stream over all splits: the size of the position table."""
    return max(stream(cfg, s).length for s in SPLITS)


def vocab_size() -> int:
    return tokenizer().size
