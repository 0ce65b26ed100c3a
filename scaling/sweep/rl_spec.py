"""RL sweeps (`stage: rl`): expansion into runs bound to their pretrained runs, and the RL cost model.

The format is described in `scaling.sweep.spec` (the `pretrained:` list and axis); `spec.expand`
hands a sweep with `stage: rl` to `expand_rl` (the RL row of `scaling.sweep.stages`).
"""

from __future__ import annotations

import math
from typing import Any

from scaling import config as C
from scaling import flops as F
from scaling.errors import ConfigError
from scaling.schedule import rl_eval_steps
from scaling.sweep.grid import axes, excludes, grid_points, matches, recipe_axis, recipes
from scaling.sweep.keys import fmt
from scaling.sweep.pretrain_spec import pretrained_list
from scaling.sweep.resources import parse_resources
from scaling.sweep.runspec import RunSpec, Sweep


def _rl():
    # imported only for RL sweeps: the scaling.rl package imports JAX, kept out of the light launcher
    from scaling.rl import config as R

    return R


def rl_config_keys() -> set[str]:
    R = _rl()
    return set(C.flatten(C.to_dict(R.RLConfig())))


def _rl_build(data: dict, overrides: dict, source: str):
    """`scaling.rl.config.build`, but a string given for a string-typed key (problems.tiers: "2",
    eval.k: "1") stays a string instead of being parsed as YAML."""
    R = _rl()
    text_keys = {k for k, v in C.flatten(C.to_dict(R.RLConfig())).items() if isinstance(v, str)}
    data = C.apply_overrides(data, {k: v for k, v in overrides.items() if k not in text_keys})
    for key, value in overrides.items():
        if key in text_keys:
            node = data
            for part in key.split(".")[:-1]:
                node = node.setdefault(part, {})
            node[key.split(".")[-1]] = value
    return R.build(data, source=source)


def _pretrained_index(value: Any, labels: list[str], where: str) -> int:
    """An axis/exclude value naming a pretrained entry (its index or its label) -> the index."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(labels):
        return value
    if isinstance(value, str):
        if value in labels:
            return labels.index(value)
        if value.isdigit() and int(value) < len(labels):
            return int(value)
    known = ", ".join(f"{i}" + (f" ({lab})" if lab != str(i) else "") for i, lab in enumerate(labels))
    raise ConfigError(f"{where}: no pretrained model {value!r} (pretrained: {known})")


def expand_rl(raw: dict, path: str, name: str, stage: str) -> Sweep:
    """An RL sweep -> its RL runs (of `stage`), each bound to one run of the `pretrained:` list."""
    R = _rl()
    if "isoflop" in raw:
        raise ConfigError(f"{path}: isoflop: not available with `stage: rl` (RL runs are sized by steps)")
    pretrained = pretrained_list(raw, path)
    labels = [label for label, _ in pretrained]
    reserved = {"recipe": "`recipe` is the recipe's name; do not set it inside a recipe",
                "pretrained": "`pretrained` is chosen by the `pretrained:` list (or a `pretrained` axis); "
                              "do not set it inside a recipe"}
    named = recipes(raw, path, build=_rl_build, reserved=reserved)
    allowed = rl_config_keys()
    groups = axes(raw, path, allowed)
    for gi, (keys, rows) in enumerate(groups):
        if "pretrained" in keys:
            col = keys.index("pretrained")
            where = f"{path}: axis pretrained"
            groups[gi] = (keys, [row[:col] + (_pretrained_index(row[col], labels, where),) + row[col + 1:]
                                 for row in rows])
    axis_keys = [k for keys, _ in groups for k in keys]
    recipe_axis(groups, axis_keys, named, path)
    if "pretrained" not in axis_keys:
        groups.insert(1, (["pretrained"], [(i,) for i in range(len(pretrained))]))
    dropped = excludes(raw, path, allowed)
    for i, ex in enumerate(dropped):
        if "pretrained" in ex:
            ex["pretrained"] = _pretrained_index(ex["pretrained"], labels, f"{path}: exclude[{i}].pretrained")
    resources = parse_resources(raw, path)

    runs: list[RunSpec] = []
    seen: set[str] = set()
    for point in grid_points(groups):
        recipe, index = str(point["recipe"]), point["pretrained"]
        if any(matches({**named[recipe], **point}, ex) for ex in dropped):
            continue
        pre_label, pre = pretrained[index]
        shown = {**point, "pretrained": pre_label}
        label = " ".join([recipe] + [f"{k}={fmt(v)}" for k, v in shown.items() if k != "recipe"])
        where = f"{path}: run {label}"
        overrides = {**named[recipe], **{k: v for k, v in point.items() if k not in ("recipe", "pretrained")}}
        cfg = R.with_pretrained(_rl_build({"recipe": recipe}, overrides, source=where), pre.run_id)
        rid = R.run_id(cfg)
        resolved = {**C.flatten(C.to_dict(cfg)), "pretrained": index}
        if rid in seen or any(matches(resolved, ex) for ex in dropped):
            continue
        seen.add(rid)
        runs.append(RunSpec(run_id=rid, label=label, cfg=cfg, point=point, cost=rl_cost(cfg, pre.cfg),
                            stage=stage, upstream=(pre,)))
    if not runs:
        raise ConfigError(f"{path}: the sweep holds no runs (every grid point is excluded)")
    used = {r.pretrained.run_id for r in runs}
    starts = [spec for _, spec in pretrained if spec.run_id in used]  # an unused pretrained model is not trained
    return Sweep(name=str(raw.get("name") or name), source=path, runs=runs, resources=resources, raw=raw,
                 stage=stage, upstream={starts[0].stage: starts})


def rl_cost(cfg, model_cfg: C.RunConfig) -> dict:
    """An RL run's estimated compute (`scaling.rl.flops`), with every answer at `sampling.max_len`
    (an upper bound: sampling stops when every answer of a batch has ended).

    rl/flops: the RL training compute the records count (sampling + update + reference);
    rl/flops_eval: the evaluations' sampling; compute/flops: both, the work the time estimate uses."""
    from scaling.rl import flops as RF  # only for RL sweeps: the scaling.rl package imports JAX

    s, g, e, p = cfg.sampling, cfg.grpo, cfg.eval, cfg.problems
    step = RF.step_flops(model_cfg, g.problems, s.group, s.max_len, g.updates, g.kl > 0)
    train = cfg.steps * step["rl/flops"]

    def sampled(n_problems: int) -> float:  # one evaluation of a problem set, in fixed-shape chunks
        rows = math.ceil(n_problems / e.chunk) * e.chunk
        return rows * RF.prefill(model_cfg) + s.max_len * rows * e.samples * RF.decode_step(model_cfg)

    evals = 1 + len(rl_eval_steps(cfg))  # step 0, then the one schedule (`scaling.schedule`)
    per_eval = sampled(min(e.train_problems or p.train, p.train)) + sampled(p.heldout)
    return {"rl/flops": train, "rl/flops_2n6n": cfg.steps * step["rl/flops_2n6n"], "rl/flops_eval": evals * per_eval,
            "compute/flops": train + evals * per_eval, "params/total": F.params(model_cfg)["total"],
            "steps": cfg.steps, "rl/rollouts": cfg.steps * g.problems * s.group}


def stored_config(spec: RunSpec) -> dict:
    """An RL run's config.json (without run_id), as `scaling.rl.run` writes it."""
    return {"stage": spec.stage, **C.to_dict(spec.cfg), "pretrained_config": C.to_dict(spec.pretrained.cfg)}


def read_config(data: dict, source: str):
    """An RL run's config.json (without run_id) -> its RLConfig."""
    R = _rl()
    return R.build({k: v for k, v in data.items() if k not in ("stage", "pretrained_config")}, source=source)


def run_id(cfg) -> str:
    return _rl().run_id(cfg)
