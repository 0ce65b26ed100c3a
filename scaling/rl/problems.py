"""Verifiable problems: a scene, a question about it and its exact answer, in difficulty tiers.

The training set draws scenes from the training pool (the scenes pretraining sees); the held-out
set draws them from the validation pool (`scaling.data.is_val_scene`), which neither pretraining
nor RL ever trains on, so the two sets are disjoint by construction. Both are fixed functions of
(data config, problem config, which set): NumPy only.

A prompt is the qa split's text segment up to the answer: "<qa> question <answer>", padded.

`problems.kind=reasoning` builds text-only reasoning problems instead (`scaling.data.reasoning`:
tally, sum, hops; answered with a chain), disjoint between the sets by a hash of the question.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from scaling.config import DataConfig
from scaling.data import make_qa, reasoning, render, tokenizer
from scaling.data.scenes import Draw, sample_pool_scene
from scaling.errors import DataError
from scaling.rl.config import ProblemConfig, int_list

SETS = ("train", "heldout")
_STREAM = 0x52_4C  # marks the RL problem streams apart from pretraining batches


@dataclass(frozen=True)
class Problems:
    """n problems. images float32 [n, 1, S, S, 3]; prompt int32 [n, 1, text_len] ("<qa> question
    <answer>" then pads); prompt_len int32 [n] (tokens of the prompt); answers, questions: words;
    tiers int [n] (the difficulty); keys: (scene key, question) per problem, for disjointness checks;
    kind: scene | reasoning (answers come after a '<think> ... </think>' chain)."""

    images: np.ndarray
    prompt: np.ndarray
    prompt_len: np.ndarray
    answers: tuple[str, ...]
    questions: tuple[str, ...]
    tiers: np.ndarray
    keys: tuple[tuple[bytes, str], ...]
    kind: str = "scene"

    def __len__(self) -> int:
        return len(self.answers)

    def take(self, idx) -> "Problems":
        idx = np.asarray(idx, int)
        return Problems(self.images[idx], self.prompt[idx], self.prompt_len[idx],
                        tuple(self.answers[i] for i in idx), tuple(self.questions[i] for i in idx),
                        self.tiers[idx], tuple(self.keys[i] for i in idx), self.kind)


def build(data: DataConfig, cfg: ProblemConfig, which: str) -> Problems:
    """The fixed training (`which="train"`) or held-out (`"heldout"`) problem set."""
    if which not in SETS:
        raise DataError(f"unknown problem set {which!r} (choose from {', '.join(SETS)})")
    return _build_reasoning(data, cfg, which) if cfg.kind == "reasoning" else _build(data, cfg, which)


def require_chain_vocabulary() -> None:
    """DataError unless the vocabulary holds every word of the reasoning format."""
    missing = [w for w in reasoning.WORDS if w not in tokenizer().ids]
    if missing:
        raise DataError(f"the vocabulary has no {', '.join(missing)}: the model was not built for the reasoning "
                        f"chain format (problems.kind=reasoning)")


@lru_cache(maxsize=16)
def _build_reasoning(data: DataConfig, cfg: ProblemConfig, which: str) -> Problems:
    """Text-only reasoning problems (`scaling.data.reasoning`), every (family, difficulty) pair in
    turn; a blank image where the family sees one. tiers holds the difficulty."""
    require_chain_vocabulary()
    levels = int_list(cfg.difficulty, "problems.difficulty")
    pairs = [(f, d) for f in cfg.families.replace(" ", "").split(",") if f for d in levels
             if d <= reasoning.MAX_DIFFICULTY[f]]
    n = cfg.train if which == "train" else cfg.heldout
    tok, T = tokenizer(), data.text_len
    rng = np.random.default_rng([cfg.seed, _STREAM, SETS.index(which), 1])
    prompt = np.zeros((n, 1, T), np.int32)
    plen, tier_of = np.zeros(n, np.int32), np.zeros(n, np.int64)
    answers, questions, seen = [], [], set()
    i = tries = 0
    while i < n:
        f, d = pairs[i % len(pairs)]
        tries += 1
        if tries > 200 * n + 1000:
            raise DataError(f"problems.{which}: cannot find {n} distinct {f} problems of difficulty {d} that fit "
                            f"text_len={T} (a worked chain needs up to {reasoning.length(f, d) + 2} tokens)")
        item = reasoning.draw(rng, f, d, which)
        ids = [tok.start_id["qa"]] + tok.encode(item.prompt)
        if len(ids) + len(item.completion.split()) + 1 > T or item.question in seen:
            continue  # no room for the worked chain and <eos>, or a duplicate
        seen.add(item.question)
        prompt[i, 0, :len(ids)] = ids
        plen[i], tier_of[i] = len(ids), d
        answers.append(item.answer)
        questions.append(item.question)
        i += 1
    images = np.zeros((n, 1, data.image_size, data.image_size, 3), np.float32)
    for arr in (images, prompt, plen, tier_of):
        arr.setflags(write=False)
    return Problems(images, prompt, plen, tuple(answers), tuple(questions), tier_of,
                    tuple((b"", q) for q in questions), "reasoning")


@lru_cache(maxsize=16)
def _build(data: DataConfig, cfg: ProblemConfig, which: str) -> Problems:
    tiers = int_list(cfg.tiers, "problems.tiers")
    n = cfg.train if which == "train" else cfg.heldout
    if n <= 0 or not tiers:
        raise DataError(f"problems.{which}: empty problem set")
    tok = tokenizer()
    T = data.text_len
    draw = Draw(np.random.default_rng([cfg.seed, _STREAM, SETS.index(which), data.seed]), block=1024)
    images = np.zeros((n, 1, data.image_size, data.image_size, 3), np.float32)
    prompt = np.zeros((n, 1, T), np.int32)
    plen = np.zeros(n, np.int32)
    answers, questions, keys, tier_of = [], [], [], np.zeros(n, np.int64)
    seen: set = set()
    i = tries = 0
    while i < n:
        tries += 1
        if tries > 50 * n + 1000:
            raise DataError(f"problems.{which}: cannot find {n} distinct problems in tiers {cfg.tiers!r}")
        tier = tiers[i % len(tiers)]
        scene = sample_pool_scene(draw, data.max_objects, val=which == "heldout")
        q, a = make_qa(scene, draw, tier)
        ids = [tok.start_id["qa"]] + tok.encode(q) + [tok.answer_id]
        if len(ids) + len(a.split()) + 1 > T or (scene.key, q) in seen:
            continue  # no room for the answer and <eos>, or a duplicate
        seen.add((scene.key, q))
        images[i, 0] = render(scene, data.image_size)
        prompt[i, 0, :len(ids)] = ids
        plen[i] = len(ids)
        answers.append(a)
        questions.append(q)
        keys.append((scene.key, q))
        tier_of[i] = tier
        i += 1
    for arr in (images, prompt, plen, tier_of):
        arr.setflags(write=False)
    return Problems(images, prompt, plen, tuple(answers), tuple(questions), tier_of, tuple(keys))
