"""The RL design as data, and synthetic trajectories drawn on it with a planted truth.

A claim about RL curves is calibrated on the design it will judge: the evaluated steps (step 0,
then log-spaced from the end of the warmup, `scaling.schedule.rl_eval_steps`), the warmup, the
seeds, and the way compute and metrics vary between seeds. :func:`design_of` reads that design
from an RL sweep (or config) with the trainer's own schedule; :func:`draw` makes one synthetic
sweep on it.

The generative model (what the truths are functions of):
- compute: each step costs ``flops_per_step`` times a per-seed and a per-step lognormal factor
  (decode lengths differ by seed and by step), so seeds do not share x values;
- effective compute: each step's compute weighted by its learning rate relative to the peak
  (linear warmup over ``warmup`` steps, then constant): progress grows like n^2 in the warmup and
  like n after it;
- the truth is a function of u, the log effective compute scaled so that u = 0 at the end of the
  warmup and u = 1 at the last step (on the design's mean compute): a truth linear in u is
  log-linear in effective compute; u never goes below -1 (the starting model, step 0, sits there);
- a per-seed offset (sd ``seed_sd``), reached in full at the end of the warmup (the seeds start
  from one model), and evaluation noise that is AR(1) along a seed's evaluations (sd
  ``noise_sd``, coefficient ``ar``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from scaling.errors import ConfigError
from scaling.schedule import rl_eval_steps, warmup_steps

COLUMNS = ("run_id", "seed", "step", "rl/flops", "y", "steps", "optim.warmup")


@dataclass(frozen=True)
class RLDesign:
    """Where and how an RL sweep's curves are observed.

    steps: evaluated steps, step 0 first; warmup: learning-rate warmup steps (linear); seeds: runs
    per configuration; flops_per_step: mean RL compute per step; flops_seed_sd / flops_step_sd:
    sd of the log of a seed's compute level and of one step's compute; seed_sd: sd of a seed's
    offset; noise_sd: sd of an evaluation's noise; ar: its AR(1) coefficient along a seed's
    evaluations."""

    steps: tuple
    warmup: int
    seeds: int
    flops_per_step: float = 1e9
    flops_seed_sd: float = 0.02
    flops_step_sd: float = 0.05
    seed_sd: float = 0.02
    noise_sd: float = 0.02
    ar: float = 0.5
    label: str = ""

    def __post_init__(self):
        steps = tuple(int(s) for s in self.steps)
        object.__setattr__(self, "steps", steps)
        if not steps or steps[0] != 0 or any(b <= a for a, b in zip(steps, steps[1:])):
            raise ConfigError(f"design steps: increasing, from step 0, got {steps}")
        if not 0 <= self.warmup <= steps[-1] or self.seeds < 1:
            raise ConfigError(f"design: warmup {self.warmup} of {steps[-1]} steps, {self.seeds} seeds")

    @property
    def total(self) -> int:
        """Steps of a run (the last evaluated step)."""
        return self.steps[-1]

    def with_(self, **changes) -> "RLDesign":
        return dataclasses.replace(self, **changes)


def lr_weights(warmup: int, total: int) -> np.ndarray:
    """Learning rate of steps 0..total-1 relative to the peak (the RL schedule: linear warmup)."""
    s = np.arange(total)
    return np.minimum(1.0, (s + 1) / warmup) if warmup > 0 else np.ones(total)


def progress(design: RLDesign, step_flops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(compute, effective compute) at the design's steps, from per-step compute (total,)."""
    at = np.asarray(design.steps)
    C = np.concatenate([[0.0], np.cumsum(step_flops)])
    E = np.concatenate([[0.0], np.cumsum(step_flops * lr_weights(design.warmup, design.total))])
    return C[at], E[at]


#: the truths' coordinate starts here: the starting model (step 0) and the first warmup steps sit
#: one post-warmup span below the end of the warmup, so a log-linear truth stays finite
U_MIN = -1.0


def _anchors(design: RLDesign) -> tuple[float, float]:
    """Effective compute (on the mean compute) at the end of the warmup and at the last step."""
    w = lr_weights(design.warmup, design.total) * design.flops_per_step
    return float(w[: max(design.warmup, 1)].sum()), float(w.sum())


def u_of(design: RLDesign, E: np.ndarray) -> np.ndarray:
    """The truths' coordinate: log effective compute, 0 at the end of the warmup, 1 at the last
    step (on the mean compute), never below :data:`U_MIN`."""
    e_warm, e_end = _anchors(design)
    lo, hi = np.log10(e_warm), np.log10(e_end)
    span = hi - lo if hi > lo else 1.0
    with np.errstate(divide="ignore"):
        return np.maximum((np.log10(np.asarray(E, float)) - lo) / span, U_MIN)


@dataclass(frozen=True)
class Truth:
    """A planted curve: y = fn(u) (u: :func:`u_of`), with its shape in words."""

    name: str
    fn: Callable[[np.ndarray], np.ndarray]
    shape: str


def _s(u, mid, k):
    return 1.0 / (1.0 + np.exp(-k * (np.asarray(u, float) - mid)))


#: named truths; a rise of 0.15 over the span after the warmup (pass@1 of the test-time demo
#: rose about that much), each a pass-rate-like curve inside (0, 1)
TRUTHS = {t.name: t for t in (
    Truth("loglinear_rising", lambda u: 0.30 + 0.15 * np.asarray(u, float), "log-linear in effective compute, rising"),
    Truth("loglinear_falling", lambda u: 0.70 - 0.15 * np.asarray(u, float), "log-linear in effective compute, falling"),
    Truth("saturating", lambda u: 0.30 + 0.20 * (1 - np.exp(-3.0 * np.asarray(u, float))),
          "rises fast after the warmup, then levels off (a ceiling within reach)"),
    Truth("sigmoid", lambda u: 0.30 + 0.20 * _s(u, 0.45, 9.0), "S-shaped in log compute: slow, steep, level"),
    Truth("flat", lambda u: 0.40 + 0.0 * np.asarray(u, float), "no change with compute"),
)}


def truth(name: str) -> Truth:
    try:
        return TRUTHS[name]
    except KeyError:
        raise ConfigError(f"unknown truth {name!r} (truths: {', '.join(TRUTHS)})") from None


def draw(design: RLDesign, planted: Truth | Callable, rng: np.random.Generator) -> pd.DataFrame:
    """One synthetic sweep on ``design``: columns run_id, seed, step, rl/flops, y, and the run's
    `steps` and `optim.warmup` (as a sweep folder's table has them). ``planted``: a
    :class:`Truth` or a function of u."""
    fn = planted.fn if isinstance(planted, Truth) else planted
    n_eval = len(design.steps)
    frac = design.warmup / design.total if design.total else 0.0
    rows = []
    for seed in range(design.seeds):
        level = rng.normal(0.0, design.flops_seed_sd)
        step_flops = design.flops_per_step * np.exp(level + rng.normal(0.0, design.flops_step_sd, design.total))
        C, E = progress(design, step_flops)
        u = u_of(design, E)
        # a seed's offset builds up through the warmup (all seeds start from one model)
        reach = np.minimum(1.0, E / _anchors(design)[0])
        noise = np.zeros(n_eval)
        z = rng.normal(0.0, 1.0, n_eval)
        noise[0] = design.noise_sd * z[0]
        for i in range(1, n_eval):
            noise[i] = design.ar * noise[i - 1] + np.sqrt(1 - design.ar ** 2) * design.noise_sd * z[i]
        y = fn(u) + rng.normal(0.0, design.seed_sd) * reach + noise
        for i, s in enumerate(design.steps):
            rows.append((f"seed{seed}", seed, s, float(C[i]), float(y[i]), design.total, frac))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def design_of(source, seeds: int | None = None, **noise) -> RLDesign:
    """The design of an RL sweep (a YAML path; every configuration must share steps, warmup and
    evaluations) or of one RL config (then ``seeds`` defaults to 3 and the compute per step to
    :class:`RLDesign`'s). ``seeds`` overrides the sweep's; ``noise``: other :class:`RLDesign` fields."""
    if isinstance(source, (str, Path)):
        from scaling.sweep.spec import load_sweep  # the sweep's own expansion (imports the RL stage)

        sweep = load_sweep(source)
        groups: dict = {}
        for r in sweep.runs:
            key = tuple(sorted((k, str(v)) for k, v in r.point.items() if k != "seed"))
            groups.setdefault(key, []).append(r)
        try:
            shapes = {_shape(r.cfg) for r in sweep.runs}
        except AttributeError:  # a pretraining config has no RL evaluations
            raise ConfigError(f"{source}: not an RL sweep (stage: {sweep.stage})") from None
        if len(shapes) != 1:
            raise ConfigError(f"{source}: configurations differ in steps, warmup or evaluations; "
                              f"calibrate them one at a time")
        cfg = sweep.runs[0].cfg
        n_seeds = min(len(g) for g in groups.values())
        per_step = float(np.mean([r.cost["rl/flops"] for r in sweep.runs])) / cfg.steps
        label = f"{Path(source).name}"
    else:
        cfg, n_seeds, per_step, label = source, 3, RLDesign.flops_per_step, "rl config"
    steps, warm = _shape(cfg)
    n = int(seeds if seeds is not None else n_seeds)
    return RLDesign(steps=steps, warmup=warm, seeds=n, flops_per_step=noise.pop("flops_per_step", per_step),
                    label=noise.pop("label", f"{label}, {n} seeds"), **noise)


def _shape(cfg) -> tuple[tuple, int]:
    """(evaluated steps with step 0, warmup steps) of an RL config, as the trainer has them."""
    return (0, *rl_eval_steps(cfg)), warmup_steps(cfg.optim, cfg.steps)
