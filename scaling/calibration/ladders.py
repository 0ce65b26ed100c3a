"""Forecasting the largest models of public ladders from the rest (`python -m scaling.calibration.ladders`).

Each ladder (:data:`LADDERS`) is read from its folder under `shared/data/external/` (each folder's
SOURCE.md says where it comes from) into one table: a run label, params N, tokens D, compute C
and a loss, and a mask of the held-out runs (its largest models, held out whole). The Chinchilla
law L = E + A/N^alpha + B/D^beta is fitted to the other runs with the shared prediction function
(:func:`scaling.fit.predict.predict`: whole runs resampled; without seeds the spread added for a
new run is the law's residual spread) and forecasts every held-out point; :func:`score` gives
the relative errors (forecast - observed) / observed and the share of observed losses inside the
90% prediction interval, and :func:`scaling.fit.diagnose.diagnose` says whether the fitted
runs already show the form failing (a backtest one size down: these ladders have no seeds).

Ladders:
- porian-rsld: RefinedWeb, tuned AdamW, short warmup, constant learning rate (Porian et al. 2024's
  last step), isoFLOP points interpolated along each size's one run: a run is a size; points with
  fewer tokens than parameters left out (early transients); the two largest sizes held out.
- misfitting-li2025: final checkpoints, the best peak learning rate per (model, tokens); the
  largest model (1B) held out.
- colpret-opt-trajectories: OPT checkpoints (loss: log perplexity), the first 10% of each
  trajectory dropped, OPT-175B held out and scored on its last 30% of checkpoints (the
  Hitchhiker's guide's protocol).
- kyo-chinchilla-llm: Chinchilla's points (each its own run), sizes above 5e9 params held out.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from scaling.errors import DataError, ScalingError

#: the data sets, beside the checkout (as tests/external_data.py finds them)
EXTERNAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "external"
LEVEL = 0.9
N_BOOT = 200
COLUMNS = ("run", "N", "D", "C", "loss")


@dataclass(frozen=True)
class Ladder:
    """A ladder as one table (:data:`COLUMNS`) and the held-out rows: ``held`` (bool per row) marks
    the largest models; ``scored`` (bool per row) the held-out rows that are scored."""

    name: str
    table: pd.DataFrame
    held: np.ndarray
    scored: np.ndarray
    held_words: str


def _frame(run, N, D, C, loss) -> pd.DataFrame:
    return pd.DataFrame({"run": np.asarray(run).astype(str), "N": np.asarray(N, float), "D": np.asarray(D, float),
                         "C": np.asarray(C, float), "loss": np.asarray(loss, float)})


#: porian-rsld's isoFLOP points include a large model's first few tokens (tens of millions for 1e8+
#: parameters, losses of 5-6.5 nats, far above where a law fitted to the rest puts them): below one
#: token per parameter a point is read as warmup transient and left out of fit and score alike
MIN_TOKENS_PER_PARAM = 1.0


def _porian(folder: Path) -> Ladder:
    p = pd.read_csv(folder / "isoflop_points.csv")
    p = p[p["config_id"] == "rw|tuned|short|const|standard|val"]
    p = p[p["D"] >= MIN_TOKENS_PER_PARAM * p["N"]]  # a large model's first tokens: a transient no law describes
    t = _frame(p["N"].map(lambda n: f"N={n:.6g}"), p["N"], p["D"], p["flops"], p["loss"])
    sizes = np.sort(t["N"].unique())
    held = t["N"].to_numpy() >= sizes[-2]
    return Ladder("porian-rsld", t, held, held, f"the 2 largest of {sizes.size} sizes ({sizes[-2]:.3g}, {sizes[-1]:.3g} params)")


def _misfitting(folder: Path) -> Ladder:
    m = pd.read_csv(folder / "scaling_results_last_ckpt_only.csv")
    best = m.loc[m.groupby(["model", "D"])["loss"].idxmin()]  # the best peak learning rate per (model, tokens)
    t = _frame(best["model"] + "|D=" + best["D"].astype(str), best["N"], best["D"], best["C"], best["loss"])
    top = t["N"].to_numpy() == t["N"].max()
    return Ladder("misfitting-li2025", t, top, top, f"the largest model ({t['N'].max():.3g} params; "
                  f"{int(top.sum())} token budgets)")


#: ColPret's tokens per step for OPT by size: 0.5M below 1B params, 1M below 6B, 2M below 10B, ... (SOURCE.md);
#: only N is read here (tokens are given as num_token)
OPT_PARAMS = {"125m": 125e6, "1.3b": 1.3e9, "6.7b": 6.7e9, "13b": 13e9, "30b": 30e9, "175b": 175e9}


def _opt(folder: Path) -> Ladder:
    o = pd.read_csv(folder / "opt_trajectories.csv")
    unknown = sorted(set(o["model_size"]) - set(OPT_PARAMS))
    if unknown:
        raise DataError(f"{folder / 'opt_trajectories.csv'}: model_size {unknown[0]!r} has no parameter count")
    frac = o["steps"] / o.groupby("model_size")["steps"].transform("max")
    o = o[frac > 0.1]  # the first 10% of each trajectory: warmup transients (the guide's protocol)
    frac = frac[frac > 0.1]
    N = o["model_size"].map(OPT_PARAMS)
    t = _frame(o["model_size"], N, 10 ** o["num_token"], 10 ** o["flops"], np.log(o["ppl"]))
    held = (t["N"] == t["N"].max()).to_numpy()
    return Ladder("colpret-opt-trajectories", t, held, held & (frac.to_numpy() >= 0.7),
                  "OPT-175B (scored on its last 30% of checkpoints)")


def _kyo(folder: Path) -> Ladder:
    k = pd.read_csv(folder / "df.csv")
    t = _frame(np.arange(len(k)), k["N"], k["D"], k["C"], k["loss"])
    held = (t["N"] > 5e9).to_numpy()
    return Ladder("kyo-chinchilla-llm", t, held, held, f"the {int(held.sum())} points above 5e9 params")


#: name -> (folder under EXTERNAL, reader)
LADDERS: dict[str, tuple[str, Callable]] = {
    "porian-rsld": ("porian-rsld", _porian),
    "misfitting-li2025": ("misfitting-li2025", _misfitting),
    "colpret-opt-trajectories": ("colpret-opt-trajectories", _opt),
    "kyo-chinchilla-llm": ("kyo-chinchilla-llm", _kyo),
}


def load(name: str, root: Path | str = EXTERNAL) -> Ladder:
    """Ladder ``name`` read from ``root``; DataError naming the folder when it is absent."""
    if name not in LADDERS:
        raise DataError(f"no ladder {name!r} (ladders: {', '.join(LADDERS)})")
    folder, reader = LADDERS[name]
    path = Path(root) / folder
    if not path.is_dir():
        raise DataError(f"ladder {name}: folder {path} is absent")
    return reader(path)


def score(value, lo, hi, actual) -> dict:
    """Relative errors (value - actual) / actual, their median and largest absolute value, and the
    share of ``actual`` inside [lo, hi]."""
    value, lo, hi, actual = (np.asarray(v, float) for v in (value, lo, hi, actual))
    err = (value - actual) / actual
    return {"errors": err, "median_abs": float(np.median(np.abs(err))), "max_abs": float(np.max(np.abs(err))),
            "mean_abs": float(np.mean(np.abs(err))), "coverage": float(np.mean((actual >= lo) & (actual <= hi))),
            "n": int(err.size)}


X = {"params": "N", "tokens": "D"}


def forecast(ladder: Ladder, n_boot: int = N_BOOT, seed: int = 0, diagnose: bool = True) -> dict:
    """The Chinchilla law fitted without the held-out runs, scored on the scored rows."""
    from scaling.fit import diagnose as dg
    from scaling.fit.predict import predict

    t = ladder.table
    fitted, target = t[~ladder.held], t[ladder.scored]
    preds = predict(fitted, "chinchilla", [{"params": n, "tokens": d} for n, d in zip(target["N"], target["D"])],
                    y="loss", x=X, run_col="run", level=LEVEL, n_boot=n_boot, seed=seed)
    out = score([p.value for p in preds], [p.lo for p in preds], [p.hi for p in preds], target["loss"])
    out["law_coverage"] = score([p.value for p in preds], [p.fit_lo for p in preds], [p.fit_hi for p in preds],
                                target["loss"])["coverage"]
    out.update(ladder=ladder.name, held=ladder.held_words, n_fitted=int(len(fitted)), runs_fitted=int(fitted["run"].nunique()),
               spread=preds[0].spread, spread_source=preds[0].spread_source, resampled=preds[0].resampled)
    if diagnose:
        d = dg.diagnose(fitted, "chinchilla", y="loss", x=X, run_col="run", size="N", n_boot=n_boot, seed=seed)
        out["warning"], out["diagnosis"] = d.warning, d.test
    return out


def table(results: list[dict]) -> str:
    head = ("ladder", "held out", "scored", "median |err|", "max |err|", "PI cover", "law cover", "warns")
    lines = [head] + [(r["ladder"], r["held"], str(r["n"]), f"{100 * r['median_abs']:.2f}%", f"{100 * r['max_abs']:.2f}%",
                       f"{100 * r['coverage']:.0f}%", f"{100 * r['law_coverage']:.0f}%",
                       "yes" if r.get("warning") else "no") for r in results]
    w = [max(len(x[i]) for x in lines) for i in range(len(head))]
    body = ["  ".join(c.ljust(k) for c, k in zip(x, w)).rstrip() for x in lines]
    notes = [f"{r['ladder']}: fitted {r['n_fitted']} points of {r['runs_fitted']} runs; spread {r['spread']:.3g} "
             f"({r['spread_source']}); {r.get('diagnosis', '')}" for r in results]
    return "\n".join(body + notes + [f"PI: {LEVEL:.0%} prediction interval for one new run; law: the law's own "
                                     f"interval; errors: (forecast - observed) / observed"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m scaling.calibration.ladders", description=__doc__.split("\n")[0])
    p.add_argument("ladders", nargs="*", help=f"any of {', '.join(LADDERS)} (default: all)")
    p.add_argument("--root", default=str(EXTERNAL), help="the folder holding the data sets")
    p.add_argument("--bootstrap", type=int, default=N_BOOT)
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    try:
        res = [forecast(load(n, a.root), a.bootstrap) for n in (a.ladders or LADDERS)]
    except ScalingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(table(res))
    print(f"({a.bootstrap} resamples per ladder, {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
