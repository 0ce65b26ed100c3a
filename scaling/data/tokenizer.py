"""Closed word-level tokenizer built from both worlds' vocabularies (no training, no files).

Ids: 0 '<pad>', 1 '<eos>', 2 '<answer>', then one start token per split ('<caption>', '<qa>',
'<text>', '<interleaved>'), then the grammar words in a fixed order, then '<unused*>' fillers up
to a multiple of 8. The vocabulary is part of the code: changing a grammar changes the ids.
"""

from __future__ import annotations

from scaling.data.config import SPLITS
from scaling.data.kinds import SYLLABLES
from scaling.data.kinds import WORDS as KIND_WORDS
from scaling.data.text import WORDS
from scaling.errors import DataError

PAD, EOS, ANSWER = "<pad>", "<eos>", "<answer>"
CHAIN = ("<think>", "</think>")  # the reasoning chain's delimiters (`scaling.data.reasoning`)
SPECIALS = (PAD, EOS, ANSWER) + tuple(f"<{s}>" for s in SPLITS)


class Tokenizer:
    """Word-level tokenizer over a fixed list of words.

    .size: vocabulary size (a multiple of 8); .pad_id == 0; .eos_id; .answer_id;
    .start_id[split]: the start token of each split.
    """

    def __init__(self, words: tuple[str, ...], multiple: int = 8):
        vocab = list(dict.fromkeys(SPECIALS + tuple(words)))
        while len(vocab) % multiple:
            vocab.append(f"<unused{len(vocab)}>")
        self.words: tuple[str, ...] = tuple(vocab)
        self.ids: dict[str, int] = {w: i for i, w in enumerate(vocab)}
        self.size = len(vocab)
        self.pad_id = self.ids[PAD]
        self.eos_id = self.ids[EOS]
        self.answer_id = self.ids[ANSWER]
        self.start_id = {s: self.ids[f"<{s}>"] for s in SPLITS}

    def id(self, word: str) -> int:
        """Id of one word or special token; DataError naming an unknown word."""
        try:
            return self.ids[word]
        except KeyError:
            raise DataError(f"unknown word {word!r}: not in the {self.size}-token vocabulary") from None

    def encode(self, text: str) -> list[int]:
        """Ids of the whitespace-separated words of `text` (special tokens allowed, no start/<eos> added)."""
        ids = self.ids
        try:
            return [ids[w] for w in text.split()]
        except KeyError:
            for w in text.split():
                self.id(w)  # raises, naming the first unknown word
            raise

    def decode(self, ids) -> str:
        """Words of `ids` up to (not including) the first <pad>, joined by single spaces."""
        out = []
        for i in ids:
            i = int(i)
            if i == self.pad_id:
                break
            if not 0 <= i < self.size:
                raise DataError(f"token id {i} out of range for a {self.size}-token vocabulary")
            out.append(self.words[i])
        return " ".join(out)

    def __repr__(self) -> str:
        return f"Tokenizer(size={self.size})"


_TOKENIZER: Tokenizer | None = None


def tokenizer() -> Tokenizer:
    """The shared tokenizer (built once)."""
    global _TOKENIZER
    if _TOKENIZER is None:
        _TOKENIZER = Tokenizer(WORDS + KIND_WORDS + CHAIN)  # one vocabulary for both worlds and chains
    return _TOKENIZER


def syllable_ids() -> tuple[int, ...]:
    """Token ids of the kinds world's name syllables (what a name syllable's noise draws from)."""
    tok = tokenizer()
    return tuple(tok.id(s) for s in SYLLABLES)
