"""A pretraining sweep's report (`scaling.report.build` picks it by the stage table): frontiers with fitted laws, isoFLOP curves, multipliers with verdicts.

The sweep file's optional `report:` section says what to compare:

    report:
      metric: eval/loss/caption          # the loss column (default eval/loss/caption)
      bootstrap: 1000                    # resamples of whole runs
      compare:
        - {candidate: early, baseline: baseline, claim: 2x}
        - {candidate: early, baseline: blind}

Without `compare`, every recipe is compared with `baseline`. The report's fitted parameters come
from the same fits and resamples as the verdicts. The folder is written as a whole (a temporary
folder renamed into place): frontier.png, isoflop.png, multiplier_<cand>_vs_<base>.png, summary.md
and results.json. No printing here; the CLI prints.

A sweep with several learning rates per configuration (recipe and size) gets a "Learning rates"
section and learning_rates.png (`scaling.fit.lr_optimum`), and its frontiers, fits and verdicts use
at each configuration and point the runs at the rate tried nearest the fitted optimum (seeds kept
as replicates; those rows are written as best_lr_rows.csv, the table the verdicts judged). With one
learning rate per configuration the table is used as it is.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from scaling.claims import parse_claim, powerfits
from scaling.claims import registry as claims
from scaling.claims.multiplier import envelope, recipe_data
from scaling.claims.seeds import units_of
from scaling.claims.text import fmt, multiplier_lines
from scaling.errors import ConfigError, DataError, FitError
from scaling.fit import lr_optimum, registry, resample
from scaling.records import atomic_write_json, atomic_write_text, jsonable
from scaling.report import section
from scaling.report.figures import report_figures
from scaling.report.forecast import lines as forecast_lines, top_rung

REPORT_KEYS = ("metric", "bootstrap", "compare", "trim")
PAIR_KEYS = ("candidate", "baseline", "claim")


def settings(raw: dict | None, source: str, recipes=()) -> dict:
    """Validate a sweep file's `report:` section (`recipes`: the sweep's); errors name the file and key."""
    raw = section(raw, source, REPORT_KEYS)
    pairs = raw.get("compare") or [{"candidate": r, "baseline": "baseline"} for r in recipes if r != "baseline"]
    out = []
    for i, p in enumerate(pairs):
        where = f"{source}: report.compare[{i}]"
        if not isinstance(p, dict) or not {"candidate", "baseline"} <= p.keys():
            raise ConfigError(f"{where}: expected {{candidate: NAME, baseline: NAME[, claim: 10x]}}")
        for key in p:
            if key not in PAIR_KEYS:
                raise ConfigError(f"{where}.{key}: unknown key (known: {', '.join(PAIR_KEYS)})")
        for role in ("candidate", "baseline"):
            if p[role] not in recipes:
                raise ConfigError(f"{where}.{role}: unknown recipe {p[role]!r} (recipes: {', '.join(recipes)})")
        claim = parse_claim(p["claim"]) if p.get("claim") is not None else None
        out.append({"candidate": p["candidate"], "baseline": p["baseline"], "claim": claim})
    return {"metric": raw.get("metric", "eval/loss/caption"), "bootstrap": int(raw.get("bootstrap", 1000)),
            "trim": float(raw.get("trim", 0.1)), "pairs": out}


def _band(fit: dict, grid: np.ndarray):
    """Central curve and 95% band of a fitted law (``fit["law"]``) from its fit and bootstrap draws."""
    law = registry.get(fit["law"])
    curve = law.predict(fit["params"], grid)
    lo, hi = resample.interval(law.predict_draws(fit["draws"], grid), 0.95)
    return curve, lo, hi


def heldout_largest(df, recipe, y, x="compute/flops", trim=0.1) -> dict | None:
    """Fit on every run but the largest size's, predict the largest size's finished losses.

    Split by run (size: ``params/total``, else ``model.width``); the prediction is compared with
    the lowest seed-averaged finished loss at each of the largest size's computes beyond the
    fitted runs' largest compute: there the largest size is what extends the frontier, so a
    frontier law must predict it (below that compute the largest model is not compute-optimal,
    and its points lie above any frontier). Without such points, every finished point is used.
    """
    size = next((c for c in ("params/total", "model.width") if c in df.columns), None)
    if size is None:
        return None
    d = df[df["recipe"].astype(str) == recipe]
    top = d[size].max()
    try:
        rd = recipe_data(d[d[size] < top], recipe, x, y, trim=trim)
    except (DataError, FitError):
        return None
    fc, fl = envelope(rd)
    law = registry.get("power")
    fit = registry.fit(law.name, fc, y=fl)
    held = d[d[size] == top]
    if "point" in held.columns:
        held = held[held["point"].astype(str) != "mid"]
    cfg = "config_id" if "config_id" in held.columns else "run_id"
    best = held.groupby([x, cfg])[y].mean().groupby(level=0).min()  # seeds averaged, best configuration
    C, L = best.index.to_numpy(float), best.to_numpy(float)
    keep = C > float(np.max(fc))
    region = "beyond the fitted runs' compute"
    if not keep.any():
        keep, region = C >= trim * C.max(), "all finished points"
    pred = law.predict(fit.params, C[keep])
    rel = (pred - L[keep]) / L[keep]
    return {"size": float(top), "size_column": size, "n_points": int(keep.sum()),
            "mean_rel_error": float(np.mean(rel)), "max_abs_rel_error": float(np.max(np.abs(rel))),
            "region": region, "fitted_up_to": float(np.max(fc))}


def learning_rates(df: pd.DataFrame, y: str, n_boot: int) -> dict | None:
    """The learning-rate study of a sweep (`scaling.fit.lr_optimum`), with the transfer check per
    recipe; None when the sweep has no learning-rate column or one learning rate per configuration."""
    if lr_optimum.LR not in df.columns:
        return None
    lrs = lr_optimum.lr_optimum(df, y, n_boot=n_boot)
    for v in (lrs or {}).get("fits", {}).values():
        if "a" in v.get("params", {}):
            try:
                v["transfer"] = lr_optimum.transfer_check(v)
            except FitError as err:  # no interval for a (one seed per configuration)
                v["transfer"] = {"error": str(err)}
    return lrs


def recipe_fits(df: pd.DataFrame, y: str, trim: float, n_boot: int, comparisons: list, x: str = "compute/flops") -> dict:
    """Per recipe: the fit (and draws) of the comparison it took part in — the same bootstrap as
    its verdict — or, for a recipe in no comparison, the same estimator with its own resamples."""
    out = {}
    for r in comparisons:
        for name in (r["baseline"], r["candidate"]):
            if name not in out:
                out[name] = {"fit": r["fits"][name], "frontier": r["frontiers"][name], "points": r["points"][name],
                             "mid": r["mid_points"][name], "floor": r["floors"][name], "runs": r["runs"][name],
                             "from": f"{r['candidate']} vs {r['baseline']}"}
    for name in sorted(df["recipe"].astype(str).unique()):
        if name in out:
            continue
        try:
            rd = recipe_data(df, name, x, y, trim=trim)
        except DataError:
            continue
        u = units_of(rd)
        f = powerfits.recipe_fit(rd, resample.draw(u, n_boot, np.random.default_rng(0)))
        fd = {**f["fit"].to_dict(), "delta": f["delta"], "n_failed": f["n_failed"],
              "draws": {p: f[p][f["ok"]] for p in ("E", "A", "alpha")}}
        fc, fl = envelope(rd)
        c, l = rd.points()
        out[name] = {"fit": fd, "frontier": {"compute": fc, "loss": fl}, "points": {"compute": c, "loss": l},
                     "mid": dict(zip(("compute", "loss"), rd.mid)), "floor": rd.floor, "runs": rd.runs, "from": "own"}
    for name, v in out.items():
        d = v["fit"]["draws"]
        v["intervals"] = {k: [float(a) for a in resample.interval(d[k])] for k in ("E", "A", "alpha")}
        fc = np.asarray(v["frontier"]["compute"])
        v["grid"] = np.geomspace(fc.min(), fc.max(), 60)
        v["curve"], v["lo"], v["hi"] = _band(v["fit"], v["grid"])
        v["heldout"] = heldout_largest(df, name, y, x, trim)
        try:
            v["sensitivity"] = powerfits.delta_sensitivity(recipe_data(df, name, x, y, trim=trim))
        except (DataError, FitError):
            v["sensitivity"] = []
    return out


def isoflop_curves(df: pd.DataFrame, y: str, x: str = "compute/flops", n_budgets: int = 4) -> dict:
    """Loss against parameters at fixed compute, interpolated along each run's trajectory.

    Per recipe and size the best run (over learning rates) at that compute is kept; every run's
    whole trajectory is used (not only the best-lr rows of the frontier). Only a curve that shows a
    minimum is kept (three or more sizes, the lowest loss at neither end): a monotone curve says
    nothing about the compute-optimal size, so a sweep without such curves draws no isoFLOP figure.
    """
    lo, hi = df.groupby("run_id")[x].min().max(), df.groupby("run_id")[x].max().min()
    lo, hi = max(lo, df[x].min()), df[x].max()
    budgets = np.geomspace(lo * 2, hi / 1.5, n_budgets) if hi > lo * 3 else np.array([hi / 1.5])
    curves = {}
    for recipe, g in df.groupby("recipe"):
        for budget in budgets:
            best: dict[float, float] = {}
            for _, run in g.groupby("run_id"):
                run = run.sort_values(x)
                c, l = run[x].to_numpy(float), run[y].to_numpy(float)
                if not (c.min() <= budget <= c.max()):
                    continue
                loss = float(np.exp(np.interp(np.log(budget), np.log(c), np.log(l))))
                n = float(run["params/total"].iloc[0])
                best[n] = min(loss, best.get(n, math.inf))
            ns = sorted(best)
            if len(ns) >= 3 and 0 < int(np.argmin([best[n] for n in ns])) < len(ns) - 1:
                curves[f"{recipe} {budget:.2g}"] = {"recipe": str(recipe), "budget": float(budget),
                                                    "params": ns, "loss": [best[n] for n in ns]}
    return curves


def _ci(v, iv, digits=3) -> str:
    return f"{v:.{digits}g} ({iv[0]:.{digits}g}–{iv[1]:.{digits}g})"


def _lr_ci(v, iv, digits=3) -> str:
    """As :func:`_ci`; a learning-rate estimate from one seed per configuration has no interval (NaN)."""
    return _ci(v, iv, digits) if all(math.isfinite(b) for b in iv) else f"{v:.{digits}g} (no interval)"


def write(df: pd.DataFrame, out: str | Path, cfg: dict, *, runs: str | Path | None = None,
          sweep_name: str = "sweep", timings: dict | None = None) -> dict:
    """Fit, compare and plot (`runs`, the sweep folder, is not needed here); write the report folder as a whole (a temporary folder renamed into
    place, so a failure leaves an existing report intact). Returns the results (JSON-ready parts)."""
    import shutil
    import tempfile
    import time

    t0 = time.monotonic()
    timings = dict(timings or {})
    out = Path(out)
    y = cfg["metric"]
    if y not in df.columns:
        raise ConfigError(f"report.metric: column {y!r} not in the records")
    if int(cfg["bootstrap"]) < 10:
        raise ConfigError(f"report.bootstrap {cfg['bootstrap']}: at least 10 resamples are needed")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    except OSError as err:
        raise ConfigError(f"{out}: report folder is not writable ({err.strerror or err})") from None
    try:
        lrs = learning_rates(df, y, cfg["bootstrap"])
        fd = lr_optimum.best_lr_rows(df, lrs)  # the frontier's rows: df itself with one learning rate
        comparisons, refused, verdicts = [], [], []
        for pair in cfg["pairs"]:  # every verdict through the claim registry
            r = claims.judge_or_refuse("multiplier", fd, baseline=pair["baseline"], candidate=pair["candidate"], y=y,
                                       claim=pair["claim"], n_boot=cfg["bootstrap"], trim=cfg["trim"])
            verdicts.append(r.to_record())
            if r.details:
                comparisons.append(dict(r.details))
            else:
                refused.append(f"{pair['candidate']} vs {pair['baseline']}: not compared ({'; '.join(r.refusals)})")
        fits = recipe_fits(fd, y, cfg["trim"], cfg["bootstrap"], comparisons)
        figures = report_figures(fits, comparisons, y, sweep_name, tmp, isoflop_curves(df, y), lrs)
        timings["fit+compare+plots"] = time.monotonic() - t0
        results = {
            "sweep": sweep_name, "metric": y, "runs": int(df["run_id"].nunique()), "timings_s": timings,
            "fits": {k: {**{q: v["fit"][q] for q in ("params", "delta", "n_failed")}, "intervals": v["intervals"],
                         "floor": v["floor"], "heldout_largest": v["heldout"], "huber_sensitivity": v["sensitivity"],
                         "bootstrap_from": v["from"]} for k, v in fits.items()},
            "comparisons": [{k: v for k, v in r.items() if k not in ("points", "fits", "frontiers", "mid_points")}
                            for r in comparisons],
            "refused": refused,
            "verdicts": verdicts,
            "forecasts": top_rung(fd, y, n_boot=cfg["bootstrap"]),  # the top rung, fitted without it (best-lr rows)
        }
        if lrs is not None:  # a sweep with one learning rate per configuration reports as before
            results["learning_rates"] = {**lrs, "fits": {k: {q: w for q, w in v.items() if q != "draws"}
                                                         for k, v in lrs["fits"].items()},
                                         "frontier_rows": "the runs at the learning rate tried nearest each "
                                                          "configuration's fitted optimum, per point"}
        atomic_write_json(tmp / "results.json", jsonable(results))
        if lrs is not None:  # the table the verdicts judged, so that they can be judged again
            atomic_write_text(tmp / "best_lr_rows.csv", fd.to_csv(index=False))
        atomic_write_text(tmp / "summary.md", summary_md(results, fits, comparisons, figures))
        old = None
        if out.exists():
            old = out.parent / f".{out.name}.old-{tmp.name[-8:]}"
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return results


def lr_section(lrs: dict | None) -> list[str]:
    """The summary's "Learning rates" lines (none for a sweep with one learning rate per configuration)."""
    if not lrs:
        return []
    md = ["", "## Learning rates", "",
          "Per configuration (recipe and size) and finished point: the seed-averaged loss fitted by a quadratic in "
          "log(lr) over the rates tried; its vertex is the optimum (the best rate tried where the fit is no bowl or "
          "the vertex leaves the grid). The frontiers and fits above use, at each configuration and point, the runs "
          "at the rate tried nearest that optimum, every seed kept; 'stable' is the share of resamples that choose "
          f"the same rate. Intervals: {lrs['test']}; resampled: {lrs['resampled']}.", "",
          "| recipe | size | rates tried | optimum lr (95%) | loss at it (95%) | frontier uses | stable | edge |",
          "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    last: dict = {}
    for r in lrs["cells"]:
        if r["cell"] not in last or r["point"] > last[r["cell"]]["point"]:
            last[r["cell"]] = r
    for r in sorted(last.values(), key=lambda r: (r["recipe"], r["params"], r["name"])):
        md.append(f"| {r['recipe']} | {r['name']} | {', '.join(f'{v:.3g}' for v in r['lrs'])} | "
                  f"{_lr_ci(r['lr_opt'], (r['lr_lo'], r['lr_hi']))} | "
                  f"{_lr_ci(r['loss_opt'], (r['loss_lo'], r['loss_hi']), 4)} | {r['lr_chosen']:.3g} | "
                  f"{'-' if math.isnan(r['stable']) else format(r['stable'], '.0%')} | {'yes' if r['edge'] else ''} |")
    md += ["", "(each configuration at its largest finished point; every point enters the fit below)", "",
           "| recipe | law | a (N) | b (D) | c | optima fitted (at the edge: left out) | optimum flat in width? |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for k, f in lrs["fits"].items():
        if "error" in f:
            md.append(f"| {k} | not fitted: {f['error']} | | | | | |")
            continue
        p, iv = f["params"], f["intervals"]
        t = f.get("transfer")
        flat = "-" if t is None else t["error"] if "error" in t else (
            f"{'yes' if t['flat'] else 'no'} (lr* may change up to {t['max_change']:.3g}x across the sizes; "
            f"tolerance {t['tolerance']:.3g}x; a's interval {'excludes' if t['drift'] else 'contains'} 0)")
        md.append(f"| {k} | {f['law']} | {_lr_ci(p['a'], iv['a']) if 'a' in p else '-'} | "
                  f"{_lr_ci(p['b'], iv['b']) if 'b' in p else '-'} | {p['c']:.3g} | {f['n_points']} "
                  f"({f['n_edge_left_out']}) | {flat} |")
    md += [f"- warning: {w}" for w in lrs["warnings"]]
    return md


def summary_md(results: dict, fits: dict, comparisons: list, figures: dict) -> str:
    t = results["timings_s"]
    md = [f"# {results['sweep']}: report", "",
          f"{results['runs']} runs; metric `{results['metric']}`; compute = exact training FLOPs; finished points only"
          + ("; at each configuration and point, the learning rate tried nearest its fitted optimum (see Learning "
             "rates)." if results.get("learning_rates") else ".")]
    if t:
        md.append("Wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in t.items()) + ".")
    md += ["", "## Verdicts", ""]
    for r in comparisons:
        h = r["headline"][0]
        if r.get("verdict"):
            v = r["verdict"]
            md.append(f"- **{r['candidate']} needs {r['claim']:g}x less compute than {r['baseline']}**: "
                      f"{v['verdict'].upper()} at loss {h['loss']:.4f} ({r['headline_option']}; frontier gap: "
                      f"{v['nonparametric']}, power-law fits: {v['parametric']})")
        n, p = h["nonparametric"], h["parametric"]
        md.append(f"- {r['candidate']} vs {r['baseline']} at loss {h['loss']:.4f}: multiplier {fmt(n['value'])}x "
                  f"({fmt(n['lo'])}–{fmt(n['hi'])}) from the frontier gap, {fmt(p['value'])}x "
                  f"({fmt(p['lo'])}–{fmt(p['hi'])}) from the power-law fits; resampled: {r['resampled']}")
        md += [f"  - warning: {w}" for w in r["warnings"]]
    md += [f"- {line}" for line in results["refused"]]
    if comparisons:
        md += ["", comparisons[0]["test"].capitalize() + "."]
    md += ["", "## Fitted frontiers: L(C) = E + A·C^-alpha (95% bootstrap intervals, the verdicts' own resamples)", "",
           "| recipe | runs | alpha | E | exact floor | held-out largest size (rel. error) | Huber delta |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for k, v in fits.items():
        p, iv = v["fit"]["params"], v["intervals"]
        floor = f"{v['floor']:.4g}" if v["floor"] is not None else "-"
        h = v["heldout"]
        held = (f"{h['mean_rel_error']:+.2%} mean, {h['max_abs_rel_error']:.2%} max over {h['n_points']} points "
                f"({h['size_column']} {h['size']:.3g}; {h['region']})" if h else "-")
        md.append(f"| {k} | {v['runs']} | {_ci(p['alpha'], iv['alpha'])} | E = {_ci(p['E'], iv['E'])} | {floor} | "
                  f"{held} | {v['fit']['delta']:.3g} |")
    md += lr_section(results.get("learning_rates"))
    md += ["", "## Huber delta sensitivity (frontier fit under delta = 1e-3, from the data, least squares)", "",
           "| recipe | delta | alpha | E | A |", "| --- | --- | --- | --- | --- |"]
    for k, v in fits.items():
        for row in v["sensitivity"]:
            md.append(f"| {k} | {row['delta']} ({row['delta_value']:.3g}) | {row['alpha']:.4g} | {row['E']:.4g} | "
                      f"{row['A']:.4g} |")
    md += ["", "## Multipliers by target loss and by compute", ""]
    for r in comparisons:
        md += ["```"] + multiplier_lines(r) + ["```", ""]
    md += forecast_lines(results.get("forecasts", []))
    md += ["## Figures", ""] + [f"![{k}]({Path(p).name})" for k, p in figures.items()] + [""]
    return "\n".join(md)
