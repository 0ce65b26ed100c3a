"""The unbiased pass@k estimator (Chen et al. 2021) and coverage curves from sample counts."""

from __future__ import annotations

import numpy as np

from scaling.errors import FitError


def pass_at_k(n, c, k):
    """Unbiased pass@k = 1 - C(n-c, k)/C(n, k) from n samples of which c are correct.

    Numerically stable product form of Chen et al. 2021, 1 - prod_{i=n-c+1}^{n} (1 - k/i),
    evaluated as -expm1(sum_i log1p(-k/i)) so that no binomial coefficient is formed and values
    near 0 keep full relative precision. Exactly 1 when n - c < k. Broadcasts over n, c and k;
    the sum is vectorised over k for each distinct (n, c). Returns a fraction in [0, 1].
    """
    n, c, k = np.broadcast_arrays(np.asarray(n), np.asarray(c), np.asarray(k, dtype=float))
    if np.any(c < 0) or np.any(c > n) or np.any(k < 1) or np.any(k > n):
        raise FitError("pass@k needs 0 <= n_correct <= n_samples and 1 <= k <= n_samples")
    out = np.empty(n.shape, dtype=float)
    pairs = np.stack([n.ravel(), c.ravel()], axis=1).astype(np.int64)
    uniq, inv = np.unique(pairs, axis=0, return_inverse=True)
    flat_k, flat_out = k.ravel(), out.reshape(-1)
    for j, (nn, cc) in enumerate(uniq):
        sel = np.flatnonzero(inv.ravel() == j)
        kk = flat_k[sel]
        i = np.arange(nn - cc + 1, nn + 1, dtype=float)
        if i.size == 0:
            flat_out[sel] = 0.0
            continue
        sure = (nn - cc) < kk
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log1p(-np.minimum(kk[:, None] / i[None, :], 1.0)).sum(axis=1)
        flat_out[sel] = np.where(sure, 1.0, -np.expm1(logs))
    return out if out.ndim else float(out)


def pass_at_k_product(n: int, c: int, k: int) -> float:
    """Chen et al.'s reference loop, 1 - prod(1 - k / arange(n-c+1, n+1)), for one problem."""
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def coverage_curve(n_samples, n_correct, ks):
    """Coverage c(k) = mean over problems of pass@k, for each k in ``ks`` (fractions)."""
    n = np.asarray(n_samples, float)[:, None]
    c = np.asarray(n_correct, float)[:, None]
    ks = np.asarray(ks, float)[None, :]
    return pass_at_k(n, c, ks).mean(axis=0)
