"""Plots with one shared style: compute frontiers, isoFLOP curves, multiplier versus loss.

Compute is always in FLOPs on a log axis; intervals are shaded bands. Functions take plain arrays
(or the result dicts of `scaling.claims`) and return the matplotlib Figure; `save` writes a PNG
atomically.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import matplotlib.pyplot as plt  # without a display matplotlib falls back to Agg; notebooks stay inline
import numpy as np

STYLE = {
    "figure.figsize": (6.4, 4.4), "figure.dpi": 110, "savefig.dpi": 130, "savefig.bbox": "tight",
    "axes.grid": True, "grid.alpha": 0.3, "grid.linestyle": "-", "axes.spines.top": False,
    "axes.spines.right": False, "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 9,
    "legend.frameon": False, "lines.linewidth": 1.8, "font.size": 10,
}
_PALETTE = ["#1f77b4", "#d62728", "#7f7f7f", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]


def _plain_log_y(ax) -> None:
    """Log y axis labelled with plain numbers (0.8, 1, 2), not powers of ten."""
    from matplotlib.ticker import FormatStrFormatter, LogLocator

    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_minor_locator(LogLocator(subs=(3.0, 4.0, 6.0, 7.0, 8.0, 9.0)))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))


def _plain_log_x(ax) -> None:
    """Log x axis of a learning-rate grid: ticks at 1, 2, 5 x 10^k (at 10^k beyond a factor 50), plain numbers."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    lo, hi = ax.get_xlim()
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0) if hi / lo < 50 else (1.0,)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def colour(name: str, names: list[str]) -> str:
    """A stable colour per recipe within one figure."""
    return _PALETTE[sorted(names).index(name) % len(_PALETTE)] if name in names else _PALETTE[-1]


@contextmanager
def style():
    with plt.rc_context(STYLE):
        yield


def save(fig, path: str | Path) -> Path:
    """Write `fig` as PNG atomically (temp file + rename) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix or ".png")
    os.close(fd)
    try:
        fig.savefig(tmp, format=(path.suffix.lstrip(".") or "png"))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
        plt.close(fig)
    return path


def frontier_plot(points: dict, fits: dict | None = None, y_label: str = "validation loss (nats/token)",
             title: str = "Loss versus training compute"):
    """Loss against compute per recipe.

    points: {recipe: {"compute": [...], "loss": [...], "frontier_compute": [...], "frontier_loss": [...],
             optional "mid_compute"/"mid_loss" (drawn faintly) and "floor" (a horizontal line)}}
    fits:   {recipe: {"compute": grid, "loss": central, "lo": lower band, "hi": upper band, "label": str}}
    """
    names = list(points)
    with style():
        fig, ax = plt.subplots()
        for name, p in points.items():
            c = colour(name, names)
            ax.scatter(p["compute"], p["loss"], s=8, color=c, alpha=0.25, linewidths=0)
            if len(p.get("mid_compute", [])):  # mid-run points: faint, labelled
                ax.scatter(p["mid_compute"], p["mid_loss"], s=5, color=c, alpha=0.08, linewidths=0,
                           label=f"{name} mid-run points")
            if p.get("floor") is not None:  # the exact irreducible loss of the data
                ax.axhline(p["floor"], color=c, linestyle=":", linewidth=1.0, label=f"{name} exact floor {p['floor']:.4g}")
            if len(p.get("frontier_compute", [])):
                ax.plot(p["frontier_compute"], p["frontier_loss"], "o", ms=3.5, color=c, label=f"{name} frontier")
            f = (fits or {}).get(name)
            if f:
                ax.plot(f["compute"], f["loss"], "-", color=c, label=f.get("label", f"{name} fit"))
                if f.get("lo") is not None:
                    ax.fill_between(f["compute"], f["lo"], f["hi"], color=c, alpha=0.18, linewidth=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        _plain_log_y(ax)
        ax.set_xlabel("training compute (FLOPs)")
        ax.set_ylabel(y_label)
        ax.set_title(title)
        ax.legend()
    return fig


def isoflop(curves: dict, title: str = "IsoFLOP curves"):
    """Loss against parameters at fixed compute.

    curves: {label: {"budget": C, "params": [...], "loss": [...], "recipe": name}}
    """
    recipes = sorted({c["recipe"] for c in curves.values()})
    budgets = sorted({c["budget"] for c in curves.values()})
    styles = ["-", "--", ":", "-."]
    with style():
        fig, ax = plt.subplots()
        for label, c in curves.items():
            shade = 0.35 + 0.65 * (budgets.index(c["budget"]) + 1) / len(budgets)
            order = np.argsort(c["params"])
            ax.plot(np.asarray(c["params"])[order], np.asarray(c["loss"])[order], "o",
                    linestyle=styles[recipes.index(c["recipe"]) % len(styles)], ms=3.5,
                    color=colour(c["recipe"], recipes), alpha=shade, label=label)
        ax.set_xscale("log")
        ax.set_xlabel("parameters")
        ax.set_ylabel("validation loss (nats/token)")
        ax.set_title(title)
        ax.legend(ncol=2, fontsize=7)
    return fig


def multiplier(curves: dict, claim: float | None = None, title: str = "Compute multiplier"):
    """Multiplier (baseline compute / candidate compute at equal loss) against target loss.

    curves: {label: {"loss": [...], "value": [...], "lo": [...], "hi": [...], "extrapolated": [bool, ...]}}
    """
    names = list(curves)
    with style():
        fig, ax = plt.subplots()
        for name, c in curves.items():
            col = colour(name, names)
            loss, value = np.asarray(c["loss"], float), np.asarray(c["value"], float)
            ax.plot(loss, value, "-", color=col, label=name)
            if c.get("lo") is not None:
                ax.fill_between(loss, np.asarray(c["lo"], float), np.asarray(c["hi"], float),
                                color=col, alpha=0.2, linewidth=0)
            extra = np.asarray(c.get("extrapolated", np.zeros(len(loss), bool)), bool)
            if extra.any():
                ax.plot(loss[extra], value[extra], "x", color=col, ms=4, label=f"{name} (extrapolated)")
        ax.axhline(1.0, color="black", linewidth=0.8)
        if claim is not None:
            ax.axhline(claim, color="black", linestyle="--", linewidth=1.0, label=f"claim {claim:g}x")
        ax.set_yscale("log")
        _plain_log_y(ax)
        ax.invert_xaxis()  # lower loss (more training) to the right
        ax.set_xlabel("target loss (nats/token)")
        ax.set_ylabel("baseline compute / candidate compute")
        ax.set_title(title)
        ax.legend()
    return fig


def lr_curves(panels: dict, y_label: str = "validation loss (nats/token)", title: str = "Loss versus learning rate"):
    """Loss against learning rate, one panel per recipe, one line per size.

    panels: {recipe: {size label: {"lr": [...], "loss": [...] (seed means), "opt_lr": lr*,
             "opt_loss": loss at lr*, optional "lo"/"hi" (lr*'s interval), "edge": bool}}}
    The fitted optimum is a cross with its interval as a horizontal bar; hollow when it sits at
    the grid's edge.
    """
    names = list(panels)
    with style():
        fig, axes = plt.subplots(1, max(len(names), 1), figsize=(4.0 * max(len(names), 1), 3.6), squeeze=False,
                                 sharey=True)
        for ax, name in zip(axes[0], names):
            sizes = list(panels[name])
            for label, c in panels[name].items():
                col = colour(label, sizes)
                ax.plot(c["lr"], c["loss"], "o-", ms=3.5, color=col, label=label)
                if c.get("lo") is not None:
                    ax.plot([c["lo"], c["hi"]], [c["opt_loss"]] * 2, "-", color=col, linewidth=3, alpha=0.35)
                ax.plot([c["opt_lr"]], [c["opt_loss"]], "x" if not c.get("edge") else "o", ms=7, color=col,
                        mfc="none")
            ax.set_xscale("log")
            _plain_log_x(ax)
            ax.set_xlabel("learning rate")
            ax.set_title(f"{title}: {name}" if title else name)
            ax.legend(fontsize=7)
        axes[0][0].set_ylabel(y_label)
    return fig


def curves(series: dict, x_label: str = "RL compute (FLOPs)", y_label: str = "pass rate",
           title: str = "", log_x: bool = True):
    """Generic metric curves: {label: {"x": [...], "y": [...], "fit_x": [...], "fit_y": [...], "style": "o"}}."""
    names = list(series)
    with style():
        fig, ax = plt.subplots()
        for name, s in series.items():
            col = colour(name, names)
            ax.plot(s["x"], s["y"], s.get("style", "o"), ms=4, color=col, label=name)
            if "fit_x" in s:
                ax.plot(s["fit_x"], s["fit_y"], "-", color=col, alpha=0.8, label=s.get("fit_label"))
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        if title:
            ax.set_title(title)
        ax.legend()
    return fig
