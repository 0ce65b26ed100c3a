"""Plan the runs of a ladder so that its forecast at a target is as tight as the budget allows.

From pilot runs: the law is fitted as :func:`scaling.fit.predict.predict` fits it (its registry
row's sample), and the pilots' seed spread is measured the same way. Every candidate design (a
number of compute levels, seeds per level and a span of compute, scaled to spend the budget:
sum over its runs of their compute) is simulated from the fitted law plus Gaussian seed noise of
that spread, added to the pilots, and forecast at the target with the shared prediction function;
its expected interval width is the mean over ``n_sim`` simulations. Simulations use common random
numbers (the same draws for every candidate), so candidates differ by their design, not their
luck. The narrowest expected interval wins.

A run's compute is split into parameters and tokens at a tokens-per-parameter ratio (the
target's for (N, D) targets, else the pilots' median, else 20); the power law needs only the
compute. Learning rates: where the pilots have a learning-rate column, the best learning rate per
pilot size (lowest seed-mean finished loss) is fitted log-linearly against log size and read off
at each proposed size (a constant when the pilots have one size).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from scaling.errors import DataError, FitError
from scaling.fit import predict as forecast
from scaling.fit import registry
from scaling.fit.io import resolve_column
from scaling.fit.table import units_of_rows

#: candidate grids: compute levels, seeds per level, span (largest / smallest compute)
LEVELS = (4, 6)
SEEDS = (1, 2, 3)
SPANS = (10.0, 100.0, 1000.0)
#: tokens per parameter when neither the target nor the pilots say
DEFAULT_TPP = 20.0
#: learning-rate columns looked for when none is named
LR_COLUMNS = ("optim.lr", "lr", "opt/lr")


@dataclass(frozen=True)
class Run:
    """One proposed configuration: ``seeds`` runs of ``params`` x ``tokens`` (``compute`` each)."""

    compute: float
    params: float
    tokens: float
    seeds: int
    lr: float | None = None


@dataclass(frozen=True)
class Design:
    """A candidate: its runs, total compute, expected interval width (mean over simulations)."""

    levels: int
    seeds: int
    span: float
    runs: tuple
    compute: float
    width: float
    widths: tuple


def ladder(budget: float, levels: int, seeds: int, span: float, cap: float, tpp: float) -> list[Run]:
    """``levels`` computes spaced geometrically over ``span``, the largest as big as ``seeds``
    runs of each fit in ``budget`` (at most ``cap``, the target's compute)."""
    ratios = span ** (-np.arange(levels)[::-1] / max(levels - 1, 1))  # smallest ... 1
    top = min(budget / (seeds * ratios.sum()), cap)
    runs = []
    for c in top * ratios:
        n = float(np.sqrt(c / (6.0 * tpp)))
        runs.append(Run(compute=float(c), params=n, tokens=float(tpp * n), seeds=int(seeds)))
    return runs


def _lr_rule(df, y, lr_col, size_col):
    """log lr = a + b log size through the best learning rate of each pilot size, or None."""
    if lr_col is None or size_col is None:
        return None, "no learning-rate column: choose learning rates as for the pilots"
    g = df.groupby([size_col, lr_col])[y].mean().reset_index()
    best = g.loc[g.groupby(size_col)[y].idxmin()]
    x, v = np.log(best[size_col].to_numpy(float)), np.log(best[lr_col].to_numpy(float))
    if len(best) >= 2 and np.ptp(x) > 0:
        b, a = np.polyfit(x, v, 1)
        how = f"best {lr_col} per pilot size, log-linear in {size_col} (slope {b:.3g})"
    else:
        b, a = 0.0, float(v.mean())
        how = f"best {lr_col} of the pilots' one size"
    return (lambda n: float(np.exp(a + b * np.log(n)))), how


def _frame(spec, xs, yv, runs, configs) -> pd.DataFrame:
    """The minimal table :func:`predict` reads: one column per input role, y, run and configuration."""
    cols = {r: np.asarray(v, float) for r, v in zip(spec.inputs, xs)}
    return pd.DataFrame({**cols, "y": np.asarray(yv, float), "run_id": np.asarray(runs).astype(str),
                         "config_id": np.asarray(configs).astype(str)})


def _simulated(spec, params, design: list[Run], spread: float, z: np.ndarray) -> pd.DataFrame:
    """The design's runs, y from the fitted law plus seed noise (``z``: standard normal draws)."""
    rows, k = [], 0
    for i, run in enumerate(design):
        inputs = {"compute": run.compute, "params": run.params, "tokens": run.tokens}
        mean = float(spec.predict(params, *(np.array([inputs[r]]) for r in spec.inputs))[0])
        for s in range(run.seeds):
            rows.append({**{r: inputs[r] for r in spec.inputs}, "y": mean + spread * z[k],
                         "run_id": f"plan{i}-s{s}", "config_id": f"plan{i}"})
            k += 1
    return pd.DataFrame(rows)


def plan(df, law: str, target: dict, budget: float, *, y: str, x: dict | None = None,
         run_col: str | None = None, seed_col: str | None = None, lr_col: str | None = None,
         level: float = 0.9, n_boot: int = 200, n_sim: int = 2, seed: int = 0,
         levels=LEVELS, seeds=SEEDS, spans=SPANS) -> dict:
    """The design among the candidate grids whose forecast interval at ``target`` is expected to
    be narrowest within ``budget`` (module docstring). Returns a plain dict: "best" (a
    :class:`Design` as a dict), "candidates" (all, narrowest first), "pilot" (the forecast from
    the pilots alone), "lr_source", "tokens_per_param", "test" (what was computed, in words)."""
    spec = registry.get(law)
    try:
        budget = float(budget)
    except (TypeError, ValueError):
        raise DataError(f"--budget {budget!r}: not a number") from None
    if not (np.isfinite(budget) and budget > 0):
        raise DataError(f"--budget {budget}: must be a finite positive compute (FLOPs)")
    if not isinstance(n_sim, int) or n_sim < 1:
        raise DataError(f"--simulations {n_sim}: at least 1")
    targets = forecast.check_targets(spec, [target])
    pilots = forecast.finished(df)
    if len(pilots) == 0:
        raise DataError("no finished pilot rows to plan from")
    cols = registry.columns(spec, pilots, [x[r] for r in spec.inputs] if x else [], y)
    lr_col = _lr_column(pilots, lr_col)  # checked before any fit
    run_col = forecast.default_run_col(pilots, run_col)
    groups, configs = units_of_rows(pilots, run_col, seed_col)
    *xs, yv = registry.values(spec, pilots, cols)
    runs = groups if groups is not None else np.arange(len(yv))
    base = _frame(spec, xs, yv, runs, configs if configs is not None else runs)
    # the pilots' own forecast (also every input check: reach, columns, enough configurations)
    pilot = forecast.predict(base, law, targets, y="y", x={r: r for r in spec.inputs}, level=level,
                             n_boot=n_boot, seed=seed)[0]
    params, _, _, _ = forecast.FITTERS[spec.sample](spec, xs, yv, runs, base["config_id"].to_numpy(),
                                                    n_boot=n_boot, seed=seed, delta="auto")
    tpp = _tokens_per_param(pilots, targets[0])
    lr_of, lr_how = _lr_rule(pilots, cols[spec.output], lr_col, _size_column(pilots))
    cap = forecast.target_compute(spec, targets[0])
    z = np.random.default_rng(seed + 1).standard_normal((n_sim, max(levels) * max(seeds)))
    out = []
    for n_lev in levels:
        for s in seeds:
            for span in spans:
                design = ladder(budget, n_lev, s, span, cap, tpp)
                spent = sum(r.compute * r.seeds for r in design)
                assert spent <= budget * (1 + 1e-12), (spent, budget)  # by construction
                widths = []
                for j in range(n_sim):
                    sim = pd.concat([base, _simulated(spec, params, design, pilot.spread, z[j])], ignore_index=True)
                    p = forecast.predict(sim, law, targets, y="y", x={r: r for r in spec.inputs}, level=level,
                                         n_boot=n_boot, seed=seed)[0]
                    widths.append(p.hi - p.lo)
                if lr_of is not None:
                    design = [Run(**{**asdict(r), "lr": lr_of(r.params)}) for r in design]
                out.append(Design(levels=n_lev, seeds=s, span=float(span), runs=tuple(design), compute=float(spent),
                                  width=float(np.mean(widths)), widths=tuple(widths)))
    out.sort(key=lambda d: d.width)
    return {"law": law, "target": targets[0], "budget": budget, "level": level,
            "pilot": pilot.to_dict(), "best": asdict(out[0]), "candidates": [asdict(d) for d in out],
            "tokens_per_param": tpp, "lr_source": lr_how, "n_sim": n_sim, "n_boot": n_boot,
            "test": (f"each design simulated {n_sim}x from the pilots' fitted {law} law plus their seed spread "
                     f"({pilot.spread:.3g}, {pilot.spread_source or 'see pilot'}), added to the pilots and "
                     f"forecast with {n_boot} resamples; width = hi - lo of the {level:.0%} prediction interval, "
                     f"mean over simulations")}


def _tokens_per_param(pilots, target: dict) -> float:
    if "params" in target and "tokens" in target:
        return float(target["tokens"]) / float(target["params"])
    try:
        n = pilots[resolve_column(pilots, "params")].to_numpy(float)
    except FitError:
        return DEFAULT_TPP
    try:
        d = pilots[resolve_column(pilots, "tokens")].to_numpy(float)
    except FitError:
        try:  # tokens = compute / (6 x params), as the registry derives them
            d = pilots[resolve_column(pilots, "compute")].to_numpy(float) / (6.0 * n)
        except FitError:
            return DEFAULT_TPP
    ratio = float(np.median(d / n))
    return ratio if np.isfinite(ratio) and ratio > 0 else DEFAULT_TPP


def _lr_column(pilots, lr_col):
    if lr_col is not None:
        if lr_col not in pilots.columns:
            raise DataError(f"--lr-col {lr_col!r}: no such column")
        return lr_col
    return next((c for c in LR_COLUMNS if c in pilots.columns), None)


def _size_column(pilots):
    try:
        return resolve_column(pilots, "params")
    except FitError:  # no size column: no learning-rate rule
        return None


def plan_lines(p: dict) -> list[str]:
    """The plan for people: the chosen runs, the expected width, the runners-up."""
    t = ",".join(f"{k}={v:.3g}" for k, v in p["target"].items())
    b, pilot = p["best"], p["pilot"]
    lines = [f"plan for a {p['law']} forecast at {t} within a budget of {p['budget']:.3g} FLOPs "
             f"({p['level']:.0%} prediction interval):",
             f"  pilots alone: {pilot['value']:.4g} ({pilot['lo']:.4g}-{pilot['hi']:.4g}), width {pilot['hi'] - pilot['lo']:.3g}",
             f"  proposed: {b['levels']} sizes x {b['seeds']} seed(s), span {b['span']:.3g}x, {b['compute']:.3g} FLOPs; "
             f"expected width {b['width']:.3g}",
             "      compute       params       tokens   seeds  lr"]
    for r in b["runs"]:
        lr = "-" if r["lr"] is None else f"{r['lr']:.3g}"
        lines.append(f"  {r['compute']:11.3g}  {r['params']:11.3g}  {r['tokens']:11.3g}  {r['seeds']:6d}  {lr}")
    lines.append("  other designs (sizes x seeds, span: expected width):")
    for d in p["candidates"][1:6]:
        lines.append(f"    {d['levels']} x {d['seeds']}, {d['span']:.3g}x: {d['width']:.3g}")
    lines += [f"  learning rates: {p['lr_source']}", f"  tokens per parameter: {p['tokens_per_param']:.3g}",
              f"  how: {p['test']}"]
    return lines
