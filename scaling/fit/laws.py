"""Scaling laws as plain NumPy functions, with their units.

Conventions: compute C in FLOPs (or any positive unit, e.g. thousands of GPU-hours for RL; the
fitted scale parameters then carry that unit), N in parameters, D in tokens, loss L in nats per
token, pass rates and coverage as fractions in [0, 1]. All functions broadcast.
"""

from __future__ import annotations

import numpy as np


def power_law(C, E, A, alpha):
    """Saturating power law in compute: L(C) = E + A·C^(-alpha).

    C: compute (FLOPs); E: irreducible loss (nats/token); A: nats/token·FLOP^alpha; alpha > 0.
    """
    C = np.asarray(C, float)
    return E + A * C ** (-alpha)


def chinchilla_loss(N, D, E, A, B, alpha, beta):
    """Chinchilla loss surface L(N, D) = E + A/N^alpha + B/D^beta (nats/token).

    N: parameters; D: training tokens; E: irreducible loss; A, B: scale terms in nats/token
    times params^alpha resp. tokens^beta.
    """
    N = np.asarray(N, float)
    D = np.asarray(D, float)
    return E + A * N ** (-alpha) + B * D ** (-beta)


def optimal_allocation_exponents(alpha, beta):
    """Exponents (a, b) of N*(C) ∝ C^a and D*(C) ∝ C^b: a = beta/(alpha+beta), b = alpha/(alpha+beta)."""
    alpha = np.asarray(alpha, float)
    beta = np.asarray(beta, float)
    return beta / (alpha + beta), alpha / (alpha + beta)


def compute_optimal(C, A, B, alpha, beta, k=6.0):
    """Compute-optimal N*(C), D*(C) (params, tokens) of the Chinchilla surface under C = k·N·D.

    Minimising A N^-alpha + B D^-beta subject to N·D = C/k gives N* = G (C/k)^a and
    D* = (C/k)^b / G with G = (alpha A / (beta B))^(1/(alpha+beta)) and (a, b) from
    :func:`optimal_allocation_exponents`. k is FLOPs per parameter per token (6 for the usual
    dense-transformer estimate; see :func:`flops_per_param_token` to measure it from runs).
    """
    C = np.asarray(C, float)
    a, b = optimal_allocation_exponents(alpha, beta)
    G = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
    n_opt = G * (C / k) ** a
    d_opt = (C / k) ** b / G
    return n_opt, d_opt


def tokens_per_parameter(C, A, B, alpha, beta, k=6.0):
    """D*/N* at compute C (tokens per parameter of the compute-optimal model)."""
    n_opt, d_opt = compute_optimal(C, A, B, alpha, beta, k)
    return d_opt / n_opt


def optimal_loss(C, E, A, B, alpha, beta, k=6.0):
    """Loss of the compute-optimal model at compute C (nats/token)."""
    n_opt, d_opt = compute_optimal(C, A, B, alpha, beta, k)
    return chinchilla_loss(n_opt, d_opt, E, A, B, alpha, beta)


def flops_per_param_token(C, N, D):
    """k in C = k·N·D measured from runs' own FLOP counts: the median of C/(N·D)."""
    ratio = np.asarray(C, float) / (np.asarray(N, float) * np.asarray(D, float))
    return float(np.median(ratio))


def loglinear(C, a, b):
    """Log-linear metric P = a + b·log10(C) (a: metric at C = 1; b: per decade of compute)."""
    return a + b * np.log10(np.asarray(C, float))


def scalerl_sigmoid(C, R0, A, C_mid, B):
    """ScaleRL saturating curve R(C) = R0 + (A - R0) / (1 + (C_mid/C)^B).

    R0: metric at C -> 0; A: asymptote; C_mid: compute at half the gain (same unit as C);
    B: steepness (dimensionless).
    """
    C = np.asarray(C, float)
    return R0 + (A - R0) / (1.0 + (C_mid / C) ** B)


def coverage(k, a, b):
    """Test-time coverage c(k) = exp(a·k^b) for k samples (a < 0, b < 0 in practice)."""
    k = np.asarray(k, float)
    return np.exp(a * k**b)


def coverage_ceiling(k, c_max, a, b):
    """Coverage with a ceiling, c(k) = c_max·exp(a·k^b) (0 < c_max <= 1, a < 0, b < 0): tends to
    c_max, the share of problems the sampler can solve at all, instead of to 1."""
    k = np.asarray(k, float)
    return c_max * np.exp(a * k**b)
