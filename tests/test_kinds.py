"""The kinds world: Zipf inventory, disjoint validation scenes, determinism, and the exact entropy floor
checked against an independent Monte Carlo of the generator's own likelihood."""

import math

import numpy as np
import pytest

from scaling import config
from scaling.data import entropy_floor, kinds, tokenizer, train_batch, val_batch
from scaling.errors import ConfigError

KINDS = {"data.world": "kinds", "data.text_len": 10, "data.kinds": 3000, "data.val_examples": 64}


def _cfg(**extra):
    return config.load(None, {**KINDS, **extra})


def test_inventory_is_unique_and_deterministic():
    w = kinds.of(_cfg().data)
    codes = w.glyph.reshape(len(w.probs), -1) @ (1 << np.arange(16)) * 6 + w.colour
    assert len(set(codes.tolist())) == len(codes) and w.glyph.reshape(len(codes), -1).any(1).all()
    names = {tuple(n) for n in w.name.tolist()}
    assert len(names) == len(codes)
    again = kinds.world(3000, 1.5, 1234)
    assert again is w  # cached
    other = kinds.world(3000, 1.5, 99)
    assert not np.array_equal(other.name, w.name)
    p = w.probs
    assert abs(p.sum() - 1) < 1e-12 and np.allclose(p[:-1] / p[1:], (np.arange(2, 3001) / np.arange(1, 3000)) ** 1.5)


def test_zipf_sampling_matches_the_law_in_head_and_tail():
    w = kinds.of(_cfg().data)
    rng = np.random.default_rng(0)
    n = 400_000
    draws = kinds.sample_kinds(w, rng, n)
    counts = np.bincount(draws, minlength=len(w.probs))
    for k in (0, 1, 9, 99):
        sd = math.sqrt(n * w.probs[k] * (1 - w.probs[k]))
        assert abs(counts[k] - n * w.probs[k]) < 5 * sd
    tail = kinds.sample_kinds(w, rng, 50_000, lo=1000)
    assert tail.min() >= 1000
    # the tail's own mass above rank 2000, against its exact share
    share = (w.probs[2000:].sum()) / w.probs[1000:].sum()
    sd = math.sqrt(50_000 * share * (1 - share))
    assert abs((tail >= 2000).sum() - 50_000 * share) < 5 * sd


def test_training_never_shows_a_validation_scene():
    cfg = _cfg()
    w = kinds.of(cfg.data)
    rng = np.random.default_rng(1)
    ks = kinds.sample_kinds(w, rng, 100_000)
    shades = kinds.train_shades(w, rng, ks)
    assert not (shades == w.val_shade[ks]).any()
    assert set(np.unique(shades)) == set(range(kinds.SHADES))  # every shade is some kind's training shade
    # every training image differs from the validation image of its own kind
    batch = train_batch(cfg.data, 0, 3, 64)["caption"]
    val = val_batch(cfg.data, "caption")
    bright = lambda img: img.max(axis=(-3, -2, -1))  # noqa: E731  (glyph brightness)
    tok = tokenizer()
    for img, txt in zip(batch["images"][:, 0], batch["text"][:, 0]):
        colour = tok.words[txt[2]]
        assert colour in kinds.COLOUR_ORDER
    assert bright(val["images"][:, 0]).min() >= 0.6 - 1e-6


def test_batches_are_deterministic_and_decode_to_true_texts():
    cfg = _cfg()
    a, b = train_batch(cfg.data, 3, 7, 40), train_batch(cfg.data, 3, 7, 40)
    for split in a:
        for key in a[split]:
            assert np.array_equal(a[split][key], b[split][key])
    c = train_batch(cfg.data, 4, 7, 40)
    assert not np.array_equal(a["caption"]["text"], c["caption"]["text"])
    w, tok = kinds.of(cfg.data), tokenizer()
    by_name = {tuple(n): k for k, n in enumerate(w.name.tolist())}
    for words in (tok.decode(t[0]).split() for t in a["text"]["text"]):
        assert words[0] == "<text>" and words[-1] == "<eos>"
        k = by_name[tuple(kinds.SYLLABLES.index(s) for s in words[2:5])]
        assert words[5:7] in (["lives", "in"], ["eats", "the"])
        truth = kinds.PLACES[w.place[k]] if words[5] == "lives" else kinds.FOODS[w.food[k]]
        assert words[7] == truth


def test_validation_is_fixed_stratified_and_weighted():
    cfg = _cfg()
    val = val_batch(cfg.data, "caption")
    assert val is not None and np.array_equal(val["text"], val_batch(cfg.data, "caption")["text"])
    w = kinds.of(cfg.data)
    weight = val["weight"][:, 0]
    assert val["weight"].shape == (64, 1)
    assert abs(weight.sum() - 1) < 1e-12  # the head's exact probabilities plus the tail's mass
    assert np.array_equal(weight[:32], w.probs[:32])
    inter = val_batch(cfg.data, "interleaved")["weight"]
    assert np.allclose(np.sort(inter[:, 1]), np.sort(inter[:, 0])) and not np.array_equal(inter[:, 0], inter[:, 1])
    # validation names are clean; their noise is integrated by the loss at the marked syllables
    soft = val["soft"][:, 0]
    assert (soft.sum(axis=1) == kinds.NAME_LEN).all() and soft[:, 3:6].all()


def _caption_surprisal(w, kind, syllables, noise):
    """-log p(name | kind) under the generator, computed from the tokens alone (independent of
    `kinds.entropy`): each syllable is the true one w.p. 1 - noise + noise/V, another w.p. noise/V."""
    v = len(kinds.SYLLABLES)
    match = syllables == w.name[kind]
    p = np.where(match, 1 - noise + noise / v, noise / v)
    return -np.log(p).sum(axis=-1)


def test_exact_floor_matches_a_monte_carlo_of_the_generator():
    cfg = _cfg(**{"data.noise": 0.3})
    w = kinds.of(cfg.data)
    rng = np.random.default_rng(5)
    n = 200_000
    ks = kinds.sample_kinds(w, rng, n)
    names = kinds.noisy_names(w, rng, ks, 0.3)
    s = _caption_surprisal(w, ks, names, 0.3)
    h, count = kinds.entropy(cfg.data, "caption")
    assert count == 6
    assert abs(s.mean() - h) < 4 * s.std() / math.sqrt(n)
    assert entropy_floor(cfg.data, "caption") == pytest.approx(h / 6, rel=1e-12)
    # text: -log p = -log p_kind - log(1/2), from the decoded name
    texts = kinds.text_words(w, rng, ks[:50_000])
    by_name = {tuple(kinds.SYLLABLES[i] for i in nm): k for k, nm in enumerate(w.name.tolist())}
    surprisal = np.array([-math.log(w.probs[by_name[tuple(t.split()[1:4])]]) + math.log(2) for t in texts])
    h_text, n_text = kinds.entropy(cfg.data, "text")
    assert n_text == len(texts[0].split()) + 1  # its words and <eos>
    assert abs(surprisal.mean() - h_text) < 4 * surprisal.std() / math.sqrt(len(texts))
    assert kinds.entropy(cfg.data, "qa") == (math.log(3), 7)
    assert entropy_floor(_cfg(**{"data.noise": 0.0}).data, "caption") == 0.0
    assert entropy_floor(config.load(None, {}).data, "caption") is None  # the shapes world has none


def test_token_counts_match_the_floor_denominators():
    cfg = _cfg()
    for split in ("caption", "qa", "text", "interleaved"):
        text = val_batch(cfg.data, split)["text"]
        targets = (text[:, :, 1:] != 0).sum(axis=(1, 2))
        assert (targets == kinds.entropy(cfg.data, split)[1]).all(), split


@pytest.mark.parametrize("override,culprit", [
    ("data.zipf=0", "data.zipf"), ("data.zipf=-1", "data.zipf"), ("data.kinds=0", "data.kinds"),
    ("data.kinds=40000", "data.kinds"), ("data.noise=1", "data.noise"), ("data.noise=-0.1", "data.noise"),
    ("data.text_len=8", "data.text_len"), ("data.world=big", "data.world"),
])
def test_bad_world_values_name_the_key(override, culprit):
    with pytest.raises(ConfigError, match=culprit):
        config.load(None, [f"{k}={v}" for k, v in KINDS.items()] + [override])


def test_cli_rejects_a_bad_world_before_training(tmp_path, capsys):
    # in-process (a traceback would escape main); tests/test_cli_train.py runs `train` as a process
    from scaling.cli import main

    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--set", "data.world=kinds", "--set", "data.zipf=0"]) == 2
    err = capsys.readouterr().err
    assert "data.zipf" in err and len(err.strip().splitlines()) == 1 and not out.exists()
