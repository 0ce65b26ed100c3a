"""The pretraining report's figures: which ones, from which results, under which file names.

How each figure is drawn (style, axes, bands) is `scaling.plots`, shared with `scaling compare`
and the notebooks; here the report's fits and comparisons become those plots' inputs.
"""

from __future__ import annotations

from pathlib import Path

from scaling import plots
from scaling.claims.text import multiplier_curves


def frontier_figure(fits: dict, y: str, title: str):
    """The frontier plot: points (mid-run points faint), frontier, fitted law, 95% band, exact floor.
    ``fits``: the report's per-recipe fits (`scaling.report.pretrain.recipe_fits`)."""
    pts = {k: {"compute": v["points"]["compute"], "loss": v["points"]["loss"],
               "frontier_compute": v["frontier"]["compute"], "frontier_loss": v["frontier"]["loss"],
               "mid_compute": v["mid"]["compute"], "mid_loss": v["mid"]["loss"], "floor": v["floor"]}
           for k, v in fits.items()}
    bands = {k: {"compute": v["grid"], "loss": v["curve"], "lo": v["lo"], "hi": v["hi"],
                 "label": f"{k}: E+A·C^-{v['fit']['params']['alpha']:.2f}"} for k, v in fits.items()}
    return plots.frontier_plot(pts, bands, y_label=f"{y} (nats/token)", title=title)


def lr_figure(lrs: dict, y: str, title: str):
    """Loss against learning rate per size and recipe at each configuration's largest finished
    point, with the fitted optimum. ``lrs``: `scaling.fit.lr_optimum.lr_optimum`'s result."""
    last: dict = {}
    for r in lrs["cells"]:
        if r["cell"] not in last or r["point"] > last[r["cell"]]["point"]:
            last[r["cell"]] = r
    panels: dict = {}
    for r in sorted(last.values(), key=lambda r: (r["recipe"], r["params"], r["name"])):
        panels.setdefault(r["recipe"], {})[r["name"]] = {
            "lr": r["lrs"], "loss": r["mean_loss"], "opt_lr": r["lr_opt"], "opt_loss": r["loss_opt"],
            "lo": r["lr_lo"], "hi": r["lr_hi"], "edge": r["edge"]}
    return plots.lr_curves(panels, y_label=f"{y} (nats/token)", title=title)


def report_figures(fits: dict, comparisons: list, y: str, sweep_name: str, folder: Path, iso: dict,
                   lrs: dict | None = None) -> dict:
    """Write frontier.png, isoflop.png (when `iso` holds curves), multiplier_<cand>_vs_<base>.png
    per comparison and learning_rates.png (when `lrs`, a learning-rate study, is given) into
    `folder`; returns {name: path}."""
    figures = {"frontier": plots.save(frontier_figure(fits, y, f"{sweep_name}: loss versus training compute"),
                                      folder / "frontier.png")}
    if iso:
        figures["isoflop"] = plots.save(plots.isoflop(iso, title=f"{sweep_name}: isoFLOP curves (interpolated)"),
                                        folder / "isoflop.png")
    for r in comparisons:
        name = f"multiplier_{r['candidate']}_vs_{r['baseline']}.png"
        figures[name] = plots.save(plots.multiplier(multiplier_curves(r), claim=r["claim"],
                                                    title=f"{r['candidate']} vs {r['baseline']}: compute multiplier"),
                                   folder / name)
    if lrs is not None:
        figures["learning_rates"] = plots.save(lr_figure(lrs, y, f"{sweep_name}, final points"), folder / "learning_rates.png")
    return figures
