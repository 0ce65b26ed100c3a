"""A small RL sweep runner (until the sweep launcher takes RL runs): pretrain each named config
once, then run every RL grid point from every pretrained model. Resumable: finished runs are
skipped, interrupted ones resume from their checkpoints (both stages).

    name:        label (default: the file's stem)
    description: free text
    pretrained:  list of pretraining configs as {dotted scaling.config key: value} (required)
    rl:          the base RL config (scaling.rl.config keys, nested or dotted)
    grid:        {dotted RL key: [values]}: the cartesian product of the axes

Layout: <out>/pretrained/<run id>/ (pretraining runs), <out>/runs/<rl run id>/ (RL runs, each with a
spec.json holding its label and grid point), so `scaling.records.load(<out>)` reads the RL runs.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from scaling import config as C
from scaling import records
from scaling.errors import ConfigError
from scaling.rl import config as R

TOP_KEYS = ("name", "description", "pretrained", "rl", "grid")


def load_sweep(path: str | Path) -> dict:
    """Parse and validate the whole sweep file: {"name", "pretrained": [RunConfig], "points":
    [(label, dotted overrides, RLConfig)]}. ConfigError naming the file and key."""
    path = Path(path)
    raw = C.read_mapping(path)
    for key in raw:
        if key not in TOP_KEYS:
            raise ConfigError(f"{path}: {key}: unknown top-level key (known: {', '.join(TOP_KEYS)})")
    pre = raw.get("pretrained")
    if not isinstance(pre, list) or not pre or not all(isinstance(p, dict) for p in pre):
        raise ConfigError(f"{path}: pretrained: expected a non-empty list of {{config key: value}} mappings")
    pretrained = [C.build({}, p, source=f"{path}: pretrained[{i}]") for i, p in enumerate(pre)]
    base = raw.get("rl") or {}
    if not isinstance(base, dict):
        raise ConfigError(f"{path}: rl: expected a mapping")
    grid = raw.get("grid") or {}
    if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
        raise ConfigError(f"{path}: grid: expected {{key: [values]}} with non-empty lists")
    points = []
    for values in itertools.product(*grid.values()):
        point = dict(zip(grid, values))
        label = " ".join(f"{k}={v}" for k, v in point.items()) or "base"
        cfg = R.build(C.apply_overrides(base, {}), point, source=f"{path}: {label}")
        points.append((label, point, cfg))
    return {"name": raw.get("name") or path.stem, "pretrained": pretrained, "points": points}


def run_sweep(spec: dict, out: str | Path, echo=None):
    """Run the sweep into `out`; yields one row per RL run: label, run_dir, status, final record."""
    from scaling.rl.run import run
    from scaling.train import train

    out = Path(out)
    for pcfg in spec["pretrained"]:
        pre_dir = out / "pretrained" / C.run_id(pcfg)
        if echo:
            echo(f"pretrain {C.run_id(pcfg)}  width={pcfg.model.width} tokens={pcfg.train.tokens}")
        summary = train(pcfg, pre_dir)
        if summary["status"] != "done":
            raise ConfigError(f"{pre_dir}: pretraining ended with status {summary['status']!r}")
        for label, point, cfg in spec["points"]:
            bound = R.with_pretrained(cfg, C.run_id(pcfg))
            run_dir = out / "runs" / R.run_id(bound)
            full = f"width={pcfg.model.width} {label}"
            if echo:
                echo(f"rl {R.run_id(bound)}  {full}")
            run_dir.mkdir(parents=True, exist_ok=True)
            records.atomic_write_json(run_dir / "spec.json", {"label": full, "point": point,
                                                             "pretrained": C.run_id(pcfg), "sweep": spec["name"]})
            summary = run(bound, run_dir, pre_dir)
            yield {"label": full, "run_dir": str(run_dir), "status": summary["status"], "final": summary.get("final")}
