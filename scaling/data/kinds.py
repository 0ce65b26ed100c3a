"""The `kinds` world: a heavy-tailed inventory of things to learn, whose loss falls as a power law.

Many discrete "quanta" (Michaud et al. 2023) with Zipf frequencies: `data.kinds` object kinds, kind k
(0-based rank) drawn with probability p_k ∝ (k + 1)^-`data.zipf`. Each kind has, fixed by `data.seed`:

- an appearance: a 4 x 4 binary glyph in one of the six colours, unique per kind, painted over the
  whole image (one glyph cell = image_size / 4 pixels, one patch at the defaults);
- a name of NAME_LEN syllables (unique per kind), from a closed syllable list;
- two facts: what it eats (one of FOODS) and where it lives (one of PLACES).

A scene is (kind, shade): the glyph painted at one of SHADES brightness levels. Each kind has one
validation shade (a stable hash of the kind): validation scenes are never seen in training, yet
every kind is, and validation kinds follow the same Zipf law.

Texts (words; the split's start token and <eos> are added by the batch builder):

    caption      a <colour> <name>              each name syllable is replaced by a uniformly
                                                random syllable with probability `data.noise`
    qa           what colour is it <answer> <colour> | what does it eat <answer> <food>
                 | where does it live <answer> <place>           (question uniform among three)
    text         the <name> lives in <place> | the <name> eats the <food>
                                                (kind ~ Zipf, form uniform; no image)
    interleaved  two (image, caption) pairs

Everything random in a text is a choice listed above, so the conditional entropy of the text given
the image is known exactly (`entropy`): that is the irreducible loss a perfect model reaches.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from scaling.errors import DataError

SYLLABLES = tuple(c + v for c in "bdgkmprstvz" for v in "aeiou" if c + v not in ("do", "no", "so", "to"))[:32]
NAME_LEN = 3
GLYPH = 4  # glyph side in cells
SHADES = 8
COLOUR_ORDER = ("red", "green", "blue", "yellow", "magenta", "cyan")
COLOUR_RGB = np.array([(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, 0, 1), (0, 1, 1)], np.float32)
FOODS = tuple("seeds berries fish roots moss bark grass nectar insects worms fruit leaves honey algae pollen "
              "fungi".split())
PLACES = tuple("marsh desert forest river cave cliff meadow reef swamp tundra lake valley dune glacier jungle "
               "canyon".split())
QUESTIONS = (("what colour is it", "colour"), ("what does it eat", "food"), ("where does it live", "place"))
FACT_FORMS = (("lives in", "place"), ("eats the", "food"))
WORDS = tuple(dict.fromkeys(
    list(SYLLABLES) + list(FOODS) + list(PLACES) + list(COLOUR_ORDER)
    + "a the what colour is it does eat where live lives eats in".split()))
MAX_KINDS = len(SYLLABLES) ** NAME_LEN
MIN_TEXT_LEN = 10  # the longest text: <text> the n n n lives in place <eos>
_WORLD_STREAM = 0xC1DD5


@dataclass(frozen=True)
class World:
    """The inventory of one (kinds, zipf, seed): arrays indexed by kind rank k = 0..K-1."""

    probs: np.ndarray  # float64 [K], Zipf, sums to 1
    cdf: np.ndarray  # float64 [K]
    glyph: np.ndarray  # bool [K, 4, 4]
    colour: np.ndarray  # int [K] index into COLOUR_ORDER
    name: np.ndarray  # int [K, NAME_LEN] syllable indices
    food: np.ndarray  # int [K]
    place: np.ndarray  # int [K]
    val_shade: np.ndarray  # int [K]


def check(kinds: int, zipf: float, noise: float) -> None:
    """DataError naming the key for an impossible world."""
    if not 1 <= kinds <= MAX_KINDS:
        raise DataError(f"data.kinds: must lie in 1..{MAX_KINDS} (names of {NAME_LEN} of {len(SYLLABLES)} "
                        f"syllables), got {kinds}")
    if not (math.isfinite(zipf) and zipf > 0):
        raise DataError(f"data.zipf: the Zipf exponent must be positive, got {zipf}")
    if not (math.isfinite(noise) and 0 <= noise < 1):
        raise DataError(f"data.noise: must lie in [0, 1), got {noise}")


@lru_cache(maxsize=8)
def world(kinds: int, zipf: float, seed: int) -> World:
    """The inventory (cached; read-only arrays). Deterministic in (kinds, zipf, seed)."""
    check(kinds, zipf, 0.0)
    rng = np.random.default_rng([seed, _WORLD_STREAM, kinds])
    weights = np.arange(1, kinds + 1, dtype=np.float64) ** -zipf
    probs = weights / weights.sum()
    cdf = np.cumsum(probs)
    cdf[-1] = 1.0
    # unique appearances: (16-bit glyph, colour), the empty glyph excluded
    codes = rng.choice(6 * (2 ** 16 - 1), size=kinds, replace=False)
    colour, bits = codes % 6, codes // 6 + 1
    glyph = ((bits[:, None] >> np.arange(16)) & 1).astype(bool).reshape(kinds, GLYPH, GLYPH)
    names = rng.choice(MAX_KINDS, size=kinds, replace=False)
    name = np.stack([(names // len(SYLLABLES) ** i) % len(SYLLABLES) for i in range(NAME_LEN)], axis=1)
    out = World(probs, cdf, glyph, colour, name, rng.integers(len(FOODS), size=kinds),
                rng.integers(len(PLACES), size=kinds), _val_shades(kinds, seed))
    for arr in (out.probs, out.cdf, out.glyph, out.colour, out.name, out.food, out.place, out.val_shade):
        arr.setflags(write=False)
    return out


def _val_shades(kinds: int, seed: int) -> np.ndarray:
    """One validation shade per kind, from a stable hash (independent of NumPy's generators)."""
    out = np.empty(kinds, np.int64)
    for k in range(kinds):
        digest = hashlib.blake2b(f"{seed}:{k}".encode(), digest_size=4, person=b"scaling-kind").digest()
        out[k] = int.from_bytes(digest, "little") % SHADES
    return out


def of(data_cfg) -> World:
    check(data_cfg.kinds, data_cfg.zipf, data_cfg.noise)
    return world(data_cfg.kinds, data_cfg.zipf, data_cfg.seed)


# ---------------------------------------------------------------- sampling


def sample_kinds(w: World, rng: np.random.Generator, n: int, lo: int = 0) -> np.ndarray:
    """`n` kind ranks drawn by Zipf (restricted to ranks >= lo), float64 inverse-CDF sampling."""
    base = w.cdf[lo - 1] if lo > 0 else 0.0
    u = base + rng.random(n) * (1.0 - base)
    return np.minimum(np.searchsorted(w.cdf, u, side="right"), len(w.probs) - 1)


def train_shades(w: World, rng: np.random.Generator, kinds: np.ndarray) -> np.ndarray:
    """A uniform shade per kind among the SHADES - 1 training shades (never the validation one)."""
    s = rng.integers(SHADES - 1, size=len(kinds))
    return s + (s >= w.val_shade[kinds])


def render(w: World, kinds: np.ndarray, shades: np.ndarray, image_size: int) -> np.ndarray:
    """float32 [n, S, S, 3]: each kind's glyph in its colour at brightness 0.6 .. 1.0 by shade."""
    cell = image_size // GLYPH
    bright = (0.6 + 0.4 * shades / (SHADES - 1)).astype(np.float32)
    rgb = COLOUR_RGB[w.colour[kinds]] * bright[:, None]  # [n, 3]
    mask = np.repeat(np.repeat(w.glyph[kinds], cell, axis=1), cell, axis=2)  # [n, S, S]
    return mask[..., None] * rgb[:, None, None, :]


def noisy_names(w: World, rng: np.random.Generator, kinds: np.ndarray, noise: float) -> np.ndarray:
    """Syllable indices [n, NAME_LEN]: each replaced by a uniform syllable with probability `noise`."""
    name = w.name[kinds].copy()
    flip = rng.random(name.shape) < noise
    name[flip] = rng.integers(len(SYLLABLES), size=int(flip.sum()))
    return name


def caption_words(w: World, kinds: np.ndarray, names: np.ndarray) -> list[str]:
    return [" ".join(["a", COLOUR_ORDER[w.colour[k]]] + [SYLLABLES[s] for s in nm]) for k, nm in zip(kinds, names)]


def qa_words(w: World, rng: np.random.Generator, kinds: np.ndarray) -> list[str]:
    which = rng.integers(len(QUESTIONS), size=len(kinds))
    out = []
    for k, q in zip(kinds, which):
        question, slot = QUESTIONS[q]
        answer = {"colour": COLOUR_ORDER[w.colour[k]], "food": FOODS[w.food[k]], "place": PLACES[w.place[k]]}[slot]
        out.append(f"{question} <answer> {answer}")
    return out


def text_words(w: World, rng: np.random.Generator, kinds: np.ndarray) -> list[str]:
    which = rng.integers(len(FACT_FORMS), size=len(kinds))
    out = []
    for k, f in zip(kinds, which):
        verb, slot = FACT_FORMS[f]
        value = PLACES[w.place[k]] if slot == "place" else FOODS[w.food[k]]
        out.append(" ".join(["the"] + [SYLLABLES[s] for s in w.name[k]] + [verb, value]))
    return out


# ---------------------------------------------------------------- the exact floor


def token_entropy(noise: float, vocab: int) -> float:
    """Entropy (nats) of one noised syllable given the true one: the true syllable with probability
    1 - noise + noise/vocab, each other with noise/vocab."""
    if noise == 0:
        return 0.0
    p_true, p_other = 1 - noise + noise / vocab, noise / vocab
    return -(p_true * math.log(p_true) + (vocab - 1) * p_other * math.log(p_other))


def zipf_entropy(w: World) -> float:
    """Entropy (nats) of the kind distribution."""
    p = w.probs
    return float(-(p * np.log(p)).sum())


def entropy(data_cfg, split: str) -> tuple[float, float]:
    """(conditional entropy of one example's text given its images, in nats; loss tokens per example).

    Exact under the generator: the loss tokens of an example are its words, <answer> and <eos>,
    and the only random choices are those the module docstring lists, each entering once. Every
    example of a split has the same value, so the floor of a split is their ratio.
    """
    w = of(data_cfg)
    h_name = NAME_LEN * token_entropy(data_cfg.noise, len(SYLLABLES))
    if split == "caption":
        return h_name, 2 + NAME_LEN + 1  # a, colour, name, <eos>
    if split == "interleaved":
        return 2 * h_name, 2 * (2 + NAME_LEN + 1)
    if split == "qa":
        return math.log(len(QUESTIONS)), 4 + 1 + 1 + 1  # four question words, <answer>, answer, <eos>
    if split == "text":
        return zipf_entropy(w) + math.log(len(FACT_FORMS)), 1 + NAME_LEN + 2 + 1 + 1
    raise DataError(f"unknown split {split!r}")


def entropy_floor(data_cfg, split: str) -> float:
    """The irreducible loss of `split` (nats per loss token) of a model that sees the images."""
    h, n = entropy(data_cfg, split)
    return h / n
