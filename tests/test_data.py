"""Procedural data: batch formats, determinism, mixture, grammar lengths, exact answers, disjointness."""

from __future__ import annotations

import dataclasses
import hashlib
import time

import numpy as np
import pytest
from scipy import ndimage

from scaling.config import DataConfig
from scaling.data import (COLOURS, QA_TIERS, SHAPES, SIZES, SPLITS, Scene, Tokenizer, caption, check_answer,
                          layout, make_qa, render, sample_scene, split_counts, text_passage, tokenizer,
                          train_batch, val_batch)
from scaling.data.batches import _val_cached
from scaling.data.scenes import Obj, holds, is_val_scene
from scaling.data.text import NUMBERS
from scaling.errors import DataError

CFG = DataConfig()
N_IMG = {"caption": 1, "qa": 1, "text": 0, "interleaved": 2}
N_TXT = {"caption": 1, "qa": 1, "text": 1, "interleaved": 2}
RELS = ("left of", "right of", "above", "below")


def scenes(n, seed=0, cfg=CFG):
    rng = np.random.default_rng(seed)
    return [sample_scene(rng, cfg) for _ in range(n)]


# ---------------------------------------------------------------- formats


def test_layouts():
    assert layout("caption") == (("image", 0), ("text", 0))
    assert layout("qa") == (("image", 0), ("text", 0))
    assert layout("text") == (("text", 0),)
    assert layout("interleaved") == (("image", 0), ("text", 0), ("image", 1), ("text", 1))
    assert SPLITS == ("caption", "qa", "text", "interleaved")


def test_train_batch_shapes_and_token_format():
    tok = tokenizer()
    batch = train_batch(CFG, seed=0, step=0, batch_size=64)
    assert set(batch) == set(SPLITS)
    for split, arrays in batch.items():
        n = split_counts(CFG, 64)[split]
        images, text = arrays["images"], arrays["text"]
        assert images.shape == (n, N_IMG[split], 16, 16, 3) and images.dtype == np.float32
        assert text.shape == (n, N_TXT[split], 24) and text.dtype == np.int32
        assert ((images >= 0) & (images <= 1)).all()
        for seg in text.reshape(-1, 24):
            assert seg[0] == tok.id(f"<{split}>")
            length = int((seg != tok.pad_id).sum())
            assert seg[length - 1] == tok.id("<eos>") and (seg[length:] == tok.pad_id).all()
            assert (seg[1:length - 1] != tok.id("<eos>")).all()
        if split == "qa":
            assert all((seg == tok.id("<answer>")).sum() == 1 for seg in text[:, 0])
    assert batch["caption"]["images"].reshape(-1, 768).max(axis=1).min() == 1.0  # every image has an object


def test_other_sizes_and_lengths():
    cfg = dataclasses.replace(CFG, image_size=32, text_len=12, max_objects=2)
    for split in SPLITS:
        out = val_batch(dataclasses.replace(cfg, val_examples=8), split)
        assert out["images"].shape == (8, N_IMG[split], 32, 32, 3)
        assert out["text"].shape == (8, N_TXT[split], 12)


def test_determinism():
    a = train_batch(CFG, seed=3, step=7, batch_size=32)
    b = train_batch(CFG, seed=3, step=7, batch_size=32)
    c = train_batch(CFG, seed=3, step=8, batch_size=32)
    d = train_batch(CFG, seed=4, step=7, batch_size=32)
    for split in a:
        for key in ("images", "text"):
            np.testing.assert_array_equal(a[split][key], b[split][key])
        assert not np.array_equal(a[split]["text"], c[split]["text"])
        assert not np.array_equal(a[split]["text"], d[split]["text"])


def test_split_counts():
    assert split_counts(CFG, 64) == {"caption": 26, "qa": 19, "text": 13, "interleaved": 6}
    for batch_size in (1, 2, 3, 7, 32, 33, 100):
        counts = split_counts(CFG, batch_size)
        assert sum(counts.values()) == batch_size
        for split, n in counts.items():
            weight = getattr(CFG, f"mix_{split}")
            assert abs(n - weight * batch_size) < 1
    cfg = dataclasses.replace(CFG, mix_caption=3.0, mix_qa=1.0, mix_text=0.0, mix_interleaved=0.0)
    assert split_counts(cfg, 8) == {"caption": 6, "qa": 2}
    assert set(train_batch(cfg, 0, 0, 8)) == {"caption", "qa"}
    with pytest.raises(DataError):
        split_counts(CFG, 0)


def test_unknown_split_is_named():
    with pytest.raises(DataError, match="pictures"):
        layout("pictures")
    with pytest.raises(DataError, match="pictures"):
        val_batch(CFG, "pictures")


# ---------------------------------------------------------------- tokenizer


def test_tokenizer():
    tok = tokenizer()
    assert tok is tokenizer() and isinstance(tok, Tokenizer)
    assert tok.pad_id == 0 and tok.id("<pad>") == 0 and tok.size % 8 == 0
    assert len({tok.id(w) for w in ("<eos>", "<answer>", "<caption>", "<qa>", "<text>", "<interleaved>")}) == 6
    text = "<qa> how many red objects <answer> two <eos>"
    ids = tok.encode(text)
    assert max(ids) < tok.size and tok.decode(ids) == text
    assert tok.decode(ids + [0, 0, tok.id("red")]) == text  # stops at pad
    with pytest.raises(DataError, match="zebra"):
        tok.encode("a red zebra")
    with pytest.raises(DataError, match="zebra"):
        tok.id("zebra")


def test_every_generated_word_is_in_vocab():
    tok, rng = tokenizer(), np.random.default_rng(1)
    for scene in scenes(300, seed=1):
        tok.encode(caption(scene, rng))
        for tier in range(QA_TIERS):
            q, a = make_qa(scene, rng, tier)
            tok.encode(f"{q} <answer> {a}")
    for _ in range(100):
        tok.encode(text_passage(rng))


# ---------------------------------------------------------------- grammar


def parse_obj(words):
    """'a large red circle' -> (size, colour, shape)."""
    assert words[0] == "a"
    return tuple(words[1:4])


def find(scene, size, colour, shape):
    hits = [o for o in scene.objects if (o.size, o.colour, o.shape) == (size, colour, shape)]
    assert hits, (size, colour, shape, scene)
    return hits


@pytest.mark.parametrize("text_len", [24, 12])
def test_captions_fit_and_are_true(text_len):
    rng = np.random.default_rng(2)
    for scene in scenes(2000, seed=2):
        text = caption(scene, rng, max_words=text_len - 2)
        words = text.split()
        assert len(words) + 2 <= text_len, text
        if len(scene.objects) == 1:
            continue
        rel = next(r for r in RELS if f" is {r} a " in text)  # at least one relation
        head, tail = text.split(f" is {rel} ", 1)
        if text_len == 24:  # full descriptions: the stated relation holds between the objects named
            a = find(scene, *parse_obj(head.split()))
            b = find(scene, *parse_obj(tail.split()[:4]))
            assert any(holds(x, rel, y) for x in a for y in b), (text, scene)
            assert words.count("a") == len(scene.objects), text  # at text_len 24 every object is described


def test_caption_of_one_object_names_position():
    scene = Scene((Obj("circle", "red", "small", 0, 0),))
    assert caption(scene, np.random.default_rng(0)) == "a small red circle at the top left"
    scene = Scene((Obj("square", "blue", "large", 1, 1),))
    assert caption(scene, np.random.default_rng(0)) == "a large blue square in the middle"


def test_text_facts_are_true():
    rng = np.random.default_rng(3)
    num = {w: i for i, w in enumerate(NUMBERS)}
    seen = 0
    for _ in range(300):
        passage = text_passage(rng)
        assert len(passage.split()) <= 22
        for f in passage.split(" . "):
            w = f.split()
            if len(w) == 5 and w[1] in ("plus", "minus"):
                sign = 1 if w[1] == "plus" else -1
                assert num[w[0]] + sign * num[w[2]] == num[w[4]], f
                seen += 1
            elif w[0] == "after":
                assert num[w[1]] + 1 == num[w[3]], f
    assert seen > 100


# ---------------------------------------------------------------- exact answers, from the pixels


def blobs(image, colour):
    """Number of 8-connected blobs of exactly `colour` in a rendered image."""
    mask = (image == np.array(COLOURS[colour], np.float32)).all(-1)
    return ndimage.label(mask, structure=np.ones((3, 3)))[1]


def pixel_box(obj, image_size=16):
    """Pixel bounding box (x0, y0, x1, y1), inclusive, of one object rendered alone."""
    ys, xs = np.nonzero(render(Scene((obj,)), image_size).any(-1))
    return xs.min(), ys.min(), xs.max(), ys.max()


def pixel_holds(a, rel, b):
    (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = pixel_box(a), pixel_box(b)
    return {"left of": ax1 < bx0, "right of": bx1 < ax0, "above": ay1 < by0, "below": by1 < ay0}[rel]


def referent(scene, ref):
    words = ref.split()
    hits = [o for o in scene.objects if words[-1] == o.shape and all(w in (o.colour, o.size) for w in words[:-1])]
    assert len(hits) == 1, (ref, scene)
    return hits[0]


def test_qa_answers_are_exact():
    rng = np.random.default_rng(4)
    checked = {"count": 0, "colour": 0, "relation": 0, "relcount": 0, "total": 0}
    answers = {t: set() for t in range(QA_TIERS)}
    for scene in scenes(1500, seed=4):
        image = render(scene, 16)
        total = sum(blobs(image, c) for c in COLOURS)
        assert total == len(scene.objects)
        for tier in range(QA_TIERS):
            q, a = make_qa(scene, rng, tier)
            answers[tier].add(a)
            w = q.split()
            if q == "how many objects":
                assert a == NUMBERS[total]
                checked["total"] += 1
            elif len(w) == 4 and w[:2] == ["how", "many"] and w[3] == "objects" and w[2] in COLOURS:
                assert a == NUMBERS[blobs(image, w[2])], (q, a, scene)
                checked["count"] += 1
            elif w[:3] == ["what", "colour", "is"]:
                obj = referent(scene, " ".join(w[4:]))
                assert a == obj.colour and blobs(image, a) >= 1
                checked["colour"] += 1
            elif w[:2] == ["is", "the"] and any(f" {r} the " in q for r in RELS):
                rel = next(r for r in RELS if f" {r} the " in q)
                left, right = q[len("is the "):].split(f" {rel} the ")
                truth = pixel_holds(referent(scene, left), rel, referent(scene, right))
                assert a == ("yes" if truth else "no"), (q, a, scene)
                checked["relation"] += 1
            elif w[:4] == ["how", "many", "objects", "are"]:
                rel = next(r for r in RELS if q.startswith(f"how many objects are {r} the "))
                ref = referent(scene, q[len(f"how many objects are {rel} the "):])
                truth = sum(pixel_holds(o, rel, ref) for o in scene.objects if o != ref)
                assert a == NUMBERS[truth], (q, a, scene)
                checked["relcount"] += 1
    assert min(checked.values()) > 20, checked
    assert {"yes", "no"} <= answers[2] and {"zero", "one", "two"} <= answers[1]
    assert set(COLOURS) | set(SHAPES) | set(SIZES) <= answers[0]


def test_check_answer():
    assert check_answer(" two ", "two") and check_answer("a  red\tcircle", "a red circle")
    assert not check_answer("three", "two") and not check_answer("", "two")


def test_rendering_paints_each_object():
    for scene in scenes(300, seed=5):
        image = render(scene, 16)
        painted = np.zeros((16, 16), bool)
        for o in scene.objects:
            x0, y0, x1, y1 = pixel_box(o)
            region = image[y0:y1 + 1, x0:x1 + 1]
            hit = (region == np.array(COLOURS[o.colour], np.float32)).all(-1)
            assert hit.sum() >= 4, (o, scene)
            painted[y0:y1 + 1, x0:x1 + 1] |= hit
        assert not image[~painted].any()  # black elsewhere


# ---------------------------------------------------------------- validation sets


def image_hashes(images):
    return {hashlib.blake2b(img.tobytes(), digest_size=12).digest() for img in images.reshape(-1, 16, 16, 3)}


def test_validation_is_fixed_and_disjoint_from_training():
    cfg = dataclasses.replace(CFG, mix_caption=1.0, mix_qa=1.0, mix_text=1.0, mix_interleaved=1.0)
    for split in SPLITS:
        v1 = val_batch(cfg, split)
        assert v1["text"].shape[0] == cfg.val_examples
        assert not v1["text"].flags.writeable
        _val_cached.cache_clear()
        v2 = val_batch(cfg, split)
        for key in v1:
            np.testing.assert_array_equal(v1[key], v2[key])
    assert not np.array_equal(val_batch(cfg, "caption")["text"],
                              val_batch(dataclasses.replace(cfg, seed=99), "caption")["text"])
    val = {s: image_hashes(val_batch(cfg, s)["images"]) for s in ("caption", "qa", "interleaved")}
    all_val = set().union(*val.values())
    small = [s for s in scenes(200) if len(s.objects) == 1]
    assert sum(is_val_scene(s) for s in scenes(2000)) in range(140, 260)  # ~10% of scenes
    assert small  # one-object scenes are few (600), so overlap would be likely without the rule
    train = set()
    for step in range(40):
        batch = train_batch(cfg, seed=0, step=step, batch_size=64)
        for split in val:
            train |= image_hashes(batch[split]["images"])
    assert len(train) > 1500
    assert not train & all_val


def test_speed():
    train_batch(CFG, 0, 0, 64)
    start = time.perf_counter()
    for step in range(20):
        train_batch(CFG, 0, step, 64)
    assert (time.perf_counter() - start) / 20 < 0.05  # ~2-3 ms on a quiet core
