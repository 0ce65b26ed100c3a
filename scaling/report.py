"""A sweep's report: frontiers with fitted laws, isoFLOP curves, multipliers with verdicts.

The sweep file's optional `report:` section says what to compare:

    report:
      metric: eval/loss/caption          # the loss column (default eval/loss/caption)
      bootstrap: 1000                    # resamples of whole runs
      compare:
        - {candidate: early, baseline: baseline, claim: 2x}
        - {candidate: early, baseline: blind}

Without `compare`, every recipe is compared with `baseline`. Everything is written atomically
under the report folder: frontier.png, isoflop.png, multiplier_<cand>_vs_<base>.png, summary.md
and results.json. No printing here; the CLI prints.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from scaling import plots
from scaling.claims import compare, parse_claim
from scaling.claims.multiplier import MIN_RUNS, envelope, power_fits, recipe_data, resamples
from scaling.errors import ConfigError
from scaling.records import atomic_write_json, atomic_write_text, jsonable

REPORT_KEYS = ("metric", "bootstrap", "compare", "trim")
PAIR_KEYS = ("candidate", "baseline", "claim")


def settings(raw: dict | None, source: str, recipes: list[str]) -> dict:
    """Validate a sweep file's `report:` section; errors name the file and key."""
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: report: expected a mapping")
    for key in raw:
        if key not in REPORT_KEYS:
            raise ConfigError(f"{source}: report.{key}: unknown key (known: {', '.join(REPORT_KEYS)})")
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


def recipe_fits(df: pd.DataFrame, y: str, trim: float, n_boot: int, x: str = "compute/flops") -> dict:
    """Per recipe with >= MIN_RUNS runs: frontier points, the power-law fit and a 95% band."""
    out = {}
    for name in sorted(df["recipe"].astype(str).unique()):
        if df[df["recipe"] == name]["run_id"].nunique() < MIN_RUNS:
            continue
        rd = recipe_data(df, name, x, y, trim=trim)
        picks = resamples(len(rd.runs), n_boot, np.random.default_rng(1))
        f = power_fits(rd, picks)
        ok = f["ok"]
        f["fit"].intervals = {k: tuple(np.percentile(f[k][ok], [2.5, 97.5])) for k in ("E", "A", "alpha")}
        c, l = rd.points()
        fc, fl = envelope(c, l)
        grid = np.geomspace(fc.min(), fc.max(), 60)
        p = f["fit"].params
        band = p["E"] + p["A"] * grid ** (-p["alpha"])
        draws = f["E"][f["ok"], None] + f["A"][f["ok"], None] * grid[None, :] ** (-f["alpha"][f["ok"], None])
        out[name] = {"rd": rd, "fit": f["fit"], "points": (c, l), "frontier": (fc, fl), "grid": grid,
                     "curve": band, "lo": np.percentile(draws, 2.5, axis=0), "hi": np.percentile(draws, 97.5, axis=0)}
    return out


def frontier_figure(fits: dict, y: str, title: str):
    """The frontier plot of `recipe_fits` output: points, frontier, fitted law and its 95% band."""
    pts = {k: {"compute": v["points"][0], "loss": v["points"][1], "frontier_compute": v["frontier"][0],
               "frontier_loss": v["frontier"][1]} for k, v in fits.items()}
    bands = {k: {"compute": v["grid"], "loss": v["curve"], "lo": v["lo"], "hi": v["hi"],
                 "label": f"{k}: E+A·C^-{v['fit'].params['alpha']:.2f}"} for k, v in fits.items()}
    return plots.frontier(pts, bands, y_label=f"{y} (nats/token)", title=title)


def isoflop_curves(df: pd.DataFrame, y: str, x: str = "compute/flops", n_budgets: int = 4) -> dict:
    """Loss against parameters at fixed compute, interpolated along each run's trajectory.

    Per recipe and size the best run (over learning rates) at that compute is kept.
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
            if len(best) >= 2:
                ns = sorted(best)
                curves[f"{recipe} {budget:.2g}"] = {"recipe": str(recipe), "budget": float(budget),
                                                    "params": ns, "loss": [best[n] for n in ns]}
    return curves


def _pct(a: float, b: float) -> str:
    return f"{a:.3g} ({b:.3g})" if math.isfinite(b) else f"{a:.3g}"


def write(df: pd.DataFrame, out: str | Path, cfg: dict, *, sweep_name: str = "sweep", timings: dict | None = None,
          lines_for=None) -> dict:
    """Fit, compare and plot; write the report folder. Returns the results (JSON-ready parts)."""
    import time

    t0 = time.monotonic()
    timings = dict(timings or {})
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"{out}: report folder is not writable ({err.strerror or err})") from None
    y = cfg["metric"]
    if y not in df.columns:
        raise ConfigError(f"report.metric: column {y!r} not in the records")
    fits = recipe_fits(df, y, cfg["trim"], min(cfg["bootstrap"], 400))
    figures = {"frontier": plots.save(frontier_figure(fits, y, f"{sweep_name}: loss versus training compute"),
                                      out / "frontier.png")}
    iso = isoflop_curves(df, y)
    if iso:
        figures["isoflop"] = plots.save(plots.isoflop(iso, title=f"{sweep_name}: isoFLOP curves (interpolated)"),
                                        out / "isoflop.png")
    comparisons = []
    for pair in cfg["pairs"]:
        r = compare(df, pair["baseline"], pair["candidate"], y=y, claim=pair["claim"], n_boot=cfg["bootstrap"],
                    trim=cfg["trim"])
        name = f"multiplier_{pair['candidate']}_vs_{pair['baseline']}.png"
        from scaling.cli.compare import multiplier_curves

        figures[name] = plots.save(plots.multiplier(multiplier_curves(r), claim=pair["claim"],
                                                    title=f"{pair['candidate']} vs {pair['baseline']}: compute multiplier"),
                                   out / name)
        comparisons.append(r)
    timings["fit+compare+plots"] = time.monotonic() - t0
    results = {
        "sweep": sweep_name, "metric": y, "runs": int(df["run_id"].nunique()), "timings_s": timings,
        "fits": {k: v["fit"].to_dict() for k, v in fits.items()},
        "comparisons": [{k: v for k, v in r.items() if k not in ("points", "fits", "frontiers")} for r in comparisons],
    }
    atomic_write_json(out / "results.json", jsonable(results))
    atomic_write_text(out / "summary.md", summary_md(results, fits, comparisons, figures, lines_for))
    return results


def summary_md(results: dict, fits: dict, comparisons: list, figures: dict, lines_for) -> str:
    t = results["timings_s"]
    md = [f"# {results['sweep']}: report", "",
          f"{results['runs']} runs; metric `{results['metric']}`; compute = exact training FLOPs."]
    if t:
        md.append("Wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in t.items()) + ".")
    md += ["", "## Verdicts", ""]
    for r in comparisons:
        if r.get("verdict"):
            v = r["verdict"]
            md.append(f"- **{r['candidate']} needs {r['claim']:g}x less compute than {r['baseline']}**: "
                      f"{v['verdict'].upper()} at loss {v['loss']:.4f} (frontier gap: {v['nonparametric']}, "
                      f"power-law fits: {v['parametric']})")
        inside = [row for row in r["targets"] if not row["extrapolated"]]
        solid = [row for row in inside
                 if min(row["nonparametric"]["defined_frac"], row["parametric"]["defined_frac"]) >= 0.95]
        low = min(solid or inside, key=lambda row: row["loss"])  # the lowest loss resamples reliably reach
        n, p = low["nonparametric"], low["parametric"]
        md.append(f"- {r['candidate']} vs {r['baseline']} at loss {low['loss']:.4f}: multiplier "
                  f"{n['value']:.3g}x (95% CI {n['lo']:.3g}–{n['hi']:.3g}) from the frontier gap, "
                  f"{p['value']:.3g}x ({p['lo']:.3g}–{p['hi']:.3g}) from the power-law fits")
    md += ["", "## Fitted frontiers: L(C) = E + A·C^-alpha (95% bootstrap intervals over runs)", "",
           "| recipe | runs | E | alpha | A |", "| --- | --- | --- | --- | --- |"]
    for k, v in fits.items():
        f = v["fit"]
        iv = f.intervals
        cell = lambda p: f"{f.params[p]:.4g}" + (f" ({iv[p][0]:.3g}–{iv[p][1]:.3g})" if p in iv else "")  # noqa: E731
        md.append(f"| {k} | {len(v['rd'].runs)} | {cell('E')} | {cell('alpha')} | {f.params['A']:.3g} |")
    md += ["", "## Multipliers by target loss", ""]
    for r in comparisons:
        md += ["```"] + (lines_for(r) if lines_for else []) + ["```", ""]
    md += ["## Figures", ""] + [f"![{k}]({Path(p).name})" for k, p in figures.items()] + [""]
    return "\n".join(md)
