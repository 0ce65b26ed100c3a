"""The question-blind guess baseline of every RL pass@k: what a sampler that never reads the
question's contents scores.

A guesser knows the question's form (a reasoning problem's family and difficulty; a scene
question's tier and opening words, e.g. 'how many' or 'what colour') and draws its answer from the
answer prior of that form. Per problem its success probability is q = prior(the problem's answer),
so its pass@k is the mean over problems of 1 - (1 - q)^k (k independent guesses), and "always say
the modal answer of the form" scores the mean of [answer == mode].

Priors: reasoning problems use the generator's exact prior (`scaling.data.reasoning.answer_prior`);
scene problems the answer frequencies of the training problems of the same form (their generator
has no closed form; a guesser that has seen the training answers knows at least as much).
NumPy only.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from scaling.data import reasoning
from scaling.rl.problems import Problems


def form(problems: Problems, i: int) -> tuple:
    """What the guesser may know of problem i: (family, difficulty) for a reasoning problem,
    (tier, first two question words) for a scene question."""
    if problems.kind == "reasoning":
        return reasoning.solve(problems.questions[i]).family, int(problems.tiers[i])
    return int(problems.tiers[i]), " ".join(problems.questions[i].split()[:2])


def priors(problems: Problems, train: Problems | None = None) -> dict[tuple, dict[str, float]]:
    """Answer prior per form of `problems` (scene problems need `train`, whose answers give them)."""
    forms = {form(problems, i) for i in range(len(problems))}
    if problems.kind == "reasoning":
        return {f: reasoning.answer_prior(*f) for f in forms}
    if train is None:
        raise ValueError("scene problems take their answer prior from the training problems")
    counts: dict[tuple, Counter] = {}
    for i in range(len(train)):
        counts.setdefault(form(train, i), Counter())[train.answers[i]] += 1
    out = {}
    for f in forms:
        c = counts.get(f, Counter())
        total = sum(c.values())
        out[f] = {a: n / total for a, n in c.items()} if total else {}
    return out


def success(problems: Problems, train: Problems | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(q: each problem's chance that one guess is right, modal: whether the form's modal answer
    is right), both [n]."""
    table = priors(problems, train)
    q, modal = np.zeros(len(problems)), np.zeros(len(problems), bool)
    for i, answer in enumerate(problems.answers):
        prior = table[form(problems, i)]
        q[i] = prior.get(answer, 0.0)
        modal[i] = bool(prior) and max(prior, key=lambda a: (prior[a], a)) == answer  # ties: fixed order
    return q, modal


def baseline(problems: Problems, ks, name: str, train: Problems | None = None) -> dict[str, float]:
    """Records `eval/guess/pass@<k>/<name>` (mean of 1 - (1 - q)^k) and
    `eval/guess/modal/pass@1/<name>` (the modal answer's accuracy)."""
    q, modal = success(problems, train)
    out = {f"eval/guess/pass@{k}/{name}": float(np.mean(1 - (1 - q) ** k)) for k in ks}
    out[f"eval/guess/modal/pass@1/{name}"] = float(modal.mean())
    return out
