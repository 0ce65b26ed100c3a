"""Learning-rate schedules, cooldown branches and the evaluation schedule (JAX-free: the sweep planner
uses it too).

Cooldown branches (Hägele et al. 2024): a warmup-stable-decay run trains at its peak rate, and at
log-spaced points a branch leaves the stable line, decays the rate linearly to `final_lr_frac` x
peak, is evaluated at its end, and is thrown away; the stable line then goes on from where the
branch left it. A branch ending at step e decays over round(decay x e) steps, so it has the shape of
a whole WSD run of e steps (its warmup aside): its end is a finished point, like the run's own end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scaling.errors import ConfigError


def lr_schedule(cfg, steps: int):
    """Learning rate per step (0-based, host-side float) for a run of `steps` steps (`cfg`: OptimConfig).

    cosine: linear warmup over `warmup`*steps, then cosine to `final_lr_frac`*lr at the last step.
    wsd:    linear warmup, constant, then a linear decay over the last `decay`*steps to
            `final_lr_frac`*lr (warmup-stable-decay).
    """
    warm = warmup_steps(cfg, steps)
    peak, final = cfg.lr, cfg.lr * cfg.final_lr_frac
    decay = decay_steps(cfg, steps)

    def lr(step: int) -> float:
        if step < warm:
            return peak * (step + 1) / warm
        if cfg.schedule == "cosine":
            frac = min(max((step - warm) / max(steps - 1 - warm, 1), 0.0), 1.0)
            return float(final + (peak - final) * 0.5 * (1 + np.cos(np.pi * frac)))
        if not decay:
            return peak
        frac = min(max((step - (steps - decay) + 1) / decay, 0.0), 1.0)
        return peak + (final - peak) * frac

    return lr


def warmup_steps(cfg, steps: int) -> int:
    return max(1, round(cfg.warmup * steps)) if cfg.warmup > 0 else 0


def decay_steps(cfg, steps: int) -> int:
    """Steps of the final linear decay of a WSD run of `steps` steps."""
    return max(1, round(cfg.decay * steps)) if cfg.decay > 0 else 0


def branch_lr(cfg, length: int):
    """Learning rate at step i (0-based) of a cooldown branch of `length` steps: linear from the peak
    to `final_lr_frac` x peak, exactly as the last `length` steps of a WSD run."""
    peak, final = cfg.lr, cfg.lr * cfg.final_lr_frac
    return lambda i: peak + (final - peak) * min((i + 1) / length, 1.0)


@dataclass(frozen=True)
class Branch:
    """A cooldown branch: leaves the stable line after `start` steps, ends after `end` steps."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


def branches(optim_cfg, train_cfg, steps: int) -> list[Branch]:
    """The run's cooldown branches, earliest first (empty when `train.branches` is 0).

    Branch j (j = 1..branches) ends at round(steps / spacing^j); it starts decay_steps(end) earlier.
    Raises ConfigError naming the key when a branch would start inside the warmup or two coincide.
    """
    n = train_cfg.branches
    if n == 0:
        return []
    warm = warmup_steps(optim_cfg, steps)
    out = []
    for j in range(n, 0, -1):
        end = round(steps / train_cfg.branch_spacing ** j)
        start = end - decay_steps(optim_cfg, end)
        if start < max(warm, 1):
            raise ConfigError(
                f"train.branches: {n} branches {train_cfg.branch_spacing:g}x apart put the earliest at step {end} "
                f"of {steps}, whose cooldown would start at step {start}, inside the warmup ({warm} steps); "
                f"use fewer branches or a longer run")
        if out and start <= out[-1].start:
            raise ConfigError(f"train.branches: branches at steps {out[-1].end} and {end} of {steps} overlap; "
                              f"use fewer branches or a longer run")
        out.append(Branch(start, end))
    return out


def eval_steps(steps: int, points: int, first: float | None = None) -> list[int]:
    """The one evaluation schedule (pretraining, RL and the sweep planner): at least `points`
    distinct log-spaced step counts from `first` to `steps`, ending at `steps` (every step from
    `first` when no more than `points` remain). `first` defaults to steps / 2^(points-1), so a
    pretraining run's evaluations fall one doubling apart before its end; RL evaluates from the end
    of its warmup (:func:`rl_eval_steps`)."""
    lowest = 1 if first is None else min(max(1, int(round(first))), steps)
    if steps - lowest + 1 <= points:
        return list(range(lowest, steps + 1))
    if points <= 1:
        return [steps]
    first = max(1.0, steps / 2 ** (points - 1)) if first is None else max(1.0, float(first))
    m = points
    while True:
        grid = sorted({int(round(s)) for s in np.geomspace(first, steps, m)} | {steps})
        if len(grid) >= points or m > 4 * points + steps:
            return grid
        m += 1


#: `eval.start` of an RL config: where the log-spaced evaluations begin
EVAL_START_WARMUP = "warmup"


def eval_start(start: str, steps: int, warmup: int) -> int:
    """The first log-spaced RL evaluation (`eval.start`): "warmup" -> the step at which the
    learning-rate warmup ends (step 1 without warmup), so no fitted point lies inside it; an
    integer (as text) -> that step. ConfigError naming `eval.start` otherwise."""
    text = str(start).strip()
    if text == EVAL_START_WARMUP:
        return max(1, min(int(warmup), steps))
    if text.lstrip("+").isdigit() and 1 <= int(text) <= steps:
        return int(text)
    raise ConfigError(f"eval.start: expected {EVAL_START_WARMUP!r} or a step from 1 to steps={steps}, got {start!r}")


def rl_eval_steps(cfg) -> list[int]:
    """The steps after step 0 (the starting model, always evaluated) at which an RL run (`cfg`: an
    RLConfig) is evaluated: `eval.points` log-spaced from `eval.start` to the last step. The trainer,
    the sweep's cost model and the calibration's design all read it here."""
    warm = warmup_steps(cfg.optim, cfg.steps)
    return eval_steps(cfg.steps, cfg.eval.points, first=eval_start(cfg.eval.start, cfg.steps, warm))


def spent_steps(optim_cfg, train_cfg, steps: int) -> int:
    """Every step the run trains: the main line plus all its branches."""
    return steps + sum(b.length for b in branches(optim_cfg, train_cfg, steps))
