"""Compute-loss frontier: the lower envelope of (compute, loss) per recipe."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scaling.errors import DataError
from scaling.fit import lr_optimum
from scaling.fit.io import check_values, resolve_column


def envelope_index(compute, loss) -> np.ndarray:
    """Indices of the points on the lower envelope, in order of compute: a point is kept when its
    loss is strictly below the loss of every point with less (or equal, and listed earlier) compute."""
    compute, loss = np.asarray(compute, float), np.asarray(loss, float)
    order = np.lexsort((loss, compute))
    ordered = loss[order]
    before = np.concatenate([[np.inf], np.minimum.accumulate(ordered)[:-1]])
    return order[ordered < before]


def frontier(df: pd.DataFrame, *, compute: str | None = None, loss: str | None = None,
             recipe: str | None = "recipe", run: str | None = "run_id", final_only: bool = False,
             best_lr: bool = False, size: str = "params/total", budget: str | None = None,
             ) -> pd.DataFrame:
    """Rows of ``df`` on the lower envelope of loss against compute, per recipe.

    A row is on the frontier when its loss is strictly below the loss of every row of the same
    recipe with less or equal compute. Options: ``final_only`` keeps only the last evaluation
    (largest compute) of each run; ``best_lr`` keeps, per (recipe, size, budget), only the run
    with the lowest final loss (budget: a column, else each run's final compute). Returns the
    frontier rows sorted by recipe and compute. Columns are named in the FitError on misuse.
    """
    compute = resolve_column(df, "compute", compute)
    loss = resolve_column(df, "loss", loss)
    check_values(compute, df[compute], positive=True, labels=df.index)
    check_values(loss, df[loss], labels=df.index)
    d = df.copy()
    rec = recipe if recipe is not None and recipe in d.columns else None
    if rec is None:
        d["_recipe"] = "all"
        rec = "_recipe"
    if final_only or best_lr:
        runcol = resolve_column(d, "group", run)
        last = d.loc[d.groupby(runcol)[compute].idxmax()]
        if best_lr:
            size = resolve_column(last, "params", size)
            bud = budget if budget is not None else compute
            last = last.loc[last.groupby([rec, size, bud])[loss].idxmin()]
            keep_runs = set(last[runcol])
            d = d[d[runcol].isin(keep_runs)]
        if final_only:
            d = last
    out = []
    for _, g in d.groupby(rec, sort=True):
        out.append(g.iloc[envelope_index(g[compute], g[loss])])
    res = pd.concat(out)
    return res.drop(columns=["_recipe"], errors="ignore")


def lr_edge_warnings(df, recipe, y, recipe_col="recipe", run_col="run_id", lr="optim.lr",
                     x="compute/flops") -> list[str]:
    """A warning when a cell's best learning rate tried (lowest seed-averaged loss at its largest
    finished point) is the first or last of its grid (:mod:`scaling.fit.lr_optimum`)."""
    if lr not in df.columns or run_col not in df.columns or x not in df.columns:
        return []
    d = df[df[recipe_col].astype(str) == recipe]
    try:
        st = lr_optimum.study(d, y, lr=lr, x=x, recipe=recipe_col, run=run_col)
    except DataError as err:
        return [f"{recipe}: the learning-rate grid was not checked ({err})"]
    return [] if st is None else lr_optimum.edge_warnings(lr_optimum.edge_rows(st))
