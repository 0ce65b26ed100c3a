"""The unbiased pass@k estimator the RL records use (`scaling.fit.passk`) against brute-force
enumeration of k-subsets."""

import itertools
import math

import numpy as np
import pytest

from scaling.errors import ConfigError, FitError
from scaling.fit.passk import pass_at_k
from scaling.rl import config as R
from scaling.rl.learner import mean_pass_at_k


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_pass_at_k_equals_enumeration_of_subsets(n):
    for c in range(n + 1):
        samples = [1] * c + [0] * (n - c)
        for k in range(1, n + 1):
            subsets = list(itertools.combinations(range(n), k))
            brute = sum(any(samples[i] for i in s) for s in subsets) / len(subsets)
            assert pass_at_k(n, c, k) == pytest.approx(brute, abs=1e-12), (n, c, k)


def test_large_n_matches_the_binomial_formula_and_the_mean_over_problems():
    n, k = 64, 16
    c = np.arange(n + 1)
    exact = [1 - math.comb(n - ci, k) / math.comb(n, k) for ci in c]
    np.testing.assert_allclose(pass_at_k(n, c, k), exact, rtol=1e-10, atol=1e-15)
    assert mean_pass_at_k(n, c, 1) == pytest.approx(np.mean(c / n))
    assert mean_pass_at_k(n, c, k) == pytest.approx(np.mean(exact))


def test_k_larger_than_the_samples_is_an_error():
    with pytest.raises(FitError):
        pass_at_k(16, 3, 17)
    with pytest.raises(ConfigError, match="k=32 is larger than eval.samples=16"):
        R.load(None, ["eval.k=1,32", "eval.samples=16"])
