"""Calibration of the forecast of a ladder's top rung (`python -m scaling.calibration forecast`).

Each draw is one synthetic pretraining ladder on the demo's design (:data:`DESIGNS`: the params,
tokens and compute of the finished points of `/work/main/runs/demo`, per recipe; 5 seeds per
configuration; its seed noise), with a planted truth. The power law L(C) = E + A C^-alpha is
fitted to the frontier of every width but the largest (:func:`scaling.fit.predict.predict`, the
shared prediction function) and forecasts the largest width's points where they extend the
frontier (compute above every fitted run's), as the report's held-out check does.

Seed noise, measured from the records (:func:`measure_design`, with
:func:`scaling.fit.diagnose.measure_noise`): the log of a finished loss is the
truth plus a run offset (shared by a run's points: its branches share initialisation and data
order) plus a point's own noise. Per configuration (recipe, width) the seeds x budgets table of
log losses is a two-way layout without replication; its residual mean square estimates the point
variance and (seed mean square - residual) / budgets the run variance; pooled over widths.

Truths (:data:`TRUTHS`), each anchored on the design's losses at its smallest and largest compute
(so that they span the demo's range): the well-specified reference (a power law in compute, the
fitted form) and three that are not the fitted form: a second power-law term, a broken power law
(returns diminish beyond a break inside the fitted range) and a learning-rate penalty that grows
with width and horizon (one learning rate for every size: log(lr / lr*) grows as the optimum
lr* falls with width and tokens, and loss rises quadratically in it).

Per draw: the 90% prediction interval (law + seed spread) is scored on each held-out run's loss
(coverage over runs), the law's own interval on the noise-free truth, the relative error of the
point forecast at the top point against the truth, and the misspecification diagnostic
(:func:`scaling.fit.diagnose.diagnose`) on the fitted data: how often it warns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from scaling.errors import ConfigError, ScalingError
from scaling.fit import lr_optimum
from scaling.fit.diagnose import measure_noise

Y = "eval/loss/caption"
FLOOR = 0.5785  # the demo world's exact entropy floor of the caption loss
LEVEL = 0.9
N_BOOT = 200  # resamples per forecast (the CPU budget: 200 draws x 4 truths in minutes)
N_BOOT_DIAGNOSE = 100  # resamples of the backtest (a z-statistic needs only the law interval's scale)


@dataclass(frozen=True)
class Design:
    """Where a ladder is observed: params (W,) per width, tokens (B,) per budget, compute (W, B)
    per finished point; seeds per configuration; sd of a run's offset and of a point's noise (log
    loss); the seed-mean losses at the smallest and largest compute (the truths' anchors)."""

    label: str
    params: tuple
    tokens: tuple
    compute: tuple
    seeds: int
    sd_run: float
    sd_point: float
    anchors: tuple

    @property
    def C(self) -> np.ndarray:
        return np.asarray(self.compute, float)

    @property
    def N(self) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.params, float)[:, None], self.C.shape)

    @property
    def D(self) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.tokens, float)[None, :], self.C.shape)


#: the demo's design per recipe (`measure_design(scaling.load("runs/demo"), recipe)` on the tuned demo:
#: 108 runs of 3 recipes x 4 widths x 3 learning rates x 3 seeds, at each configuration and point the
#: best-lr rows the report fits; rounded to 4 significant digits)
DESIGNS = {
    "baseline": Design("demo baseline", (17472, 28832, 43392, 86976),
                   (75184, 149860, 299720, 599948),
                  ((5.268e+09, 1.05e+10, 2.1e+10, 4.204e+10),
                   (9.506e+09, 1.895e+10, 3.79e+10, 7.586e+10),
                   (1.516e+10, 3.022e+10, 6.045e+10, 1.21e+11),
                   (3.194e+10, 6.367e+10, 1.273e+11, 2.549e+11)),
                  3, 0.004224, 0.01314, (1.088, 0.7956)),
    "early": Design("demo early", (13360, 24648, 39008, 76944),
                   (75184, 149860, 299720, 599948),
                  ((4.221e+09, 8.413e+09, 1.683e+10, 3.368e+10),
                   (8.41e+09, 1.676e+10, 3.352e+10, 6.711e+10),
                   (1.398e+10, 2.787e+10, 5.575e+10, 1.116e+11),
                   (2.929e+10, 5.838e+10, 1.168e+11, 2.337e+11)),
                  3, 0.005558, 0.006264, (0.9931, 0.7786)),
    "blind": Design("demo blind", (12032, 22656, 36352, 72960),
                   (32560, 64900, 129800, 259820),
                  ((1.798e+09, 3.584e+09, 7.168e+09, 1.435e+10),
                   (3.597e+09, 7.171e+09, 1.434e+10, 2.871e+10),
                   (5.997e+09, 1.195e+10, 2.391e+10, 4.785e+10),
                   (1.26e+10, 2.511e+10, 5.021e+10, 1.005e+11)),
                  3, 0.003243, 0.003643, (1.258, 1.117)),
}


def measure_design(df: pd.DataFrame, recipe: str, y: str = Y) -> Design:
    """The design of one recipe of a pretraining sweep's records (finished points; every width
    evaluated at the same steps by the same seeds)."""
    d = df[(df["recipe"].astype(str) == recipe) & (df["point"].astype(str) == "finished")]
    if d.empty:
        raise ConfigError(f"recipe {recipe!r}: no finished points")
    if lr_optimum.LR in d.columns and d[lr_optimum.LR].nunique() > 1:  # a tuned sweep: what the forecast fits
        d = lr_optimum.best_lr_rows(d, lr_optimum.lr_optimum(d, y, n_boot=100))
    widths = sorted(d["params/total"].unique())
    steps = sorted(d["step"].unique())
    tables, C = [], []
    for n in widths:
        g = d[d["params/total"] == n]
        tables.append(np.log(g.pivot_table(index="seed", columns="step", values=y).to_numpy(float)))
        C.append(tuple(g.groupby("step")["compute/flops"].mean().reindex(steps).to_numpy(float)))
    tokens = d.groupby("step")["tokens/total"].mean().reindex(steps).to_numpy(float)
    sd_run, sd_point, _ = measure_noise(np.stack(tables))
    means = np.exp(np.stack([t.mean(axis=0) for t in tables]))
    Cm = np.asarray(C)
    anchors = (float(means.flat[np.argmin(Cm)]), float(means.flat[np.argmax(Cm)]))
    return Design(f"{recipe}", tuple(float(n) for n in widths), tuple(tokens), tuple(C), tables[0].shape[0],
                  sd_run, sd_point, anchors)


@dataclass(frozen=True)
class Truth:
    """A planted loss surface: fn(design) -> (W, B) expected losses at the design's points."""

    name: str
    fn: Callable
    shape: str


def _ends(des: Design):
    """(smallest compute, largest compute, reducible loss at each, its power-law exponent)."""
    c0, c1 = des.C.min(), des.C.max()
    r0, r1 = des.anchors[0] - FLOOR, des.anchors[1] - FLOOR
    return c0, c1, r0, r1, np.log(r0 / r1) / np.log(c1 / c0)


def well(des: Design) -> np.ndarray:
    """L = floor + A C^-alpha through both anchors: the fitted form."""
    c0, _, r0, _, a = _ends(des)
    return FLOOR + r0 * (des.C / c0) ** -a


def two_terms(des: Design) -> np.ndarray:
    """Two power-law terms, exponents 2 alpha and alpha / 2, through both anchors."""
    c0, c1, r0, r1, a = _ends(des)
    M = np.array([[1.0, 1.0], [(c1 / c0) ** (-2 * a), (c1 / c0) ** (-a / 2)]])
    w = np.linalg.solve(M, [r0, r1])
    x = des.C / c0
    return FLOOR + w[0] * x ** (-2 * a) + w[1] * x ** (-a / 2)


def _fitted_max(des: Design) -> float:
    return float(des.C[:-1].max())  # the largest compute of the fitted widths


def broken(des: Design) -> np.ndarray:
    """The well truth's exponent up to a break at the second-largest fitted width's final compute,
    a third of it beyond (returns diminish; the fit sees the break's first points)."""
    c0, _, r0, _, a = _ends(des)
    cb = float(des.C[-3, -1])
    x = des.C / c0
    xb = cb / c0
    return FLOOR + r0 * np.where(x <= xb, x ** -a, xb ** -a * (x / xb) ** (-a / 3))


LR_SHARE = 0.02  # the largest run's loss excess from the untuned learning rate (the demo missed by 3-4%)


def lr_penalty(des: Design) -> np.ndarray:
    """The well truth plus k (log(lr / lr*))^2 with log(lr / lr*) = 0.5 log(N / N_0) + 0.25 log(D / D_0):
    one learning rate tuned at the smallest run, while the optimum falls with width and horizon;
    k makes the largest run pay :data:`LR_SHARE` of its loss."""
    base = well(des)
    mis = 0.5 * np.log(des.N / des.N.min()) + 0.25 * np.log(des.D / des.D.min())
    k = LR_SHARE * base[-1, -1] / mis[-1, -1] ** 2
    return base + k * mis ** 2


TRUTHS = {t.name: t for t in (
    Truth("well", well, "the fitted form: floor + A C^-alpha"),
    Truth("two_terms", two_terms, "a second power-law term (exponents 2 alpha and alpha/2)"),
    Truth("broken", broken, "exponent falls to a third beyond a break inside the fitted range"),
    Truth("lr_penalty", lr_penalty, f"untuned learning rate: +{LR_SHARE:.0%} loss at the largest run, "
                                    f"quadratic in log(lr/lr*)"),
)}


def draw(des: Design, truth: Truth, rng: np.random.Generator) -> pd.DataFrame:
    """One synthetic ladder: every (width, seed) run with its finished points, as records."""
    L = truth.fn(des)
    rows = []
    for w in range(des.C.shape[0]):
        for s in range(des.seeds):
            off = rng.normal(0.0, des.sd_run)
            y = L[w] * np.exp(off + rng.normal(0.0, des.sd_point, des.C.shape[1]))
            for b in range(des.C.shape[1]):
                rows.append((f"w{w}s{s}", f"w{w}", s, "finished", des.C[w, b], des.N[w, b], des.D[w, b], y[b]))
    return pd.DataFrame(rows, columns=["run_id", "config_id", "seed", "point", "compute/flops", "params/total",
                                       "tokens/total", Y])


@dataclass(frozen=True)
class Outcome:
    """One draw: target computes, truth there, point forecast and intervals, held-out runs' losses."""

    truth: np.ndarray
    value: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    fit_lo: np.ndarray
    fit_hi: np.ndarray
    runs: np.ndarray  # (T, seeds) held-out runs' losses at the targets
    warned: bool
    statistic: float
    wide_lo: np.ndarray
    wide_hi: np.ndarray


def forecast_draw(des: Design, truth: Truth, rng: np.random.Generator, n_boot: int = N_BOOT) -> Outcome:
    """Fit all widths but the largest, forecast the largest where it extends the frontier."""
    from scaling.fit.diagnose import diagnose, widen
    from scaling.fit.predict import predict

    df = draw(des, truth, rng)
    top = f"w{des.C.shape[0] - 1}"
    held_in, held_out = df[df["config_id"] != top], df[df["config_id"] == top]
    targets = des.C[-1][des.C[-1] > _fitted_max(des)]
    seed = int(rng.integers(2 ** 31))
    preds = predict(held_in, "power", [{"compute": c} for c in targets], y=Y, run_col="run_id",
                    level=LEVEL, n_boot=n_boot, seed=seed)
    diag = diagnose(held_in, "power", y=Y, run_col="run_id", n_boot=min(n_boot, N_BOOT_DIAGNOSE), seed=seed)
    wide = [widen(p, diag) for p in preds]
    runs = np.stack([held_out[held_out["compute/flops"] == c].sort_values("seed")[Y].to_numpy() for c in targets])
    col = lambda k, ps=preds: np.array([getattr(p, k) for p in ps])  # noqa: E731
    return Outcome(truth.fn(des)[-1][des.C[-1] > _fitted_max(des)], col("value"), col("lo"), col("hi"),
                   col("fit_lo"), col("fit_hi"), runs, diag.warning is not None, diag.statistic,
                   np.array([w[0] for w in wide]), np.array([w[1] for w in wide]))


@dataclass(frozen=True)
class Row:
    """A calibration line: ``n`` draws of ``truth`` on ``design``."""

    design: str
    truth: str
    n: int
    coverage: float  # share of held-out runs' losses inside the 90% prediction interval
    fit_coverage: float  # share of targets whose noise-free truth is inside the law's own interval
    wide_coverage: float  # the prediction interval with the diagnostic's misspecification term
    median_err: float  # median |relative error| of the point forecast at the top point (vs truth)
    p90_err: float
    width: float  # median relative width of the prediction interval at the top point
    wide_width: float  # the same of the widened interval
    warn_rate: float  # share of draws where the diagnostic warned
    failed: int = 0  # draws whose fit refused (counted, never dropped silently)
    note: str = ""
    extra: dict = field(default_factory=dict)


def summarize(des: Design, truth: Truth, outs: list, failed: int, note: str = "") -> Row:
    inside = np.concatenate([((o.runs >= o.lo[:, None]) & (o.runs <= o.hi[:, None])).ravel() for o in outs])
    wide = np.concatenate([((o.runs >= o.wide_lo[:, None]) & (o.runs <= o.wide_hi[:, None])).ravel()
                           for o in outs])
    fit_in = np.concatenate([(o.truth >= o.fit_lo) & (o.truth <= o.fit_hi) for o in outs])
    err = np.array([abs(o.value[-1] - o.truth[-1]) / o.truth[-1] for o in outs])
    width = np.array([(o.hi[-1] - o.lo[-1]) / o.value[-1] for o in outs])
    wide_width = np.array([(o.wide_hi[-1] - o.wide_lo[-1]) / o.value[-1] for o in outs])
    return Row(des.label, truth.name, len(outs), float(inside.mean()), float(fit_in.mean()), float(wide.mean()),
               float(np.median(err)), float(np.quantile(err, 0.9)), float(np.median(width)), float(np.median(wide_width)),
               float(np.mean([o.warned for o in outs])), failed, note or truth.shape)


def calibrate(draws: int, seed: int = 0, n_boot: int = N_BOOT, recipe: str = "baseline", only=None) -> list[Row]:
    """Rows per truth over ``draws`` ladders on the demo design of ``recipe``; ``only``: truth names."""
    if recipe not in DESIGNS:
        raise ConfigError(f"calibration forecast: no design {recipe!r} (designs: {', '.join(DESIGNS)})")
    des = DESIGNS[recipe]
    rows = []
    for j, truth in enumerate(TRUTHS.values()):
        if only is not None and truth.name not in only:
            continue
        rng = np.random.default_rng([seed, j])
        outs, failed = [], 0
        while len(outs) < draws and failed <= draws:  # refused fits are counted in the row
            try:
                outs.append(forecast_draw(des, truth, rng, n_boot))
            except ScalingError:
                failed += 1
        rows.append(summarize(des, truth, outs, failed))
    return rows


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def table(rows: list[Row]) -> str:
    """Fixed-width text: per truth, coverage of the 90% intervals, errors, width, warnings."""
    head = ("design", "truth", "n", "PI cover", "law cover", "widened cover", "med |err|", "p90 |err|",
            "PI width", "widened width", "warns", "refused")
    lines = [head] + [(r.design, r.truth, str(r.n), _pct(r.coverage), _pct(r.fit_coverage), _pct(r.wide_coverage),
                       _pct(r.median_err), _pct(r.p90_err), _pct(r.width), _pct(r.wide_width), _pct(r.warn_rate),
                       str(r.failed))
                      for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines]
    return "\n".join(out + [f"{r.truth}: {r.note}" for r in rows] + [
        f"PI cover: held-out runs' losses inside the {LEVEL:.0%} prediction interval (law + seed spread); law cover: "
        f"the noise-free truth inside the law's own {LEVEL:.0%} interval; widened: the prediction interval with the "
        f"diagnostic's misspecification term (scaling.fit.diagnose.widen); |err|: point forecast at the top point "
        f"vs the truth; PI width: (hi - lo) / forecast there; warns: scaling.fit.diagnose.diagnose on the fitted "
        f"widths; {N_BOOT} resamples per forecast, {N_BOOT_DIAGNOSE} per backtest"])
