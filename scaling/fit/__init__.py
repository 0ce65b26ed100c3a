"""Fitting scaling laws: laws, robust batched estimation, bootstrap, frontiers, extrapolation.

Works on any DataFrame or CSV; never imports models or training code, never prints.
"""

from scaling.fit.laws import (chinchilla_loss, compute_optimal, coverage, coverage_ceiling,
                              flops_per_param_token,
                              loglinear, optimal_allocation_exponents, optimal_loss, power_law,
                              scalerl_sigmoid, tokens_per_parameter)
from scaling.fit.passk import coverage_curve, pass_at_k, pass_at_k_product
from scaling.fit.estimate import Fit, Problem, Solution, solve, fit_problem
from scaling.fit.fits import (EPOCH_GRID, chinchilla_problem, coverage_ceiling_problem,
                              coverage_problem, fit_chinchilla,
                              fit_coverage, fit_coverage_ceiling, fit_loglinear, fit_power, fit_sigmoid, power_problem,
                              sigmoid_problem)
from scaling.fit.bootstrap import bootstrap, resample_weights
from scaling.fit.frontier import frontier
from scaling.fit.extrapolate import extrapolation_check
from scaling.fit.approach2 import approach2, isoflop_optima

__all__ = [
    "bootstrap", "resample_weights", "frontier", "extrapolation_check", "approach2",
    "isoflop_optima",
    "chinchilla_loss", "compute_optimal", "coverage", "coverage_ceiling", "flops_per_param_token", "loglinear",
    "optimal_allocation_exponents", "optimal_loss", "power_law", "scalerl_sigmoid",
    "tokens_per_parameter", "coverage_curve", "pass_at_k", "pass_at_k_product", "Fit", "Problem",
    "Solution", "solve", "fit_problem", "EPOCH_GRID", "chinchilla_problem", "coverage_problem",
    "fit_chinchilla", "fit_coverage", "fit_coverage_ceiling", "coverage_ceiling_problem", "fit_loglinear", "fit_power", "fit_sigmoid",
    "power_problem", "sigmoid_problem",
]
