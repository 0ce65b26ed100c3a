"""Grammars over a closed vocabulary: captions of scenes, question-answer pairs, text-only facts.

Captions and answers are computed from the scene, so they are predictable from the image and not
from text alone; the text-only facts (arithmetic, successors, shape and colour facts) are learnable
from text alone. Every function takes a NumPy Generator (or a shared `scenes.Draw`) and returns
space-separated words; lengths are in words (tokens), not counting start/<eos>/<answer> tokens.
"""

from __future__ import annotations

from scaling.data.scenes import COLOUR_NAMES, RELATIONS, SHAPES, SIZES, Obj, Scene, as_draw, holds, where
from scaling.errors import DataError

NUMBERS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
           "fifteen sixteen seventeen eighteen nineteen twenty").split()
PLURAL = {"square": "squares", "circle": "circles", "triangle": "triangles", "cross": "crosses"}
CORNERS = {"square": "four corners", "circle": "zero corners", "triangle": "three corners", "cross": "four arms"}
MIXES = (("red", "green", "yellow"), ("red", "blue", "magenta"), ("green", "blue", "cyan"))
AXIS = {"left of": 0, "right of": 0, "above": 1, "below": 1}
QA_TIERS = 3  # 0: attribute lookup / existence, 1: counting, 2: spatial relations

# every word any grammar here can emit (the tokenizer's vocabulary is built from this)
WORDS = tuple(dict.fromkeys(
    list(SHAPES) + list(PLURAL.values()) + list(COLOUR_NAMES) + list(SIZES) + NUMBERS
    + " ".join(RELATIONS).split()
    + "a the is and at on in top bottom middle , .".split()  # captions
    + "what colour shape size there how many objects object are yes no".split()  # questions
    + "plus minus after comes has corners arms make".split()  # text-only facts
))


def _full(o: Obj) -> str:
    return f"{o.size} {o.colour} {o.shape}"


def _unique_ref(scene: Scene, o: Obj, forms: tuple[str, ...]) -> str | None:
    """The first form (a format string over shape/colour/size) that picks out `o` alone, or None."""
    for form in forms:
        text = form.format(shape=o.shape, colour=o.colour, size=o.size)
        matches = sum(form.format(shape=p.shape, colour=p.colour, size=p.size) == text for p in scene.objects)
        if matches == 1:
            return text
    return None


REF_FORMS = ("{shape}", "{colour} {shape}", "{size} {shape}", "{size} {colour} {shape}")


def refer(scene: Scene, o: Obj) -> str | None:
    """Shortest unique noun phrase for `o` in `scene` without article ('red circle'), or None when
    an identical twin makes it ambiguous."""
    return _unique_ref(scene, o, REF_FORMS)


# ---------------------------------------------------------------- captions


def caption(scene: Scene, rng, max_words: int = 22) -> str:
    """A caption of at most `max_words` words (default fits text_len=24 with start and <eos>).

    One object: 'a small red circle at the top left'. Two or more: a relation between two objects
    with full descriptions ('a large red circle is left of a small blue square'), then 'and a ...'
    for each remaining object, then possibly ', the circle is above the square'. Clauses that do
    not fit are dropped whole; the relation clause loses sizes before it is dropped.
    """
    draw = as_draw(rng)
    objs = scene.objects
    if not objs:
        raise DataError("cannot caption an empty scene")
    if len(objs) == 1:
        o = objs[0]
        pos = where(o)
        prep = "on the" if pos in ("left", "right") else "in the" if pos == "middle" else "at the"
        return _fit([f"a {_full(o)} {prep} {pos}", f"a {_full(o)}", f"a {o.colour} {o.shape}"], max_words)
    facts = [(a, r, b) for a in objs for b in objs if a is not b for r in RELATIONS if holds(a, r, b)]
    a, r, b = draw.choice(facts)
    first = _fit([f"a {_full(a)} is {r} a {_full(b)}", f"a {a.colour} {a.shape} is {r} a {b.colour} {b.shape}"],
                 max_words)
    words = first.split()
    rest = [o for o in objs if o is not a and o is not b]
    for i in range(len(rest) - 1, 0, -1):  # shuffle the remaining objects
        j = draw(i + 1)
        rest[i], rest[j] = rest[j], rest[i]
    for o in rest:
        clause = f"and a {_full(o)}".split()
        if len(words) + len(clause) > max_words:
            break
        words += clause
    # a second relation: about another pair, or about the same pair along the other axis
    others = ([f for f in facts if {id(f[0]), id(f[2])} != {id(a), id(b)}]
              or [f for f in facts if AXIS[f[1]] != AXIS[r]])
    if others:
        c, r2, d = draw.choice(others)
        rc, rd = refer(scene, c), refer(scene, d)
        if rc and rd:
            clause = f", the {rc} is {r2} the {rd}".split()
            if len(words) + len(clause) <= max_words:
                words += clause
    return " ".join(words)


def _fit(options: list[str], max_words: int) -> str:
    for text in options:
        if len(text.split()) <= max_words:
            return text
    raise DataError(f"max_words={max_words} is too small for a caption (need {len(options[-1].split())})")


# ---------------------------------------------------------------- questions and answers


def count(scene: Scene, colour: str | None = None, shape: str | None = None, size: str | None = None) -> int:
    """Objects of the scene matching every given attribute."""
    return sum((colour is None or o.colour == colour) and (shape is None or o.shape == shape)
               and (size is None or o.size == size) for o in scene.objects)


def _present_or_any(draw, present: list[str], universe: tuple[str, ...]) -> str:
    """Half the time an attribute value present in the scene, else any value (balances answers)."""
    return draw.choice(present) if draw(2) else draw.choice(universe)


def make_qa(scene: Scene, rng, tier: int) -> tuple[str, str]:
    """(question words, answer words) about `scene` at difficulty `tier` (0..QA_TIERS-1).

    tier 0: 'what colour is the circle' -> 'red'; 'what shape is the blue object'; 'what size is
            the cross'; 'is there a green square' -> 'yes' | 'no'.
    tier 1: 'how many objects' | 'how many red objects' | 'how many circles' | 'how many small
            objects' | 'how many red circles' -> a number word.
    tier 2: 'is the red square left of the circle' -> 'yes' | 'no'; 'how many objects are above
            the small cross' -> a number word. Falls back to tier 1 when no object can be named.
    The answer is exact: computed from the scene's objects.
    """
    draw = as_draw(rng)
    objs = scene.objects
    if tier == 0:
        kinds = []
        for o in objs:
            ref = _unique_ref(scene, o, ("{shape}", "{size} {shape}"))
            if ref:
                kinds.append((f"what colour is the {ref}", o.colour))
            ref = _unique_ref(scene, o, ("{colour} object", "{size} {colour} object"))
            if ref:
                kinds.append((f"what shape is the {ref}", o.shape))
            ref = _unique_ref(scene, o, ("{shape}", "{colour} {shape}"))
            if ref:
                kinds.append((f"what size is the {ref}", o.size))
        if not kinds or draw(4) == 0:
            o = draw.choice(objs)  # half the time an object that is there, else any combination
            colour, shape = (o.colour, o.shape) if draw(2) else (draw.choice(COLOUR_NAMES), draw.choice(SHAPES))
            return f"is there a {colour} {shape}", "yes" if count(scene, colour, shape) else "no"
        return draw.choice(kinds)
    if tier == 1:
        kind = draw(5)
        colour = _present_or_any(draw, [o.colour for o in objs], COLOUR_NAMES)
        shape = _present_or_any(draw, [o.shape for o in objs], SHAPES)
        if kind == 0:
            return "how many objects", NUMBERS[len(objs)]
        if kind == 1:
            return f"how many {colour} objects", NUMBERS[count(scene, colour=colour)]
        if kind == 2:
            return f"how many {PLURAL[shape]}", NUMBERS[count(scene, shape=shape)]
        if kind == 3:
            size = draw.choice(SIZES)
            return f"how many {size} objects", NUMBERS[count(scene, size=size)]
        return f"how many {colour} {PLURAL[shape]}", NUMBERS[count(scene, colour=colour, shape=shape)]
    if tier == 2:
        named = [(o, ref) for o in objs if (ref := refer(scene, o))]
        if not named:
            return make_qa(scene, draw, 1)
        if len(named) >= 2 and draw(3):
            i = draw(len(named))
            j = (i + 1 + draw(len(named) - 1)) % len(named)
            (a, ra), (b, rb) = named[i], named[j]
            true = [r for r in RELATIONS if holds(a, r, b)]
            false = [r for r in RELATIONS if r not in true]  # never empty: left/right exclude each other
            r = draw.choice(true) if true and draw(2) else draw.choice(false)  # yes/no balanced
            return f"is the {ra} {r} the {rb}", "yes" if holds(a, r, b) else "no"
        b, rb = draw.choice(named)
        r = draw.choice(RELATIONS)
        return f"how many objects are {r} the {rb}", NUMBERS[sum(holds(o, r, b) for o in objs if o is not b)]
    raise DataError(f"unknown QA tier {tier!r} (choose from 0..{QA_TIERS - 1})")


def check_answer(answer_text: str, expected_text: str) -> bool:
    """Exact match after normalising whitespace (and case)."""
    return " ".join(answer_text.lower().split()) == " ".join(expected_text.lower().split())


# ---------------------------------------------------------------- text-only facts


def fact(rng) -> str:
    """One true sentence learnable from text alone: 'three plus two is five', 'seven minus four
    is three', 'after six comes seven', 'a triangle has three corners', 'red and green make yellow'."""
    draw = as_draw(rng)
    kind = draw(8)
    if kind < 3:
        a, b = draw(11), draw(11)
        return f"{NUMBERS[a]} plus {NUMBERS[b]} is {NUMBERS[a + b]}"
    if kind < 6:
        a = draw(21)
        b = draw(a + 1)
        return f"{NUMBERS[a]} minus {NUMBERS[b]} is {NUMBERS[a - b]}"
    if kind == 6:
        a = draw(20)
        return f"after {NUMBERS[a]} comes {NUMBERS[a + 1]}"
    if draw(2):
        shape = draw.choice(SHAPES)
        return f"a {shape} has {CORNERS[shape]}"
    x, y, z = draw.choice(MIXES)
    if draw(2):
        x, y = y, x
    return f"{x} and {y} make {z}"


def text_passage(rng, max_words: int = 22) -> str:
    """Facts joined by '.', as many as fit in `max_words` words (at least one; a fact has <= 5)."""
    draw = as_draw(rng)
    words: list[str] = []
    while True:
        clause = fact(draw).split()
        extra = clause if not words else ["."] + clause
        if len(words) + len(extra) > max_words:
            if not words:
                raise DataError(f"max_words={max_words} is too small for a text passage")
            return " ".join(words)
        words += extra
