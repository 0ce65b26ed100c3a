"""The RL controls without training: the generator's exact answer prior, the question-blind guess
baseline against simulated guessers, and the random-reward signal and its keys."""

from collections import Counter

import numpy as np
import pytest

from scaling import config
from scaling.data import reasoning
from scaling.errors import ConfigError
from scaling.rl import grpo, guess
from scaling.rl import load as rl_load
from scaling.rl.config import ProblemConfig
from scaling.rl import problems as P
from scaling.rl.problems import build as problems
from chain_vocab import chain_vocabulary



@pytest.mark.parametrize("family,difficulty", [("tally", 1), ("tally", 5), ("sum", 2), ("sum", 6), ("hops", 3)])
def test_answer_prior_is_the_generators_answer_distribution(family, difficulty):
    prior = reasoning.answer_prior(family, difficulty)
    assert sum(prior.values()) == pytest.approx(1.0, abs=1e-12) and min(prior.values()) > 0
    n = 20_000
    rng = np.random.default_rng(11)
    seen = Counter(reasoning.make(rng, family, difficulty).answer for _ in range(n))
    assert set(seen) <= set(prior)  # the generator says nothing the prior rules out
    for answer, p in prior.items():  # every frequency within 5 binomial standard errors
        assert abs(seen[answer] / n - p) <= 5 * np.sqrt(p * (1 - p) / n) + 1e-9, (answer, seen[answer] / n, p)


def test_tally_prior_against_its_binomial_closed_form():
    # the asked colour: a random item's (count 1 + Bin(n-1, 1/6)) or a uniform one (Bin(n, 1/6))
    from scipy import stats

    for d in (1, 3, 7):
        n = d + 1
        prior = reasoning.answer_prior("tally", d)
        for c in range(n + 1):
            want = 0.5 * stats.binom.pmf(c, n, 1 / 6) + 0.5 * stats.binom.pmf(c - 1, n - 1, 1 / 6)
            assert prior.get(reasoning.NUMBERS[c], 0.0) == pytest.approx(want, abs=1e-12)


def _reasoning_sets():
    pc = ProblemConfig(kind="reasoning", families="tally,sum", difficulty="1,2,3", train=60, heldout=48)
    with chain_vocabulary():
        P._build_reasoning.cache_clear()
        out = problems(config.load(None, {}).data, pc, "heldout"), problems(config.load(None, {}).data, pc, "train")
        P._build_reasoning.cache_clear()
    return out


def test_guess_pass_at_k_matches_a_simulated_question_blind_guesser():
    held, train = _reasoning_sets()
    ks = (1, 4, 16)
    out = guess.baseline(held, ks, "heldout", train)
    # simulate: for every problem, k guesses drawn from the prior of its family and difficulty
    rng = np.random.default_rng(5)
    reps = 3000
    hits = {k: 0.0 for k in ks}
    modal = 0
    for i, q in enumerate(held.questions):
        item = reasoning.solve(q)
        prior = reasoning.answer_prior(item.family, item.difficulty)
        words, p = list(prior), np.array(list(prior.values()))
        draws = rng.choice(len(words), size=(reps, max(ks)), p=p)
        right = np.array(words)[draws] == held.answers[i]
        for k in ks:
            hits[k] += right[:, :k].any(1).mean() / len(held)
        modal += (max(prior, key=lambda a: (prior[a], a)) == held.answers[i]) / len(held)
    for k in ks:
        assert abs(out[f"eval/guess/pass@{k}/heldout"] - hits[k]) < 4 * np.sqrt(0.25 / (reps * len(held))) + 0.01
    assert out["eval/guess/modal/pass@1/heldout"] == pytest.approx(modal)
    p = [out[f"eval/guess/pass@{k}/heldout"] for k in ks]
    assert 0 < p[0] < p[1] < p[2] < 1  # with <= 9 answers per form, guessing is far from 0


def test_scene_guess_takes_its_prior_from_the_training_answers():
    cfg = config.load(None, {"model.width": 32})
    pc = ProblemConfig(train=64, heldout=16)
    held, train = problems(cfg.data, pc, "heldout"), problems(cfg.data, pc, "train")
    q, modal = guess.success(train, train)
    forms = [guess.form(train, i) for i in range(len(train))]
    for i in range(len(train)):  # in-sample: q is the answer's share among its form's training answers
        same = [j for j in range(len(train)) if forms[j] == forms[i]]
        assert q[i] == pytest.approx(sum(train.answers[j] == train.answers[i] for j in same) / len(same))
    out = guess.baseline(held, (1, 2), "heldout", train)
    assert 0 <= out["eval/guess/pass@1/heldout"] <= out["eval/guess/pass@2/heldout"] <= 1
    with pytest.raises(ValueError, match="training problems"):
        guess.baseline(held, (1,), "heldout")


def test_random_reward_ignores_correctness_and_follows_its_key():
    correct = np.tile([True, False], 20_000)
    a = grpo.SIGNALS["random"](correct, np.random.default_rng([3, 7, 1]), 0.3)
    b = grpo.SIGNALS["random"](correct, np.random.default_rng([3, 7, 1]), 0.3)
    c = grpo.SIGNALS["random"](correct, np.random.default_rng([3, 8, 1]), 0.3)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    se = np.sqrt(0.3 * 0.7 / 20_000)
    assert abs(a[correct].mean() - 0.3) < 5 * se and abs(a[~correct].mean() - 0.3) < 5 * se
    assert np.array_equal(grpo.SIGNALS["verifier"](correct, None, 0.3), correct)


@pytest.mark.parametrize("override,culprit", [({"grpo.reward": "coin"}, "grpo.reward"),
                                              ({"grpo.reward": "random", "grpo.reward_p": 1.0}, "grpo.reward_p"),
                                              ({"grpo.reward_p": 0.0}, "grpo.reward_p")])
def test_bad_reward_keys_are_one_config_error_naming_the_key(override, culprit):
    with pytest.raises(ConfigError, match=culprit) as err:
        rl_load(None, override)
    assert len(str(err.value).splitlines()) == 1


def test_the_reward_keys_leave_existing_run_ids_alone():
    from scaling.rl import config as R

    base = R.with_pretrained(rl_load(None, {}), "abc")
    assert R.run_id(base) == R.run_id(R.with_pretrained(rl_load(None, {"grpo.reward": "verifier"}), "abc"))
    assert R.run_id(base) != R.run_id(R.with_pretrained(rl_load(None, {"grpo.reward": "random"}), "abc"))
