"""The stages a sweep can run, one row each: how its runs train, are planned and reported.

A stage is a kind of run (pretraining, RL, ...). A sweep declares the stage of its runs; a stage
that starts from another stage's finished runs names it (`starts_from`), and the launcher runs
the upstream stage first, in its own folder under the sweep folder. Everything that differs
between stages is a field here, so the rest of the code asks the row, never compares names.

(Skeleton: the seams issue fills in expansion, folders and the graph.)
"""

from __future__ import annotations

from dataclasses import dataclass

from scaling.errors import ConfigError
from scaling.sweep.timing import RL_FLOPS_PER_S, RL_OVERHEAD_S, Rate


@dataclass(frozen=True)
class Stage:
    name: str
    trainer: str  # "module:function" a worker calls with a run folder
    report: str  # module with settings(...) and write(...) for a sweep whose runs are of this stage
    rate: Rate = Rate()  # time-estimate defaults before any run of the stage is measured
    starts_from: str | None = None  # the stage whose finished runs this stage's runs start from
    folder: str = ""  # sub-folder of the sweep folder holding this stage's runs when it is upstream


STAGES = {
    "pretrain": Stage("pretrain", trainer="scaling.train:train", report="scaling.report.pretrain",
                      folder="pretrained"),
    "rl": Stage("rl", trainer="scaling.rl.run:train", report="scaling.report.rl",
                rate=Rate(RL_FLOPS_PER_S, RL_OVERHEAD_S), starts_from="pretrain"),
}


def get(name: str) -> Stage:
    try:
        return STAGES[name]
    except KeyError:
        raise ConfigError(f"stage: unknown stage {name!r} (choose from {', '.join(STAGES)})") from None
