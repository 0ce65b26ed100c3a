"""The stages a sweep can run, one row each: how its runs are expanded, stored, trained, planned and reported.

A stage is a kind of run (pretraining, RL, ...). A sweep file names the stage of its runs (`stage:`,
default `pretrain`); a stage that starts from other stages' finished runs names them (`starts_from`),
and the launcher runs the stages in dependency order (`lineage`), each stage the sweep starts from in
its own folder under the sweep folder (`folders`; runs at `layout.run_dir`). Everything that differs
between stages is a field here, so the rest of the code asks the row, never compares names.

A new stage is one row (and the functions it names): e.g. pretrain -> sft -> rl is an `sft` row with
`starts_from=("pretrain",)` and rl's `starts_from=("sft",)`; an adapter joining a separately pretrained
encoder and language model is a row with `starts_from=("encoder", "text")`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from scaling import config as C
from scaling.errors import ConfigError
from scaling.pack import pack_key
from scaling.sweep import layout, pretrain_spec, rl_spec
from scaling.sweep.runspec import DEFAULT_STAGE, RunSpec, Sweep
from scaling.sweep.timing import RL_FLOPS_PER_S, RL_OVERHEAD_S, Rate

RL_TRAINER = "scaling.rl.run:train"


@dataclass(frozen=True)
class Stage:
    name: str
    trainer: str  # "module:function" a worker calls with (cfg, run_dir)
    report: str  # module with settings(...) and write(...) for a sweep whose runs are of this stage
    expand: Callable[[dict, str, str, str], Sweep]  # (sweep file mapping, source, name, stage) -> Sweep
    stored_config: Callable[[RunSpec], dict]  # what a run's config.json holds (without run_id)
    read_config: Callable[[dict, str], Any]  # config.json (without run_id), source -> the stage's config
    run_id: Callable[[Any], str]  # the stage's config -> its run id (checked against config.json)
    rate: Rate = Rate()  # time-estimate defaults before any run of the stage is measured
    starts_from: tuple[str, ...] = ()  # the stages whose finished runs this stage's runs start from
    folder: str = ""  # sub-folder of the sweep folder holding its runs when upstream; also the key that
    #                   names its run in the spec.json of a run starting from it (`<folder>`, `_label`, `_dir`)
    tagged: bool = False  # spec.json names the stage (pretraining's files predate stages: untagged)
    pack_key: Callable[[Any], object] | None = None  # what runs must share to train in one pack; None: alone
    plan_flops: str = "compute/flops"  # the cost field `sweep plan` shows as a run's FLOPs
    plan_tokens: bool = True  # `sweep plan` shows the run's training tokens
    sweep_keys: tuple[str, ...] = ()  # top-level sweep-file keys the stage reads beyond the common ones


STAGES: dict[str, Stage] = {
    DEFAULT_STAGE: Stage(DEFAULT_STAGE, trainer="scaling.train:train", report="scaling.report.pretrain",
                         expand=pretrain_spec.expand_pretrain,
                         stored_config=pretrain_spec.stored_config, read_config=pretrain_spec.read_config,
                         run_id=C.run_id, folder=layout.PRETRAINED, pack_key=pack_key),
    "rl": Stage("rl", trainer=RL_TRAINER, report="scaling.report.rl", expand=rl_spec.expand_rl,
                stored_config=rl_spec.stored_config, read_config=rl_spec.read_config, run_id=rl_spec.run_id,
                rate=Rate(RL_FLOPS_PER_S, RL_OVERHEAD_S), starts_from=(DEFAULT_STAGE,), tagged=True,
                plan_flops="rl/flops", plan_tokens=False, sweep_keys=("pretrained",)),
}
# the launcher's --trainer / --rl-trainer options: which stage's trainer each one replaces
TRAINER_OPTIONS = {"trainer": DEFAULT_STAGE, "rl_trainer": "rl"}


def get(name: str, where: str = "stage") -> Stage:
    try:
        return STAGES[name]
    except (KeyError, TypeError):
        raise ConfigError(f"{where}: unknown stage {name!r} (choose from {', '.join(STAGES)})") from None


def of_config(data: dict) -> Stage:
    """The stage of a run from its config.json (pretraining configs carry no stage tag)."""
    return get(data.get("stage", DEFAULT_STAGE), "config.json: stage")


def lineage(name: str) -> list[str]:
    """The stage and every stage it starts from, directly or not, upstream first (a topological order;
    among independent stages, the order of `starts_from`). ConfigError for a cycle or an unknown stage."""
    order: list[str] = []

    def visit(stage: str, path: tuple[str, ...]) -> None:
        if stage in path:
            raise ConfigError(f"stage {path[0]!r}: the stages start from each other in a circle "
                              f"({' -> '.join((*path[path.index(stage):], stage))})")
        if stage in order:
            return
        where = f"stage {path[-1]!r}: starts_from" if path else "stage"
        for upstream in get(stage, where).starts_from:
            visit(upstream, (*path, stage))
        order.append(stage)

    visit(name, ())
    return order


def check(sweep: Sweep, where: str) -> None:
    """A stage's expansion must return its upstream runs for stages of its lineage, and bind every run
    to one run of each stage it starts from."""
    known = lineage(sweep.stage)
    for stage, runs in sweep.runs_of().items():
        if stage not in known:
            raise ConfigError(f"{where}: stage {sweep.stage!r} does not start from stage {stage!r}")
        wanted = get(stage).starts_from
        for run in runs:
            if run.stage != stage or tuple(u.stage for u in run.upstream) != wanted:
                raise ConfigError(f"{where}: run {run.label}: expected a {stage} run starting from "
                                  f"{', '.join(wanted) or 'nothing'}")


def launch_order(sweep: Sweep) -> list[str]:
    """The sweep's stages that hold runs, upstream first."""
    held = sweep.runs_of()
    return [s for s in lineage(sweep.stage) if s in held]


def folders(sweep: Sweep, sweep_dir: str | Path) -> dict[str, Path]:
    """{stage: the folder its runs and books live in}, in launch order: the sweep's own stage in the
    sweep folder, each stage it starts from in its sub-folder (`Stage.folder`)."""
    sweep_dir = Path(sweep_dir)
    return {s: sweep_dir if s not in sweep.upstream else layout.upstream_folder(sweep_dir, get(s).folder)
            for s in launch_order(sweep)}


def meta(spec: RunSpec) -> dict:
    """What the sweep knows about a run beyond its config (stored beside it as spec.json)."""
    out = {"run_id": spec.run_id, "label": spec.label, "point": spec.point, "budget": spec.budget}
    if get(spec.stage).tagged:
        out["stage"] = spec.stage
    for up in spec.upstream:
        key = get(up.stage).folder
        out[key] = up.run_id
        out[f"{key}_label"] = up.label
    return out


def top_keys(common: tuple[str, ...]) -> tuple[str, ...]:
    """Every top-level key a sweep file may hold: the common ones and every stage's own."""
    extra = [k for s in STAGES.values() for k in s.sweep_keys if k not in common]
    return (*common, *dict.fromkeys(extra))
