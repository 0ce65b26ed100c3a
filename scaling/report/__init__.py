"""Reports: a sweep file becomes runs, records and the report of its stage.

- `build`: sweep file -> runs (launched or already committed) -> records -> the stage's report
  (what `scaling report` does, as a plain function for Python and notebooks);
- `pretrain`, `rl`: the report of each stage, chosen by the stage table
  (`scaling.sweep.stages`, field `report`); each has `settings(raw, source, recipes=())` and
  `write(df, out, cfg, *, runs=None, sweep_name="sweep", timings=None)`;
- `figures`: the pretraining report's figures (drawn by `scaling.plots`);
- `lawfit`: `scaling fit`'s engine over every estimator of the law registry.
"""
