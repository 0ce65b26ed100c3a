"""Aggregating M parallel answers to one problem: majority vote, the bounded summary that the
second round of the two-round agents scheme reads, and that round's prompt. NumPy only.

An unfinished answer (truncated, or an unclosed think block) carries the `<unfinished>` marker of
`scaling.rl.grpo.parse`; it never wins a vote and never enters a summary.
"""

from __future__ import annotations

import numpy as np

from scaling.errors import DataError

UNFINISHED = "<unfinished>"


def ranked(answers: list[str]) -> list[tuple[str, int]]:
    """Distinct finished, non-empty answers with their counts, most frequent first; ties go to
    the answer that appeared first (a fixed rule, so a vote is a function of the samples)."""
    counts: dict[str, int] = {}
    for a in answers:
        if a and UNFINISHED not in a:
            counts[a] = counts.get(a, 0) + 1
    first = {a: answers.index(a) for a in counts}
    return sorted(counts.items(), key=lambda kv: (-kv[1], first[kv[0]]))


def majority(answers: list[str]) -> str:
    """The most frequent finished answer ('' when none finished)."""
    r = ranked(answers)
    return r[0][0] if r else ""


def summary(answers: list[str], k: int, max_words: int) -> list[str]:
    """Up to k most frequent finished answers, in rank order, at most `max_words` words in all
    (answers that would overflow are left out)."""
    out, used = [], 0
    for a, _ in ranked(answers)[:k]:
        n = len(a.split())
        if used + n <= max_words:
            out.append(a)
            used += n
    return out


def summary_prompt(prompt: np.ndarray, plen: int, words: list[str], encode, answer_id: int,
                   room: int) -> tuple[np.ndarray, int]:
    """The second round's prompt: the first round's '<qa> question <answer>' with the summary's
    words inserted before <answer>: '<qa> question a1 a2 <answer>'. `room`: tokens the answer needs
    after the prompt. DataError when even an empty summary leaves no room."""
    row = np.asarray(prompt).reshape(-1)
    T = row.shape[0]
    if plen < 1 or row[plen - 1] != answer_id:
        raise DataError("summary_prompt: the prompt does not end with <answer>")
    ids = [i for w in words for i in encode(w)]
    while ids and plen + len(ids) + room > T:
        words = words[:-1]
        ids = [i for w in words for i in encode(w)]
    if plen + room > T:
        raise DataError(f"summary_prompt: no room for an answer of {room} tokens in a {T}-token segment")
    out = np.zeros(T, row.dtype)
    new = list(row[:plen - 1]) + ids + [answer_id]
    out[:len(new)] = new
    return out.reshape(np.shape(prompt)), len(new)
