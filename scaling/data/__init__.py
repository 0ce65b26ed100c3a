"""Procedural multimodal data, NumPy only, in two worlds (`data.world`): `shapes` (scenes of shapes
rendered to small RGB images, captions
and exact question-answer pairs from grammars, text-only facts, a closed word-level tokenizer, the
split mixture, and fixed validation sets disjoint from training) and `kinds` (`scaling.data.kinds`: a
Zipfian inventory of object kinds whose loss falls as a power law, with an exact entropy floor).

    batch = train_batch(data_cfg, seed, step, batch_size)   # {split: {"images", "text"}}
    val = val_batch(data_cfg, "caption")                     # fixed, cached
"""

from scaling.data.batches import build, entropy_floor, layout, mixture, n_slots, split_counts, train_batch, val_batch
from scaling.data.config import SPLITS, WORLDS, DataConfig
from scaling.data.scenes import (COLOURS, RELATIONS, SHAPES, SIZES, Obj, Scene, holds, is_val_scene, render,
                                 sample_scene)
from scaling.data.text import QA_TIERS, caption, check_answer, fact, make_qa, text_passage
from scaling.data.tokenizer import Tokenizer, tokenizer

__all__ = [
    "SPLITS", "WORLDS", "DataConfig", "Tokenizer", "tokenizer", "layout", "split_counts", "train_batch",
    "val_batch", "Scene", "Obj", "sample_scene", "render", "caption", "make_qa", "check_answer", "QA_TIERS",
    "SHAPES", "COLOURS", "SIZES", "RELATIONS", "holds", "is_val_scene", "mixture", "n_slots", "build", "fact",
    "text_passage", "entropy_floor",
]
