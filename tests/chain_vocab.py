"""A vocabulary with the reasoning chain's tokens, for tests, until the data world adds them.

`with chain_vocabulary(): ...` swaps the shared tokenizer for one that also holds <think> and
</think> (every other word keeps its id) and restores it afterwards.
"""

import importlib
from contextlib import contextmanager

from scaling.rl.reasoning import END, THINK


@contextmanager
def chain_vocabulary():
    T = importlib.import_module("scaling.data.tokenizer")  # the module (scaling.data.tokenizer is also a function)
    base = T.tokenizer()
    words = tuple(w for w in base.words if not w.startswith("<unused") and w not in T.SPECIALS)
    extra = tuple(w for w in (THINK, END) if w not in base.ids)
    saved = T._TOKENIZER
    T._TOKENIZER = T.Tokenizer(words + extra)
    assert all(T._TOKENIZER.ids[w] == i for w, i in base.ids.items() if not w.startswith("<unused"))
    try:
        yield T._TOKENIZER
    finally:
        T._TOKENIZER = saved
