"""The one law registry: each law knows its parameters, its predict function and column roles.

``LAWS[name]`` is a :class:`Law`. ``roles`` name the inputs in order (each a role of
:data:`scaling.fit.io.DEFAULT_COLUMNS`: compute, params, tokens, k) and the output role
(loss, metric, coverage); ``problem(*xs, y, **kw)`` builds the estimation problem (None for the
closed-form log-linear law and the Approach 2 diagnostic); ``predict(params, *xs)`` evaluates
a fitted law. The CLI, the extrapolation check and the report dispatch through this table only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from scaling.errors import FitError
from scaling.fit import fits, laws


@dataclass(frozen=True)
class Law:
    """A law: name, parameter names, input roles, output role, problem builder, predictor."""

    name: str
    params: tuple
    inputs: tuple
    output: str
    problem: Callable | None
    predict: Callable | None
    huber: bool = False  # a Huber loss on log residuals, with a delta


LAWS = {
    "chinchilla": Law("chinchilla", ("E", "A", "B", "alpha", "beta"), ("params", "tokens"), "loss",
                      fits.chinchilla_problem,
                      lambda p, N, D: laws.chinchilla_loss(N, D, p["E"], p["A"], p["B"], p["alpha"], p["beta"]),
                      huber=True),
    "power": Law("power", ("E", "A", "alpha"), ("compute",), "loss", fits.power_problem,
                 lambda p, C: laws.power_law(C, p["E"], p["A"], p["alpha"]), huber=True),
    "sigmoid": Law("sigmoid", ("R0", "A", "C_mid", "B"), ("compute",), "metric", fits.sigmoid_problem,
                   lambda p, C: laws.scalerl_sigmoid(C, p["R0"], p["A"], p["C_mid"], p["B"])),
    "coverage": Law("coverage", ("a", "b"), ("k",), "coverage", fits.coverage_problem,
                    lambda p, k: laws.coverage(k, p["a"], p["b"])),
    "loglinear": Law("loglinear", ("a", "b"), ("compute",), "metric", None,
                     lambda p, C: laws.loglinear(C, p["a"], p["b"])),
    "approach2": Law("approach2", ("a", "n0", "b", "d0"), ("compute", "params"), "loss", None, None),
}


def get(name: str) -> Law:
    """The law called ``name``; FitError listing the known laws otherwise."""
    if name not in LAWS:
        raise FitError(f"unknown law {name!r}; choose one of {', '.join(LAWS)}")
    return LAWS[name]


def fit(name: str, *xs, y, **kw):
    """Point fit of law ``name`` on inputs ``xs`` (in the order of its roles) and output ``y``."""
    law = get(name)
    if law.name == "loglinear":
        kw.pop("delta", None)
        return fits.fit_loglinear(*xs, y, **kw)
    if law.problem is None or law.predict is None:
        raise FitError(f"law {name!r} has no point fit here (a diagnostic)")
    allow = kw.pop("allow_unconverged", False)
    if not law.huber:
        kw.pop("delta", None)
    from scaling.fit.estimate import fit_problem

    return fit_problem(law.problem(*xs, y, **kw), allow_unconverged=allow)
