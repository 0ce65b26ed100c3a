"""Reports: a sweep file becomes runs, records and the report of its stage.

- `build`: sweep file -> runs (launched or already committed) -> records -> the stage's report
  (what `scaling report` does, as a plain function for Python and notebooks);
- `pretrain`, `rl`: the report of each stage, chosen by the stage table
  (`scaling.sweep.stages`, field `report`); each has `settings(raw, source, recipes=())` and
  `write(df, out, cfg, *, runs=None, sweep_name="sweep", timings=None)`;
- `figures`: the pretraining report's figures (drawn by `scaling.plots`);
- `lawfit`: `scaling fit`'s engine over every estimator of the law registry.
"""

from scaling.errors import ConfigError


def section(raw, source: str, known: tuple, kind: str = "") -> dict:
    """A sweep file's `report:` mapping with only `known` keys (`kind`: for which sweeps, in the
    message); ConfigError naming the file and key otherwise."""
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: report: expected a mapping")
    for key in raw:
        if key not in known:
            raise ConfigError(f"{source}: report.{key}: unknown key{kind} (known: {', '.join(known)})")
    return raw
