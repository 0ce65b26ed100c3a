"""The one law registry: each law knows its parameters, its predict function and column roles.

``LAWS[name]`` is a :class:`Law`. ``inputs`` name the inputs in order (each a role of
:data:`scaling.fit.io.DEFAULT_COLUMNS`: compute, params, tokens, k) and ``output`` the output
role (loss, metric, coverage); ``labels`` are the keys the problem builder's ``names=`` uses for
them; ``problem(*xs, y, **kw)`` builds the estimation problem (None for the closed-form
log-linear law and the Approach 2 diagnostic); ``predict(params, *xs)`` evaluates a fitted law;
``sample`` says what ``scaling fit`` fits it to (every point, the frontier of finished points, or
an isoFLOP sweep's budgets). The CLI, the bootstrap, the extrapolation check, the claims and the
report dispatch through this table only: no other module branches on a law's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from scaling.errors import FitError
from scaling.fit import fits, laws
from scaling.fit.estimate import fit_problem
from scaling.fit.io import resolve_column

#: what ``scaling fit`` fits a law to
SAMPLES = ("points", "frontier", "budgets")


@dataclass(frozen=True)
class Law:
    """A law: name, parameter names, input and output roles, problem builder, predictor."""

    name: str
    params: tuple
    inputs: tuple
    output: str
    problem: Callable | None
    predict: Callable | None
    labels: tuple = ()  # names= keys of the problem builder, inputs then output
    huber: bool = False  # a Huber loss on log residuals, with a delta
    options: tuple = ()  # further keyword options of the problem builder (e.g. "at")
    closed_fit: Callable | None = None  # (*xs, y, names=) -> Fit, for closed-form laws
    closed_draws: Callable | None = None  # (*xs, y, W (R, n)) -> parameter arrays, in params order
    sample: str = "points"
    optional: tuple = ()  # input roles used when a column exists (not counted in --x)
    prefer: tuple = ()  # (role, column) taken first for that role when --x names none
    inverse: Callable | None = None  # (params, y) -> the single input at which the law gives y

    def predict_draws(self, draws: dict, *xs) -> np.ndarray:
        """(R, n) predictions of R parameter draws ({name: (R,)}) at inputs ``xs`` (n,) each."""
        p = {k: np.asarray(draws[k], float)[:, None] for k in self.params}
        return self.predict(p, *(np.asarray(x, float)[None, :] for x in xs))


def _power_inverse(p, L):
    """Compute at which E + A C^-alpha reaches loss L: (A / (L - E))^(1/alpha), inf where L <= E."""
    gap = np.asarray(L, float) - p["E"]
    with np.errstate(all="ignore"):
        return np.where(gap > 0, (p["A"] / gap) ** (1.0 / p["alpha"]), np.where(np.isnan(gap), np.nan, np.inf))


LAWS = {
    "chinchilla": Law("chinchilla", ("E", "A", "B", "alpha", "beta"), ("params", "tokens"), "loss",
                      fits.chinchilla_problem,
                      lambda p, N, D: laws.chinchilla_loss(N, D, p["E"], p["A"], p["B"], p["alpha"], p["beta"]),
                      labels=("N", "D", "L"), huber=True, options=("at",)),
    "power": Law("power", ("E", "A", "alpha"), ("compute",), "loss", fits.power_problem,
                 lambda p, C: laws.power_law(C, p["E"], p["A"], p["alpha"]),
                 labels=("C", "L"), huber=True, options=("at",), sample="frontier", inverse=_power_inverse),
    "sigmoid": Law("sigmoid", ("R0", "A", "C_mid", "B"), ("compute",), "metric", fits.sigmoid_problem,
                   lambda p, C: laws.scalerl_sigmoid(C, p["R0"], p["A"], p["C_mid"], p["B"]),
                   labels=("C", "P")),
    "coverage": Law("coverage", ("a", "b"), ("k",), "coverage", fits.coverage_problem,
                    lambda p, k: laws.coverage(k, p["a"], p["b"]), labels=("k", "c")),
    "loglinear": Law("loglinear", ("a", "b"), ("compute",), "metric", None,
                     lambda p, C: laws.loglinear(C, p["a"], p["b"]), labels=("C", "P"),
                     closed_fit=fits.fit_loglinear, closed_draws=fits.loglinear_solve),
    "approach2": Law("approach2", ("a", "n0", "b", "d0"), ("compute", "params"), "loss", None, None,
                     sample="budgets", optional=("tokens",), prefer=(("compute", "budget"),)),
}

#: roles computed from others when no column holds them: tokens = compute / (6 x params)
DERIVED = {"tokens": (("compute", "params"), lambda C, N: C / (6 * N), "{0}/(6·{1})")}


def get(name: str) -> Law:
    """The law called ``name``; FitError listing the known laws otherwise."""
    if name not in LAWS:
        raise FitError(f"unknown law {name!r}; choose one of {', '.join(LAWS)}")
    return LAWS[name]


def _has_role(df, role) -> bool:
    try:
        resolve_column(df, role)
        return True
    except FitError:
        return False


def columns(law: Law, df, x: list | None = None, y: str | None = None) -> dict:
    """{role: column} for the law's inputs (``x``: names in the order of its inputs, or none),
    its output (``y``) and its optional inputs present; a role no column holds is computed from
    :data:`DERIVED` when it can be (its value is then a label such as ``C/(6·N)``)."""
    x = list(x or [])
    if x and len(x) != len(law.inputs):
        raise FitError(f"--x {','.join(x)!r}: law {law.name} takes {len(law.inputs)} column(s) "
                       f"({', '.join(law.inputs)}), got {len(x)}")
    prefer = dict(law.prefer)
    out = {}
    for i, role in enumerate(law.inputs):
        if x:
            out[role] = resolve_column(df, role, x[i])
        elif role in prefer and prefer[role] in df.columns:
            out[role] = prefer[role]
        elif role in DERIVED and not _has_role(df, role):
            src, _, label = DERIVED[role]
            for s in src:  # the source columns are kept beside the derived label
                out.setdefault(s, resolve_column(df, s))
            out[role] = label.format(*(out[s] for s in src))
        else:
            out[role] = resolve_column(df, role)
    for role in law.optional:
        if _has_role(df, role):
            out[role] = resolve_column(df, role)
    out[law.output] = resolve_column(df, law.output, y)
    return out


def values(law: Law, df, cols: dict) -> list:
    """The law's input arrays then its output array, from :func:`columns` (derived roles computed)."""
    def one(role):
        col = cols[role]
        if col in df.columns:
            return df[col].to_numpy(float)
        src, fn, _ = DERIVED[role]
        return fn(*(one(s) for s in src))

    return [one(r) for r in law.inputs] + [one(law.output)]


def problem(name: str, *xs, y, names: dict | None = None, **kw):
    """The estimation problem of law ``name`` (options it does not take are dropped, ``delta``
    for laws without a Huber loss); ``names`` maps its roles to column names for error messages."""
    law = get(name)
    if law.problem is None:
        raise FitError(f"law {name!r} has no iterative fit (closed form or a diagnostic)")
    opts = {k: v for k, v in kw.items() if k in law.options or (k == "delta" and law.huber)}
    if names:
        roles = law.inputs + (law.output,)
        opts["names"] = {lab: names[r] for lab, r in zip(law.labels, roles) if r in names}
    return law.problem(*xs, y, **opts)


def fit(name: str, *xs, y, names: dict | None = None, **kw):
    """Point fit of law ``name`` on inputs ``xs`` (in the order of its roles) and output ``y``."""
    law = get(name)
    allow = kw.pop("allow_unconverged", False)
    if law.closed_fit is not None:
        nm = {lab: names[r] for lab, r in zip(law.labels, law.inputs + (law.output,)) if r in names} if names else None
        return law.closed_fit(*xs, y, names=nm)
    if law.problem is None or law.predict is None:
        raise FitError(f"law {name!r} has no point fit here (a diagnostic)")
    return fit_problem(problem(name, *xs, y=y, names=names, **kw), allow_unconverged=allow)
