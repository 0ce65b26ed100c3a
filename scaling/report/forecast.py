"""The report's forecast of its own top rung: per recipe and law, fit on every run but the largest
size's, forecast the largest size, and say how far off and whether the interval covered it.

The split is by size (whole runs held out). What the held-out runs are compared at comes from
the law's sample (`scaling.fit.extrapolate.HELDOUT_TARGETS`): a law fitted to every point
(chinchilla) is compared at each of the largest size's finished points (N, D), seeds averaged; a
law on the frontier (power) where the largest size extends the frontier (its computes beyond the
fitted runs' largest). Each comparison uses the prediction interval for the mean of the seeds
actually run (`scaling.fit.predict.Prediction.interval`).
"""

from __future__ import annotations

import numpy as np

from scaling.errors import DataError, FitError
from scaling.fit.extrapolate import heldout_runs

#: size columns, first present wins
SIZE_COLUMNS = ("params/total", "model.width")
#: the laws the report forecasts with
LAWS = ("power", "chinchilla")


def top_rung(df, y: str = "eval/loss/caption", *, laws=LAWS, recipe_col: str = "recipe", n_boot: int = 1000,
             level: float = 0.9, seed: int = 0) -> list[dict]:
    """Rows (recipe, law, target, value, lo, hi, level, actual, n_seeds, error, covered) of every
    recipe's top-rung forecast; a recipe and law that cannot be fitted (or a table with no size
    column) gives one row with ``refused`` (the reason) instead."""
    size = next((c for c in SIZE_COLUMNS if c in df.columns), None)
    if size is None:  # the report goes on without its forecast, saying why
        return [{"recipe": "all", "law": law, "refused": f"no size column ({', '.join(SIZE_COLUMNS)}) to hold out "
                 f"the largest size by"} for law in laws]
    recipes = sorted(map(str, df[recipe_col].unique())) if recipe_col in df.columns else [None]
    rows = []
    for recipe in recipes:
        d = df if recipe is None else df[df[recipe_col].astype(str) == recipe]
        top = float(d[size].max())
        train = (d[size] < top).to_numpy()
        for law in laws:
            try:
                res = heldout_runs(d, law, train, split=f"{size} < {top:g}", y=y, n_boot=n_boot, level=level,
                                   seed=seed, check_form=True)
            except (DataError, FitError) as err:
                rows.append({"recipe": recipe, "law": law, "refused": str(err)})
                continue
            for t in sorted(res["targets"], key=lambda t: tuple(t["at"].values())):
                rows.append({"recipe": recipe, "law": law, "size": f"{size} {top:.3g}", "target": t["at"],
                             "value": t["value"], "lo": t["lo"], "hi": t["hi"], "level": level,
                             "actual": t["actual"], "n_seeds": t["n_seeds"], "error": t["error"],
                             "covered": t["covered"], "compared_at": res["compared_at"],
                             "resampled": res["resampled"], "lo_seeds": t.get("lo_seeds"),
                             "hi_seeds": t.get("hi_seeds"), "covered_seeds": t.get("covered_seeds"),
                             "warning": res.get("diagnosis", {}).get("warning"),
                             "diagnosis": res.get("diagnosis", {}).get("test")})
    return rows


def summary(rows: list[dict]) -> dict:
    """Per law: targets, median and largest |error|, mean error, share covered (refusals left out)."""
    out = {}
    for law in dict.fromkeys(r["law"] for r in rows):
        err = np.array([r["error"] for r in rows if r["law"] == law and "error" in r])
        cov = [r["covered"] for r in rows if r["law"] == law and "error" in r]
        raw = [r.get("covered_seeds", r["covered"]) for r in rows if r["law"] == law and "error" in r]
        warned = sorted({str(r["recipe"]) for r in rows if r["law"] == law and r.get("warning")})
        if err.size:
            out[law] = {"targets": int(err.size), "median_abs_error": float(np.median(np.abs(err))),
                        "max_abs_error": float(np.max(np.abs(err))), "mean_error": float(np.mean(err)),
                        "covered": float(np.mean(cov)), "covered_before_widening": float(np.mean(raw)),
                        "form_warnings": warned}
    return out


def _at(t: dict) -> str:
    return ", ".join(f"{k} {v:.3g}" for k, v in t.items())


def lines(rows: list[dict]) -> list[str]:
    """The report's markdown section: one line per target, then the summary per law."""
    if not rows:
        return []
    level = next((r["level"] for r in rows if "level" in r), 0.9)
    md = ["## Forecast of the top rung (fitted without the largest size)", "",
          f"Each recipe's largest size held out (whole runs); value and {level:.0%} prediction interval for the "
          "mean of its seeds (the law's bootstrap plus seed spread, widened by the form diagnosis's "
          "misspecification term, `scaling.fit.diagnose`, computed on the fitted runs only); "
          "error = (forecast - actual) / actual.", "",
          "| recipe | law | target | forecast | interval | actual | error | covered |",
          "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if "refused" in r:
            md.append(f"| {r['recipe']} | {r['law']} | - | refused: {r['refused']} | | | | |")
            continue
        md.append(f"| {r['recipe']} | {r['law']} | {_at(r['target'])} | {r['value']:.4f} | {r['lo']:.4f}–{r['hi']:.4f} "
                  f"| {r['actual']:.4f} (n={r['n_seeds']}) | {r['error']:+.2%} | {'yes' if r['covered'] else 'NO'} |")
    md.append("")
    for law, s in summary(rows).items():
        md.append(f"- {law}: {s['targets']} targets, median |error| {s['median_abs_error']:.2%}, worst "
                  f"{s['max_abs_error']:.2%}, mean {s['mean_error']:+.2%}; {s['covered']:.0%} inside their intervals "
                  f"({s['covered_before_widening']:.0%} before widening)"
                  + (f"; the form diagnosis warned for {', '.join(s['form_warnings'])}" if s["form_warnings"] else ""))
    warned = {(r["recipe"], r["law"]): r["warning"] for r in rows if r.get("warning")}
    for (recipe, law), w in warned.items():
        md.append(f"- warning ({recipe}, {law}): {w}")
    return md + [""]
