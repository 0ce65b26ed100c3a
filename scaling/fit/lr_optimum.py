"""The best learning rate of each configuration, and how it moves with size and tokens.

A *cell* is a configuration minus its learning rate and seed: the recipe and every config column
(``section.key``) but the learning rate's. At each finished point of a cell (runs matched by
``step``: the same horizon or cooldown branch), the seed-averaged loss is fitted by a quadratic in
u = log(lr) over the learning rates tried; its vertex is the fitted optimum lr* and the quadratic
there the loss at it. With fewer than three learning rates, or a fit that is not a bowl, or a
vertex outside the grid, the optimum is the best learning rate tried. When the best learning
rate tried sits at the grid's edge the optimum may lie beyond it: that is flagged (``edge``).

Then log lr* = log c + a·log N + b·log D (N: parameters, D: tokens of the point) is fitted per
recipe by least squares over the interior optima (edge ones are left out: their optimum is only
bounded). Intervals come from one resample of seeds (``scaling.fit.resample``: the grid of cells
kept, each cell's seeds drawn with replacement; one draw weighs a seed's runs at every learning
rate and every point alike, so the points of a run and the runs of one seed stay together); each
draw re-fits every quadratic and the log-linear law. A transfer check (``transfer_check``) asks
whether the optimum is flat in width: exponent a's interval contains 0.

Which rows enter a frontier (``best_lr_rows``): at each (cell, point), the real runs at the
learning rate tried closest (in log) to the fitted optimum, all their seeds intact as replicates.
The choice is made once on all seeds; ``stable`` says in what share of the resamples it is the
same, since the frontier's intervals are conditional on it. With one learning rate per cell
nothing changes (the table is returned as it is).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scaling.errors import DataError, FitError
from scaling.fit import resample
from scaling.fit.io import check_values

LR = "optim.lr"
#: fewest cells whose resampling gives an interval when cells have one seed each (as the claims' MIN_UNITS)
MIN_CELLS = 5
TEST = ("95% percentile intervals over resamples of seeds within each configuration (learning rates, "
        "points and cells of one seed drawn together); every draw refits the quadratics in log(lr) "
        "and the log-linear law; a configuration's optimum and loss are widened by t(seeds-1)/z")


@dataclass(frozen=True)
class Cell:
    """One cell at one finished point: learning rates tried (K,), losses (seeds S, K; NaN where a
    seed lacks a learning rate), run ids (S, K), and the point's size, tokens and compute."""

    recipe: str
    cell: str
    point: float
    params: float
    tokens: float
    compute: float
    lrs: np.ndarray
    loss: np.ndarray
    runs: np.ndarray
    index: int  # the cell's index into the study's units (its seeds are the resampled items)
    name: str  # for people: "model.width 32", else "params/total 1.2e+06", else the cell's key


@dataclass(frozen=True)
class Study:
    """A sweep's cells at their finished points (``slices``), the seeds to resample, and the
    column names it was read with."""

    slices: list
    units: resample.Units  # items: (cell, seed) pairs; configurations: cells
    columns: dict


def cell_columns(df: pd.DataFrame, lr: str = LR, recipe: str = "recipe") -> list:
    """The columns that name a cell: the recipe and every config column (``a.b``) but ``lr``."""
    return [c for c in df.columns if c == recipe or ("." in str(c) and c != lr)]


def study(df: pd.DataFrame, y: str, *, lr: str = LR, x: str = "compute/flops", recipe: str = "recipe",
          run: str = "run_id", seed: str = "seed", params: str = "params/total", tokens: str = "tokens/total",
          point: str = "step", cells=None) -> Study | None:
    """The finished points of ``df`` grouped into cells, points, seeds and learning rates; None
    when no cell has more than one learning rate (the sweep tuned nothing)."""
    for col in (y, lr, x, recipe, run):
        if col not in df.columns:
            raise DataError(f"column {col!r} not found (columns: {', '.join(map(str, df.columns))})")
    d = df[df["point"].astype(str) != "mid"] if "point" in df.columns else df
    if d.empty:
        raise DataError("no finished points to fit a learning-rate optimum to")
    for col in (y, lr, x):
        try:
            check_values(col, pd.to_numeric(d[col], errors="coerce"), positive=True, labels=d.index)
        except FitError as err:
            raise DataError(str(err)) from None
    cols = list(cells) if cells is not None else cell_columns(d, lr, recipe)
    label = d[cols].astype(str).agg("|".join, axis=1)
    if d[lr].groupby(label).nunique().max() <= 1:
        return None
    pt = point if point in d.columns else x
    sd = seed if seed in d.columns else run
    dup = d.assign(_cell=label).duplicated(["_cell", lr, sd, pt])
    if dup.any():
        i = d.index[int(np.flatnonzero(dup.to_numpy())[0])]
        raise DataError(f"row {i}: a second run of one seed at one learning rate and point of its cell "
                        f"(cell columns: {', '.join(cols)}); give each replicate its own {sd!r}")
    cell_keys, cell_of = np.unique(label.to_numpy(str), return_inverse=True)
    seed_of = d[sd].astype(str).to_numpy()
    lr_of, pt_of = d[lr].to_numpy(float), d[pt].to_numpy(float)
    y_of, run_of, x_of = d[y].to_numpy(float), d[run].astype(str).to_numpy(), d[x].to_numpy(float)
    items, slices = [], []
    for ci, key in enumerate(cell_keys):
        rows = np.flatnonzero(cell_of == ci)
        seeds, seed_i = np.unique(seed_of[rows], return_inverse=True)
        items += [ci] * seeds.size
        first = d.iloc[rows[:1]]
        for p in np.unique(pt_of[rows]):
            at = pt_of[rows] == p
            r = rows[at]
            lrs = np.unique(lr_of[r])
            loss = np.full((seeds.size, lrs.size), np.nan)
            runs = np.full((seeds.size, lrs.size), "", dtype=object)
            k = np.searchsorted(lrs, lr_of[r])
            loss[seed_i[at], k], runs[seed_i[at], k] = y_of[r], run_of[r]
            slices.append(Cell(str(first[recipe].iloc[0]), str(key), float(p), _first(d.iloc[r[:1]], params),
                               _first(d.iloc[r[:1]], tokens), float(np.median(x_of[r])), lrs, loss, runs, ci,
                               _name(first, str(key), params)))
    units = resample.units(np.array(items), keys=range(len(cell_keys)))
    return Study(slices, units, {"lr": lr, "y": y, "seed": sd, "point": pt, "cells": cols, "run": run})


def _name(g: pd.DataFrame, key: str, params: str) -> str:
    for col in ("model.width", params):
        if col in g.columns:
            return f"{col} {float(g[col].iloc[0]):.4g}"
    return key


def _first(g: pd.DataFrame, col: str) -> float:
    return float(g[col].iloc[0]) if col in g.columns else float("nan")


def optima(u, L) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Optimum of loss against u = log(lr), per row of L (B, K) over the K learning rates ``u``.

    Returns (u*, loss at u*, edge): a least-squares quadratic's vertex and value where the fit is
    a bowl whose vertex lies inside the grid (K >= 3), else the best learning rate tried and its
    loss; edge: the best learning rate tried is the grid's first or last (K >= 2)."""
    u = np.asarray(u, float)
    L = np.atleast_2d(np.asarray(L, float))
    B, K = L.shape
    filled = np.where(np.isfinite(L), L, np.inf)
    best = np.argmin(filled, axis=1)
    u_best, L_best = u[best], L[np.arange(B), best]
    edge = ((best == 0) | (best == K - 1)) if K >= 2 else np.zeros(B, bool)
    if K < 3:
        return u_best, L_best, edge
    centre = u.mean()
    v = u - centre  # centred: a well-conditioned design
    X = np.stack([np.ones(K), v, v**2], axis=1)
    coef = np.full((B, 3), np.nan)
    full = np.isfinite(L).all(axis=1)
    coef[full] = L[full] @ np.linalg.pinv(X).T
    for i in np.flatnonzero(~full):  # a draw without some learning rate: fit what it has
        ok = np.isfinite(L[i])
        if ok.sum() >= 3:
            coef[i] = np.linalg.lstsq(X[ok], L[i, ok], rcond=None)[0]
    a, b, c = coef.T
    with np.errstate(all="ignore"):
        vs = -b / (2 * c)
        inside = (c > 0) & (vs >= v.min()) & (vs <= v.max())
        at = a + b * vs + c * vs**2
    return np.where(inside, vs + centre, u_best), np.where(inside, at, L_best), edge


def _means(s: Cell, w=None) -> np.ndarray:
    """Seed-averaged losses per learning rate: (K,) or, with seed weights w (B, S), (B, K).

    As in ``RecipeData.mean``, a resampled mean's departure from the full mean is stretched by
    sqrt(S/(S-1)) so that the bootstrap variance of a mean of S seeds is unbiased."""
    ok = np.isfinite(s.loss)
    L0 = np.where(ok, s.loss, 0.0)
    with np.errstate(all="ignore"):
        full = L0.sum(0) / ok.sum(0)
        if w is None:
            return full
        m = (w @ L0) / (w @ ok.astype(float))
    n = ok.sum(0)
    scale = np.where(n > 1, np.sqrt(n / np.maximum(n - 1, 1)), 1.0)
    return full + scale * (m - full)


def _weights(st: Study, counts: np.ndarray, s: Cell) -> np.ndarray:
    return counts[:, st.units.members[s.index]]


def lr_optimum(df: pd.DataFrame, y: str, *, n_boot: int = 1000, seed: int = 0, **columns) -> dict | None:
    """Per (cell, point) the fitted optimum learning rate and the loss at it, with 95% intervals;
    per recipe the fit lr* = c·N^a·D^b; edge warnings. None when no cell tried two learning rates.

    Returns {"cells": [row per (cell, point)], "fits": {recipe: fit}, "warnings": [...],
    "resampled": what a resample draws, "test": the intervals' test}. A row: recipe, cell, name,
    point, params, tokens, compute, lrs, mean_loss (seed means per lr), lr_opt (+ lr_lo, lr_hi),
    loss_opt (+ loss_lo, loss_hi), edge, lr_chosen (the learning rate tried nearest the optimum),
    stable (share of resamples choosing it), runs_chosen. ``columns``: names for :func:`study` (lr, x, recipe, run, seed, params, ...).
    """
    st = study(df, y, **columns)
    if st is None:
        return None
    n_boot = resample.check_resamples(n_boot)
    counts = resample.draw(st.units, n_boot, np.random.default_rng(seed))
    rows, u_draws = [], []
    for s in st.slices:
        u = np.log(s.lrs)
        us, ls, edge = optima(u, _means(s)[None])
        w = _weights(st, counts, s)
        ub, lb, _ = optima(u, _means(s, w))
        present = w.sum(1) > 0  # a draw that left the whole cell out (only without seeds)
        ub, lb = np.where(present, ub, np.nan), np.where(present, lb, np.nan)
        u_draws.append(ub)
        chosen = int(np.argmin(np.abs(u - us[0])))
        picks = np.argmin(np.abs(u[None, :] - ub[:, None]), axis=1)
        # few seeds: their spread is itself uncertain, so t over z about the median draw
        n_seeds = int(np.isfinite(s.loss).any(1).sum())
        if n_seeds >= 2:  # few seeds: their spread is itself uncertain, so t over z about the median draw
            t = resample.small_sample_factor(n_seeds - 1)
            med_u, med_l = np.nanmedian(ub), np.nanmedian(lb)
            lr_lo, lr_hi = np.exp(resample.widen_about(*resample.interval(ub), med_u, t))
            l_lo, l_hi = resample.widen_about(*resample.interval(lb), med_l, t)
        else:  # one seed: no replicate spread, no interval
            lr_lo = lr_hi = l_lo = l_hi = np.nan
        rows.append({"recipe": s.recipe, "cell": s.cell, "name": s.name, "point": s.point, "params": s.params,
                     "tokens": s.tokens, "compute": s.compute, "lrs": [float(v) for v in s.lrs],
                     "mean_loss": [float(v) for v in _means(s)],
                     "lr_opt": float(np.exp(us[0])), "lr_lo": float(lr_lo), "lr_hi": float(lr_hi),
                     "loss_opt": float(ls[0]), "loss_lo": float(l_lo), "loss_hi": float(l_hi),
                     "edge": bool(edge[0] and s.lrs.size >= 2), "lr_chosen": float(s.lrs[chosen]),
                     "stable": float(np.mean(picks[present] == chosen)) if n_seeds >= 2 else float("nan"),
                     "runs_chosen": [r for r in s.runs[:, chosen] if r]})
    U = np.stack(u_draws, axis=1)  # (B, slices)
    fits = {}
    for rec in sorted({r["recipe"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["recipe"] == rec]
        try:
            fits[rec] = fit_law(rows, U, idx, st, counts)
        except FitError as err:
            fits[rec] = {"error": str(err)}
    return {"cells": rows, "fits": fits, "warnings": edge_warnings(rows), "resampled":
            st.units.describe(), "test": TEST, "columns": st.columns}


def fit_law(rows: list, U: np.ndarray, idx: list, st: Study, counts: np.ndarray) -> dict:
    """log lr* = log c + a·log N + b·log D by least squares over the interior optima ``idx``;
    a term whose column does not vary (or is missing) is left out. Every draw refits with each
    point weighted by its cell's share of the draw (1 in a seed resample)."""
    keep = [i for i in idx if len(rows[i]["lrs"]) >= 2 and not rows[i]["edge"]]
    left_out = len(idx) - len(keep)
    if len(keep) < 3:
        raise FitError(f"{len(keep)} interior learning-rate optima ({left_out} at the grid's edge or untuned): "
                       f"at least 3 are needed to fit lr* against size and tokens")
    terms = [t for t in ("params", "tokens")
             if np.isfinite([rows[i][t] for i in keep]).all() and np.unique([rows[i][t] for i in keep]).size > 1]
    X = np.column_stack([np.ones(len(keep))] + [np.log([rows[i][t] for i in keep]) for t in terms])
    if len(keep) <= X.shape[1] or np.linalg.matrix_rank(X) < X.shape[1]:
        raise FitError(f"{len(keep)} interior learning-rate optima cannot separate "
                       f"{' and '.join(terms) or 'a constant'} (the design is rank-deficient)")
    y = np.log([rows[i]["lr_opt"] for i in keep])
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    seeds = st.units.seeds
    W = np.stack([counts[:, st.units.members[st.slices[i].index]].sum(1) / seeds[st.slices[i].index]
                  for i in keep], axis=1)  # (B, R)
    Y = U[:, keep]
    W = np.where(np.isfinite(Y), W, 0.0)  # a cell the draw left out weighs nothing
    Y = np.where(np.isfinite(Y), Y, 0.0)
    XtWX = np.einsum("br,ri,rj->bij", W, X, X)
    XtWy = np.einsum("br,ri,br->bi", W, X, Y)
    solvable = np.linalg.matrix_rank(XtWX) == X.shape[1]
    B = np.full((U.shape[0], X.shape[1]), np.nan)
    B[solvable] = np.linalg.solve(XtWX[solvable], XtWy[solvable][..., None])[..., 0]
    if not resample.stratified(st.units) and len({st.slices[i].index for i in keep}) < MIN_CELLS:
        solvable[:], n_failed = False, 0  # one seed per cell and too few cells: no interval
    else:
        n_failed = resample.check_failures(solvable, "learning-rate optimum fit")
    names = ["log_c"] + [{"params": "a", "tokens": "b"}[t] for t in terms]
    good = B[solvable] if solvable.any() else np.full((1, len(names)), np.nan)
    out = {"law": "lr* = c" + "".join({"params": "·N^a", "tokens": "·D^b"}[t] for t in terms),
           "terms": terms, "n_points": len(keep), "n_edge_left_out": left_out, "n_failed": n_failed,
           "params": {n: float(v) for n, v in zip(names, beta)},
           "intervals": {n: [float(v) for v in resample.interval(good[:, j])] for j, n in enumerate(names)},
           "range": {t: [float(min(rows[i][t] for i in keep)), float(max(rows[i][t] for i in keep))]
                     for t in terms}, "draws": {n: good[:, j] for j, n in enumerate(names)}}
    out["params"]["c"] = float(np.exp(beta[0]))
    return out


#: how far lr* may move across a ladder's sizes and still count as transferred: half a factor-2 grid
#: step (a drift this small never changes which rate of such a grid is best by more than one step)
TRANSFER_TOLERANCE = 2 ** 0.5


def transfer_check(fit: dict, tolerance: float = TRANSFER_TOLERANCE) -> dict:
    """Does the learning-rate optimum transfer across width? An equivalence test: yes ("flat") when
    the largest change of lr* across the sizes fitted that exponent a's 95% interval allows
    ((N_max/N_min)^max|a|) is at most ``tolerance``. A significance test ("a's interval contains 0")
    would call a wide interval flat and a tiny, well-measured drift not flat, so it is reported
    beside it (``drift``: the interval excludes 0), not decided on."""
    if "a" not in fit.get("params", {}):
        raise FitError("the learning-rate optimum was not fitted against size (one size, or no fit)")
    if not (np.isfinite(tolerance) and tolerance > 1):
        raise FitError(f"transfer tolerance {tolerance}: must be a factor above 1")
    lo, hi = fit["intervals"]["a"]
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise FitError(f"exponent a has no interval (one seed per configuration and fewer than {MIN_CELLS} "
                       f"configurations): transfer cannot be checked")
    n0, n1 = fit["range"]["params"]
    most = (n1 / n0) ** max(abs(lo), abs(hi))
    return {"flat": bool(most <= tolerance), "drift": not bool(lo <= 0 <= hi), "a": fit["params"]["a"],
            "interval": [lo, hi], "max_change": float(most), "tolerance": float(tolerance),
            "test": f"flat when lr* may change at most {tolerance:.3g}x across N {n0:.3g}..{n1:.3g} within the 95% "
                    f"interval of a (lr* ∝ N^a); {TEST}; here up to {most:.3g}x"}


def edge_rows(st: Study) -> list:
    """Per (cell, point) whether the best learning rate tried is the grid's edge (no resampling)."""
    out = []
    for s in st.slices:
        edge = optima(np.log(s.lrs), _means(s)[None])[2][0]
        out.append({"recipe": s.recipe, "cell": s.cell, "name": s.name, "point": s.point, "params": s.params,
                    "lrs": [float(v) for v in s.lrs], "edge": bool(edge)})
    return out


def edge_warnings(rows: list) -> list[str]:
    """One warning per recipe naming the cells whose best learning rate tried, at their largest
    finished point, is the grid's first or last (``rows``: :func:`lr_optimum`'s or :func:`edge_rows`)."""
    last = {}
    for r in rows:
        if len(r["lrs"]) >= 2 and (r["cell"] not in last or r["point"] > last[r["cell"]]["point"]):
            last[r["cell"]] = r
    out = []
    for rec in sorted({r["recipe"] for r in last.values()}):
        hits = [r for r in last.values() if r["recipe"] == rec and r["edge"]]
        if hits:
            where = ", ".join(f"{r['name']} ({r['lrs'][0]:g}..{r['lrs'][-1]:g})"
                              for r in sorted(hits, key=lambda r: (r["params"], r["name"])))
            out.append(f"{rec}: the best learning rate sits at the edge of the grid for {where}; "
                       f"the frontier there may be above the recipe's true one")
    return out


def best_lr_rows(df: pd.DataFrame, result: dict | None) -> pd.DataFrame:
    """The rows a frontier uses: at each (cell, point), the runs at the learning rate tried
    closest to the fitted optimum (``result`` from :func:`lr_optimum`), every seed kept; their
    mid-run rows come from the runs chosen at the cell's largest point. ``df`` itself when
    ``result`` is None (one learning rate per cell)."""
    if result is None:
        return df
    cols = result["columns"]
    pt, run = cols["point"], cols["run"]
    keep_fin, keep_mid, last = set(), set(), {}
    for r in result["cells"]:
        keep_fin |= {(run_id, r["point"]) for run_id in r["runs_chosen"]}
        if r["cell"] not in last or r["point"] > last[r["cell"]]["point"]:
            last[r["cell"]] = r
    for r in last.values():
        keep_mid |= set(r["runs_chosen"])
    mid = (df["point"].astype(str) == "mid").to_numpy() if "point" in df.columns else np.zeros(len(df), bool)
    key = zip(df[run].astype(str), df[pt].astype(float))
    fin = np.array([k in keep_fin for k in key], bool)
    return df[np.where(mid, df[run].astype(str).isin(keep_mid).to_numpy(), fin)]
