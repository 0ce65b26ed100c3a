"""isoFLOP sweeps: the `isoflop:` section of a sweep file (budgets x sizes), and fitting a run's token
budget to its FLOP budget in whole steps."""

from __future__ import annotations

from scaling import config as C
from scaling.errors import ConfigError
from scaling.sweep.keys import check_key, dotted, number

ISOFLOP_KEYS = ("budgets", "sizes")
ISOFLOP_TOLERANCE = 0.02  # each isoFLOP run lands within 2% of its budget


def parse_isoflop(raw: dict, path: str, allowed: set[str], axis_keys: list[str]):
    """(budgets, sizes) of the sweep's `isoflop:` section, checked; None without one."""
    iso = raw.get("isoflop")
    if iso is None:
        return None
    if not isinstance(iso, dict):
        raise ConfigError(f"{path}: isoflop: expected a mapping with budgets and sizes")
    for key in iso:
        if key not in ISOFLOP_KEYS:
            raise ConfigError(f"{path}: isoflop.{key}: unknown key (known: {', '.join(ISOFLOP_KEYS)})")
    budgets, sizes = iso.get("budgets"), iso.get("sizes")
    if not isinstance(budgets, list) or not budgets:
        raise ConfigError(f"{path}: isoflop.budgets: expected a non-empty list of FLOP budgets")
    if not isinstance(sizes, list) or not sizes:
        raise ConfigError(f"{path}: isoflop.sizes: expected a non-empty list of model.width values "
                          f"or of {{key: value}} mappings")
    budgets = [number(b, f"{path}: isoflop.budgets[{i}]") for i, b in enumerate(budgets)]
    for i, b in enumerate(budgets):
        if b <= 0:
            raise ConfigError(f"{path}: isoflop.budgets[{i}]: must be positive, got {b:g}")
    out_sizes = []
    for i, size in enumerate(sizes):
        where = f"{path}: isoflop.sizes[{i}]"
        size = dotted(size, where) if isinstance(size, dict) else {"model.width": size}
        for key in size:
            check_key(key, where, allowed - {"recipe"})
            if key in axis_keys:
                raise ConfigError(f"{where}: {key} is also a grid/zip axis")
        out_sizes.append(size)
    if "train.tokens" in axis_keys or any("train.tokens" in s for s in out_sizes):
        raise ConfigError(f"{path}: train.tokens: derived from the budget in isoflop mode; "
                          f"do not make it an axis")
    return budgets, out_sizes


def fit_budget(cfg: C.RunConfig, data: dict, overrides: dict, budget: float, where: str, run_cost):
    """(config, cost) of the run at `budget` FLOPs: train.tokens in whole steps within the tolerance."""
    from scaling import flops

    try:
        tokens = flops.tokens_for_flops(cfg, budget)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    cfg = C.build(data, {**overrides, "train.tokens": int(tokens)}, source=where)
    try:
        cost = run_cost(cfg)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    exact, steps = float(cost["compute/flops"]), max(1, int(cost["steps"]))
    if abs(exact / budget - 1) > ISOFLOP_TOLERANCE:
        step = exact / steps
        raise ConfigError(
            f"{where}: budget {budget:.3g} FLOPs cannot be met within {ISOFLOP_TOLERANCE:.0%} in whole steps "
            f"of {step:.3g} FLOPs (nearest: {exact:.3g}); the minimum budget that always fits this "
            f"size is {step / (2 * ISOFLOP_TOLERANCE):.3g}"
        )
    return cfg, cost
