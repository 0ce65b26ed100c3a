"""Problems that reward reasoning, with a checkable chain format, NumPy only.

A problem is a text question whose answer needs several steps; its worked solution is a chain

    question <answer> <think> step step ... </think> answer

Families (the difficulty knob `d` >= 1 sets the number of steps):

    tally  'red blue red green how many red'        d + 1 colours; the chain is the running count
           -> <think> one one two two </think> two   after each colour (one step per colour)
    sum    'red blue red how many red plus blue'     d + 2 colours; the chain names and counts
           -> <think> red two blue one </think> three  both colours, the answer is their sum
    hops   'red left of blue blue left of green      a line of d + 1 (or d + 2) distinct colours,
           what is right of right of red'            neighbour facts in shuffled order; the chain
           -> <think> blue green </think> green      is the object reached after each hop

Every step can be checked from the question alone (`solve` parses the question and recomputes
the steps; `check` compares a completion with them). Only the final answer is rewarded in RL.

Training and held-out problems are disjoint by construction: a question is held-out iff a stable
blake2b hash of its words falls in the lowest HELDOUT_FRACTION of buckets, and each set only draws
questions on its own side. `pretraining_words` produces worked chains for pretraining examples from
the training side only (a validation set's from the held-out side); `data.chains` sets their share of
the qa split (`scaling.data.batches`).

`answer_prior` is the generator's exact answer distribution per family and difficulty: what a
guesser that ignores the question's contents (knowing only its family and length) would draw from,
the question-blind baseline of every RL pass@k (`scaling.rl.guess`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from math import factorial

import numpy as np

from scaling.errors import DataError

THINK, END, ANSWER = "<think>", "</think>", "<answer>"
FAMILIES = ("tally", "sum", "hops")
COLOURS = ("red", "green", "blue", "yellow", "magenta", "cyan")
NUMBERS = tuple("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
                "fifteen sixteen seventeen eighteen nineteen twenty".split())
HELDOUT_FRACTION = 0.2
# every word a question or a chain can contain (the tokenizer must hold them all)
WORDS = tuple(dict.fromkeys(COLOURS + NUMBERS + ("how", "many", "plus", "what", "is", "right", "left", "of",
                                                 THINK, END)))
MAX_DIFFICULTY = {"tally": 19, "sum": 8, "hops": 5}


@dataclass(frozen=True)
class Item:
    """One problem: its family, difficulty, question words, the chain's steps and the answer."""

    family: str
    difficulty: int
    question: str
    steps: tuple[str, ...]
    answer: str

    @property
    def prompt(self) -> str:
        return f"{self.question} {ANSWER}"

    @property
    def completion(self) -> str:
        return " ".join((THINK, *self.steps, END, self.answer))

    @property
    def worked(self) -> str:
        """The whole worked example: 'question <answer> <think> ... </think> answer'."""
        return f"{self.prompt} {self.completion}"


def _check_family(family: str, difficulty: int) -> None:
    if family not in FAMILIES:
        raise DataError(f"unknown reasoning family {family!r} (choose from {', '.join(FAMILIES)})")
    if not 1 <= difficulty <= MAX_DIFFICULTY[family]:
        raise DataError(f"{family}: difficulty {difficulty} outside 1..{MAX_DIFFICULTY[family]}")


def make(rng: np.random.Generator, family: str, difficulty: int) -> Item:
    """A random problem of `family` with `difficulty` steps (any side of the split)."""
    _check_family(family, difficulty)
    if family == "hops":
        k = min(len(COLOURS), difficulty + 1 + int(rng.integers(2)))
        line = [COLOURS[i] for i in rng.permutation(len(COLOURS))[:k]]
        start = int(rng.integers(k - difficulty))
        facts = [f"{a} left of {b}" for a, b in zip(line, line[1:])]
        facts = [facts[i] for i in rng.permutation(len(facts))]
        q = " ".join(facts) + " what is " + "right of " * difficulty + line[start]
        return solve(q)
    n = difficulty + (1 if family == "tally" else 2)
    items = [COLOURS[i] for i in rng.integers(len(COLOURS), size=n)]
    pick = lambda: items[int(rng.integers(n))] if rng.integers(2) else COLOURS[int(rng.integers(len(COLOURS)))]  # noqa: E731
    if family == "tally":
        return solve(" ".join(items) + f" how many {pick()}")
    a = pick()
    b = pick()
    while b == a:
        b = COLOURS[int(rng.integers(len(COLOURS)))]
    return solve(" ".join(items) + f" how many {a} plus {b}")


def solve(question: str) -> Item:
    """Parse a question of any family and compute its steps and answer (the checker's truth)."""
    w = question.split()
    bad = DataError(f"not a reasoning question: {question!r}")
    if "what" in w:  # hops
        i = w.index("what")
        if i == 0 or i % 4:
            raise bad
        facts = [w[j:j + 4] for j in range(0, i, 4)]
        tail = w[i:]
        if tail[:2] != ["what", "is"] or len(tail) < 5 or (len(tail) - 3) % 2:
            raise bad
        hops = (len(tail) - 3) // 2
        if tail[2:-1] != ["right", "of"] * hops:
            raise bad
        right = {}
        for parts in facts:
            if parts[1:3] != ["left", "of"]:
                raise bad
            right[parts[0]] = parts[3]
        at, steps = tail[-1], []
        for _ in range(hops):
            if at not in right:
                raise bad
            at = right[at]
            steps.append(at)
        return Item("hops", hops, question, tuple(steps), at)
    if "how" not in w:
        raise bad
    i = w.index("how")
    items, ask = w[:i], w[i + 2:]
    if w[i:i + 2] != ["how", "many"] or not items or any(c not in COLOURS for c in items):
        raise bad
    if len(ask) == 1:
        running = np.cumsum([c == ask[0] for c in items])
        return Item("tally", len(items) - 1, question, tuple(NUMBERS[int(t)] for t in running),
                    NUMBERS[int(running[-1])])
    if len(ask) == 3 and ask[1] == "plus":
        ca, cb = items.count(ask[0]), items.count(ask[2])
        return Item("sum", len(items) - 2, question, (ask[0], NUMBERS[ca], ask[2], NUMBERS[cb]), NUMBERS[ca + cb])
    raise bad


def check(question: str, completion: str) -> dict[str, bool]:
    """Grade a completion ('<think> ... </think> answer'): format (one think block, then an answer),
    steps (every step equals the recomputed one, none missing or extra), answer (exact)."""
    truth = solve(question)
    w = completion.split()
    fmt = len(w) >= 3 and w[0] == THINK and w.count(THINK) == 1 and w.count(END) == 1
    if not fmt:
        return {"format": False, "steps": False, "answer": False}
    j = w.index(END)
    steps, answer = tuple(w[1:j]), " ".join(w[j + 1:])
    return {"format": bool(answer), "steps": steps == truth.steps, "answer": answer == truth.answer}


def is_heldout(question: str) -> bool:
    """Stable membership of the held-out side (independent of Python's hash seed and of configs)."""
    digest = hashlib.blake2b(" ".join(question.split()).encode(), digest_size=8, person=b"scaling-rsn").digest()
    return int.from_bytes(digest, "little") % 1000 < int(HELDOUT_FRACTION * 1000)


def draw(rng: np.random.Generator, family: str, difficulty: int, which: str, tries: int = 1000) -> Item:
    """A problem from the training (`which="train"`) or held-out (`"heldout"`) side."""
    want = which == "heldout"
    for _ in range(tries):
        item = make(rng, family, difficulty)
        if is_heldout(item.question) == want:
            return item
    raise DataError(f"{family} difficulty {difficulty}: no {which} problem found in {tries} draws")


def pretraining_words(rng: np.random.Generator, budget: int, families=FAMILIES, difficulties=(1, 2, 3, 4),
                      which: str = "train") -> str:
    """Words of one pretraining qa example with a worked chain, from the training side (`which`:
    "heldout" for a validation set): 'question <answer> <think> steps </think> answer', at most
    `budget` words (the split's start token and <eos> not included). Family and difficulty are
    uniform over those that fit (`data.chains` puts these in the qa split, `scaling.data.batches`)."""
    options = [(f, d) for f in families for d in difficulties if d <= MAX_DIFFICULTY[f] and length(f, d) <= budget]
    if not options:
        raise DataError(f"no reasoning chain fits in {budget} words")
    for _ in range(64):
        f, d = options[int(rng.integers(len(options)))]
        text = draw(rng, f, d, which).worked
        if len(text.split()) <= budget:
            return text
    raise DataError(f"no reasoning chain fits in {budget} words")


def check_share(chains: float, world: str, mix_qa: float, text_len: int) -> None:
    """DataError naming data.chains when worked chains cannot be put in the qa split."""
    if not 0 <= chains <= 1:
        raise DataError(f"data.chains: the share of qa examples with a worked chain must lie in [0, 1], got {chains}")
    if chains and world != "shapes":
        raise DataError(f"data.chains: worked chains live in the shapes world's qa split, not the {world} world")
    if chains and mix_qa <= 0:
        raise DataError(f"data.chains: the mixture has no qa split to hold the chains (data.mix_qa={mix_qa})")
    shortest = min(length(f, 1) for f in FAMILIES) + 2  # the split's start token and <eos>
    if chains and text_len < shortest:
        raise DataError(f"data.chains: the shortest worked chain needs text_len >= {shortest}, got {text_len}")


def length(family: str, difficulty: int) -> int:
    """Most words of a worked example of `family` at `difficulty` (question, <answer>, chain)."""
    _check_family(family, difficulty)
    d = difficulty
    if family == "tally":
        return (d + 1 + 3) + 1 + (d + 1 + 3)
    if family == "sum":
        return (d + 2 + 5) + 1 + 7
    k = min(len(COLOURS), d + 2)  # a line of up to d + 2 colours
    return (4 * (k - 1) + 2 + 2 * d + 1) + 1 + (d + 3)


def _count_vectors(n: int, colours: int):
    """Every way n items fall into `colours` colours (counts per colour) with its multinomial
    probability under independent uniform draws."""
    def parts(left, slots):
        if slots == 1:
            yield (left,)
            return
        for first in range(left + 1):
            for rest in parts(left - first, slots - 1):
                yield (first, *rest)

    total = colours ** n
    for cnt in parts(n, colours):
        ways = factorial(n)
        for c in cnt:
            ways //= factorial(c)
        yield cnt, ways / total


@lru_cache(maxsize=None)
def answer_prior(family: str, difficulty: int) -> dict[str, float]:
    """P(answer) of `make(rng, family, difficulty)`, exact (answer word -> probability).

    tally and sum enumerate the colour counts of the n items (multinomial): the asked colour
    is a random item's colour (size-biased) half the time and a uniform colour otherwise; sum's
    second colour the same, redrawn uniformly among the other five when it repeats the first. hops:
    the answer is a position of a random permutation of the colours, so uniform over them. The
    held-out hash and the problem sets' de-duplication are ignored: a guesser knows the generator,
    not which questions were kept."""
    _check_family(family, difficulty)
    c = len(COLOURS)
    if family == "hops":
        return {colour: 1.0 / c for colour in COLOURS}
    n = difficulty + (1 if family == "tally" else 2)
    out: dict[str, float] = {}
    for cnt, p in _count_vectors(n, c):
        for a in range(c):
            pa = 0.5 * cnt[a] / n + 0.5 / c
            if family == "tally":
                out[NUMBERS[cnt[a]]] = out.get(NUMBERS[cnt[a]], 0.0) + p * pa
                continue
            for b in range(c):
                if b != a:
                    pb = 0.5 * (cnt[b] + cnt[a] / (c - 1)) / n + 0.5 / (c - 1)
                    word = NUMBERS[cnt[a] + cnt[b]]
                    out[word] = out.get(word, 0.0) + p * pa * pb
    return out
