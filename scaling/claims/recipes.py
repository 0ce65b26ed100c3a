"""A recipe's finished points by configuration and seed, and its frontier: the data both the
multiplier claim (`scaling.claims.multiplier`) and its power-law fits (`scaling.claims.powerfits`)
work on. It sits below both so that neither has to import the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scaling.claims import options
from scaling.errors import DataError, FitError
from scaling.fit import resample
from scaling.fit.frontier import envelope_index
from scaling.fit.io import check_values, seed_labels

#: fewest configurations per recipe: n units give C(2n-1, n) distinct resamples; 5 give 126, the
#: fewest for which a 2.5th percentile is not one of a handful of possible values
MIN_UNITS = 5
PAIR_ON = ("model.width", "optim.lr", "train.tokens")


@dataclass(frozen=True)
class RecipeData:
    """Finished points of one recipe by configuration: per configuration a compute grid (n_j,)
    and a (seeds, n_j) loss matrix; ``keys`` label configurations (shared-grid keys when paired)."""

    name: str
    compute: list
    loss: list
    keys: list
    runs: int
    mid: tuple = (np.zeros(0), np.zeros(0))
    floor: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "_full", [L.mean(axis=0) for L in self.loss])

    def mean(self, j: int, w=None) -> np.ndarray:
        """Seed-averaged losses of configuration j (seed weights ``w``; None: all seeds once).

        A resampled mean of s seeds varies (s-1)/s times as much as the mean itself, so its
        departure from the full mean is scaled by sqrt(s/(s-1)) (in log loss) to make the
        bootstrap variance unbiased."""
        L = self.loss[j]
        full = self._full[j]
        if w is None:
            return full
        mean = w @ L / w.sum()
        s = L.shape[0]
        return full * np.exp(np.sqrt(s / (s - 1)) * (np.log(mean) - np.log(full))) if s > 1 else mean

    def curves(self, seed_w=None):
        """(compute, seed-averaged loss) of every configuration drawn (weights ``seed_w`` per config)."""
        if seed_w is None:
            return [(c, self.mean(j)) for j, c in enumerate(self.compute)]
        return [(c, self.mean(j, seed_w[j])) for j, c in enumerate(self.compute) if seed_w[j].sum() > 0]

    def points(self, seed_w=None):
        cs = self.curves(seed_w)
        return np.concatenate([c for c, _ in cs]), np.concatenate([l for _, l in cs])


def _check_rows(d: pd.DataFrame, cols) -> None:
    """The rule of `fit` too: any NaN, infinite, zero or negative value is an error naming the row."""
    for col in cols:
        try:
            check_values(col, pd.to_numeric(d[col], errors="coerce"), positive=True, labels=d.index)
        except FitError as err:
            raise DataError(str(err)) from None


def recipe_data(df: pd.DataFrame, recipe: str, x: str, y: str, run_col: str = "run_id",
                recipe_col: str = "recipe", trim: float = 0.0, include_mid: bool = False,
                pair_on=None, seed_col: str | None = None, for_interval: bool = True) -> RecipeData:
    """Points of ``recipe`` grouped by configuration (``config_id``; else each run) and seed.

    ``seed_col`` (``--seed-col``): the seeds are that column's values, within configurations
    given by ``config_id`` (else the run column); it must hold at least two values in the recipe.

    Rows with ``point == "mid"`` are left out unless ``include_mid``; ``trim`` drops each run's
    points below trim x its largest compute. NaN, infinite, zero or negative compute or loss is an
    error naming the column and row (never dropped silently).
    """
    if len(df) == 0:
        raise DataError("the table has no rows")
    for col in (x, y, recipe_col):
        if col not in df.columns:
            raise DataError(f"column {col!r} not found (columns: {', '.join(map(str, df.columns))})")
    options.trim(trim)
    present = sorted(map(str, df[recipe_col].dropna().unique()))
    if recipe not in present:
        raise DataError(f"recipe {recipe!r} not found (present: {', '.join(present)})")
    sub = df[df[recipe_col].astype(str) == recipe]
    _check_rows(sub, (x, y))
    if run_col not in sub.columns:  # each row its own run (e.g. a CSV of final points)
        sub = sub.assign(**{run_col: np.arange(len(sub))})
    mid = np.zeros(len(sub), bool)
    if "point" in sub.columns:
        mid = (sub["point"].astype(str) == "mid").to_numpy()
    mids = (sub.loc[mid, x].to_numpy(float), sub.loc[mid, y].to_numpy(float))
    if not include_mid:
        sub = sub[~mid]
    cfg_col = "config_id" if "config_id" in sub.columns else run_col
    if seed_col is not None:
        seed_labels(sub, seed_col, f"the finished rows of recipe {recipe!r}")
    pair_cols = [c for c in (PAIR_ON if pair_on is None else pair_on) if c in sub.columns]
    by_cfg: dict = {}
    for (cfg, run), g in sub.groupby([cfg_col, seed_col or run_col], sort=True):
        c, l = g[x].to_numpy(float), g[y].to_numpy(float)
        keep = c >= trim * c.max()
        key = "|".join(str(g[p].iloc[0]) for p in pair_cols) if pair_cols else str(cfg)
        by_cfg.setdefault(str(cfg), (key, []))[1].append((c[keep], l[keep]))
    compute, loss, keys = [], [], []
    for cfg, (key, seeds) in by_cfg.items():
        grids = [np.sort(c) for c, _ in seeds]
        if all(g.shape == grids[0].shape and np.allclose(g, grids[0], rtol=1e-9) for g in grids):
            compute.append(grids[0])
            loss.append(np.stack([l[np.argsort(c)] for c, l in seeds]))
            keys.append(key)
        else:  # seeds evaluated at different compute: each seed its own configuration
            for i, (c, l) in enumerate(seeds):
                compute.append(c[np.argsort(c)])
                loss.append(l[np.argsort(c)][None, :])
                keys.append(f"{key}#{i}")
    n_runs = sum(L.shape[0] for L in loss)
    seeds = [L.shape[0] for L in loss]
    # Distinct resamples of the scheme that will be used: seeds within a fixed grid when every
    # configuration has >= 2 of them, else whole configurations. An interval needs as many as
    # MIN_UNITS configurations give (126).
    stratified = bool(seeds) and min(seeds) >= 2
    distinct = (int(np.prod([resample.n_distinct(k) for k in seeds], dtype=float)) if stratified
                else resample.n_distinct(max(len(compute), 1)))
    if for_interval and distinct < resample.n_distinct(MIN_UNITS):  # a pilot for planning needs none
        raise DataError(
            f"recipe {recipe!r} has {len(compute)} independent configurations ({n_runs} runs) with finished "
            f"{y}: {distinct} distinct resamples; an interval needs at least {resample.n_distinct(MIN_UNITS)} "
            f"({MIN_UNITS} configurations of one run, or 3 seeds in each of 3)")
    floor = None
    fcol = y.replace("eval/loss/", "data/entropy_floor/")
    if fcol != y and fcol in sub.columns:
        floor = float(pd.to_numeric(sub[fcol], errors="coerce").median())
    return RecipeData(recipe, compute, loss, keys, n_runs, mids, floor)


def seed_weights(rd: RecipeData, counts_runs: np.ndarray) -> list:
    """Split a (n_runs,) count vector (runs ordered configuration by configuration) per config."""
    out, i = [], 0
    for L in rd.loss:
        out.append(counts_runs[i: i + L.shape[0]])
        i += L.shape[0]
    return out


def envelope(rd: RecipeData, seed_w=None) -> tuple[np.ndarray, np.ndarray]:
    """The frontier (lower envelope) of the recipe's seed-averaged points (seed weights ``seed_w``)."""
    c, l = rd.points(seed_w)
    keep = envelope_index(c, l)
    return c[keep], l[keep]
