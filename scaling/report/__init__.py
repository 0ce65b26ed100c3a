"""Reports: a sweep file becomes runs, records and the report of its stage.

- `build`: sweep file -> runs (launched or already committed) -> records -> the stage's report
  (what `scaling report` does, as a plain function for Python and notebooks);
- `pretrain`, `rl`: the report of each stage, chosen by the stage table
  (`scaling.sweep.stages`, field `report`); each has `settings(raw, source, recipes=())` and
  `write(df, out, cfg, *, runs=None, sweep_name="sweep", timings=None)`;
- `figures`: the pretraining report's figures (drawn by `scaling.plots`);
- `lawfit`: `scaling fit`'s engine over every estimator of the law registry.
"""

import math

from scaling.errors import ConfigError


def _int(low: int):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


# the domains of the keys the stages' reports share (each report checks its own keys' further limits)
DOMAINS = {
    "trim": ("a fraction in [0, 1)", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
             and math.isfinite(v) and 0 <= v < 1),
    "bootstrap": ("a positive integer", _int(1)),
    "metric": ("a record field name", lambda v: isinstance(v, str) and bool(v.strip())),
    "min_seg": ("a positive integer", _int(1)),
    "length": ("a record field name", lambda v: isinstance(v, str) and bool(v.strip())),
}


def section(raw, source: str, known: tuple, kind: str = "") -> dict:
    """A sweep file's `report:` mapping with only `known` keys (`kind`: for which sweeps, in the
    message), each shared key in its domain (`DOMAINS`); ConfigError naming the file and key otherwise."""
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: report: expected a mapping")
    for key in raw:
        if key not in known:
            raise ConfigError(f"{source}: report.{key}: unknown key{kind} (known: {', '.join(known)})")
        if key in DOMAINS and not DOMAINS[key][1](raw[key]):
            raise ConfigError(f"{source}: report.{key}: expected {DOMAINS[key][0]}, got {raw[key]!r}")
    return raw
