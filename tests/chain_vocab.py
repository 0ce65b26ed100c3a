"""Vocabularies with and without the reasoning chain's tokens, for tests.

`with chain_vocabulary(): ...` swaps the shared tokenizer for one that holds <think> and </think>;
`with chain_vocabulary(False): ...` for one without them (a model built before the chain format).
Every other word keeps its id; the shared tokenizer is restored afterwards.
"""

import importlib
from contextlib import contextmanager

from scaling.data.reasoning import END, THINK


@contextmanager
def chain_vocabulary(chain: bool = True):
    T = importlib.import_module("scaling.data.tokenizer")  # the module (scaling.data.tokenizer is also a function)
    base = T.tokenizer()
    words = tuple(w for w in base.words if not w.startswith("<unused") and w not in T.SPECIALS
                  and w not in (THINK, END))
    saved = T._TOKENIZER
    T._TOKENIZER = T.Tokenizer(words + ((THINK, END) if chain else ()))
    assert all(T._TOKENIZER.ids[w] == i for w, i in base.ids.items() if w in T._TOKENIZER.ids
               and w not in (THINK, END) and not w.startswith("<unused"))
    try:
        yield T._TOKENIZER
    finally:
        T._TOKENIZER = saved
