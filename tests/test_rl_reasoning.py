"""Reasoning problems and chains: solutions against brute force, step checks, disjoint sets,
pretraining chains; parsing of sampled chains; length-shaped rewards; thinking-token records."""

import itertools

import numpy as np
import pytest

from chain_vocab import chain_vocabulary
from scaling import config
from scaling.errors import DataError
from scaling.rl import config as R
from scaling.rl import grpo
from scaling.rl import problems as P
from scaling.data import reasoning as Z
from scaling.rl.learner import think_stats


def brute(question: str):
    """Independent truth: (steps, answer) computed directly from the words."""
    w = question.split()
    if "what" in w:
        i = w.index("what")
        right = {w[j]: w[j + 3] for j in range(0, i, 4)}
        at, steps = w[-1], []
        for _ in range(w[i:].count("right")):
            at = right[at]
            steps.append(at)
        return tuple(steps), at
    i = w.index("how")
    items, ask = w[:i], w[i + 2:]
    if len(ask) == 1:
        run = [Z.NUMBERS[sum(c == ask[0] for c in items[:j + 1])] for j in range(len(items))]
        return tuple(run), run[-1]
    a, b = items.count(ask[0]), items.count(ask[2])
    return (ask[0], Z.NUMBERS[a], ask[2], Z.NUMBERS[b]), Z.NUMBERS[a + b]


@pytest.mark.parametrize("family", Z.FAMILIES)
def test_solutions_match_brute_force_and_steps_are_checked(family):
    rng = np.random.default_rng(0)
    for d in range(1, min(Z.MAX_DIFFICULTY[family], 5) + 1):
        for _ in range(40):
            item = Z.make(rng, family, d)
            assert item.family == family and item.difficulty == d
            assert (item.steps, item.answer) == brute(item.question)
            assert len(item.worked.split()) <= Z.length(family, d)
            assert len(item.steps) == {"tally": d + 1, "sum": 4, "hops": d}[family]
            assert Z.check(item.question, item.completion) == {"format": True, "steps": True, "answer": True}
            # a corrupted step is caught while the answer still counts
            bad = list(item.steps)
            bad[len(bad) // 2] = "cyan" if bad[len(bad) // 2] != "cyan" else "red"
            comp = " ".join([Z.THINK, *bad, Z.END, item.answer])
            assert Z.check(item.question, comp) == {"format": True, "steps": False, "answer": True}
            # a skipped step too; a missing think block is a format failure
            comp = " ".join([Z.THINK, *item.steps[:-1], Z.END, item.answer])
            assert not Z.check(item.question, comp)["steps"]
            assert Z.check(item.question, item.answer) == {"format": False, "steps": False, "answer": False}


def test_difficulty_knob_and_bad_questions():
    with pytest.raises(DataError, match="difficulty 9"):
        Z.make(np.random.default_rng(0), "sum", 9)
    with pytest.raises(DataError, match="unknown reasoning family"):
        Z.make(np.random.default_rng(0), "proof", 1)
    for q in ("red red", "how many red", "red left of blue what is right of green", "red blue how many red minus blue"):
        with pytest.raises(DataError, match="not a reasoning question"):
            Z.solve(q)


def test_train_and_heldout_are_disjoint_by_construction():
    rng = np.random.default_rng(1)
    qs = [Z.make(rng, f, d).question for f, d in itertools.product(Z.FAMILIES, (1, 2, 3)) for _ in range(300)]
    frac = np.mean([Z.is_heldout(q) for q in qs])
    assert abs(frac - Z.HELDOUT_FRACTION) < 0.03
    train = {Z.draw(rng, f, 2, "train").question for f in Z.FAMILIES for _ in range(200)}
    held = {Z.draw(rng, f, 2, "heldout").question for f in Z.FAMILIES for _ in range(200)}
    assert train and held and not train & held
    assert all(not Z.is_heldout(q) for q in train) and all(Z.is_heldout(q) for q in held)
    # pretraining chains come from the training side only, and fit the budget
    for budget in (16, 22, 40):
        for _ in range(100):
            words = Z.pretraining_words(rng, budget)
            assert len(words.split()) <= budget
            q, rest = words.split(f" {Z.ANSWER} ")
            assert not Z.is_heldout(q) and Z.check(q, rest)["steps"] and Z.check(q, rest)["answer"]
    with pytest.raises(DataError, match="fits"):
        Z.pretraining_words(rng, 8)


def test_rl_problem_sets_need_the_chain_vocabulary_and_are_disjoint():
    data = config.load(None, {}).data
    cfg = R.build({}, ["problems.kind=reasoning", "problems.train=60", "problems.heldout=30",
                       "problems.difficulty=1,2"]).problems
    with chain_vocabulary(False):
        P._build_reasoning.cache_clear()
        with pytest.raises(DataError, match="<think>"):
            P.build(data, cfg, "train")
    with chain_vocabulary() as tok:
        P._build_reasoning.cache_clear()
        tr, he = P.build(data, cfg, "train"), P.build(data, cfg, "heldout")
        assert len(tr) == 60 and len(he) == 30 and tr.kind == he.kind == "reasoning"
        assert not set(tr.questions) & set(he.questions)
        assert sorted(set(tr.tiers.tolist())) == [1, 2]
        for i in range(len(tr)):
            ids = tr.prompt[i, 0, :tr.prompt_len[i]]
            assert tok.decode(ids) == f"<qa> {tr.questions[i]} <answer>"
            assert Z.solve(tr.questions[i]).answer == tr.answers[i]
            room = data.text_len - tr.prompt_len[i]
            assert room >= len(Z.solve(tr.questions[i]).completion.split()) + 1
        P._build_reasoning.cache_clear()
    with pytest.raises(Exception, match="problems.families"):
        R.build({}, ["problems.kind=reasoning", "problems.families=tally,proof"])
    with pytest.raises(Exception, match="problems.kind"):
        R.build({}, ["problems.kind=essay"])


def test_parse_reads_chains_counts_thinking_and_truncation():
    with chain_vocabulary() as tok:
        e, pad = tok.eos_id, tok.pad_id
        enc = lambda s: tok.encode(s)  # noqa: E731
        rows = [enc("<think> one two </think> two") + [e],         # 2 thinking tokens, correct format
                enc("two") + [e],                                  # direct answer
                enc("<think> one two three"),                      # truncated inside the chain
                enc("<think> one </think>") + [e],                 # empty answer
                enc("<think> one </think> two three")]             # truncated after the chain
        width = max(map(len, rows)) + 1
        tokens = np.array([r + [pad] * (width - len(r)) for r in rows])
        p = grpo.parse(tokens)
        assert p["think"].tolist() == [2, 0, 3, 1, 1]
        assert p["closed"].tolist() == [True, False, False, True, True]  # opens and closes its chain
        assert p["truncated"].tolist() == [False, False, True, False, True]
        assert p["answer"][:2] == ["two", "two"]
        ok = grpo.graded(p["answer"], ["two"] * 5, 5)
        assert ok.tolist() == [True, True, False, False, False]


@pytest.mark.parametrize("penalty", ["none", "correct", "group", "kimi"])
def test_length_shaped_rewards_never_pay_for_abstaining(penalty):
    rng = np.random.default_rng(2)
    G = 8
    for _ in range(200):
        correct = rng.random(4 * G) < rng.random()
        length = rng.integers(1, 13, 4 * G)
        coef = rng.uniform(0, 0.99)
        r = grpo.rewards(correct, length, G, penalty, coef, 12)
        assert np.all(r[~correct] == 0)  # a wrong (or empty, or truncated) answer earns nothing either way
        assert np.all(r[correct] > 0)    # a correct answer always beats it


def test_kimi_form_against_its_closed_form():
    length = np.array([2, 4, 6, 10, 3, 3, 3, 3])
    correct = np.array([1, 1, 0, 1, 1, 0, 1, 1], bool)
    r = grpo.rewards(correct, length, 4, "kimi", 0.5, 12)
    lam = np.array([0.5 - 0 / 8, 0.5 - 2 / 8, 0.5 - 4 / 8, 0.5 - 8 / 8])  # Kimi k1.5: 0.5 - (l - min)/(max - min)
    np.testing.assert_allclose(r[:4], np.where(correct[:4], 1 + 0.5 * lam, 0))
    np.testing.assert_allclose(r[4:], [1, 0, 1, 1])  # equal lengths: no charge


def test_thinking_token_records():
    think = np.array([0, 2, 4, 6, 8, 1, 3])
    correct = np.array([1, 1, 1, 1, 1, 0, 0], bool)
    s = think_stats(think, correct, np.array([0, 0, 0, 0, 0, 1, 0], bool), "heldout")
    assert s["eval/think/heldout/correct/mean"] == 4 and s["eval/think/heldout/incorrect/mean"] == 2
    assert s["eval/think/heldout/correct/q50"] == 4 and s["eval/think/heldout/correct/q10"] == pytest.approx(0.8)
    assert s["eval/think/heldout/incorrect/q90"] == pytest.approx(2.8)
    assert s["eval/truncated/heldout"] == pytest.approx(1 / 7)
    assert "eval/think/heldout/closed/mean" not in s  # no chain flags given: no closed-chain records
    empty = think_stats(think, np.ones(7, bool), np.zeros(7, bool), "train")
    assert np.isnan(empty["eval/think/train/incorrect/mean"]) and np.isnan(empty["eval/think/train/incorrect/q50"])


def test_closed_chain_length_and_chain_rate_are_apart():
    # RL abandons the chain on half the rows, the chains it keeps grow: the mean over all rows falls
    # (unchained answers count 0) while the closed chains' length rises; the rate says why
    before = think_stats(np.array([4, 4, 4, 4]), np.ones(4, bool), np.zeros(4, bool), "heldout", np.ones(4, bool))
    after = think_stats(np.array([6, 6, 0, 0]), np.ones(4, bool), np.zeros(4, bool), "heldout",
                        np.array([1, 1, 0, 0], bool))
    assert after["eval/think/heldout/mean"] < before["eval/think/heldout/mean"]
    assert after["eval/think/heldout/closed/mean"] == 6 > before["eval/think/heldout/closed/mean"] == 4
    assert (before["eval/chain_rate/heldout"], after["eval/chain_rate/heldout"]) == (1.0, 0.5)
    none = think_stats(np.array([0, 3]), np.ones(2, bool), np.zeros(2, bool), "heldout", np.zeros(2, bool))
    assert np.isnan(none["eval/think/heldout/closed/mean"]) and none["eval/chain_rate/heldout"] == 0.0

