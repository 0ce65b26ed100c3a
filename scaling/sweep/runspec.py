"""What a sweep file expands to: runs (`RunSpec`) of one stage, and the runs of the stages they start from."""

from __future__ import annotations

from dataclasses import dataclass, field

from scaling import config as C

DEFAULT_STAGE = "pretrain"  # a sweep file without `stage:`; a config.json or book without a stage tag


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: the resolved config and where it came from."""

    run_id: str
    label: str  # human-readable: recipe and axis values
    cfg: C.RunConfig
    point: dict  # the axis values that made this run (dotted keys)
    budget: float | None = None  # isoFLOP budget, if any
    cost: dict = field(default_factory=dict)  # the stage's cost model (scaling.flops.run_cost, rl_spec.rl_cost)
    stage: str = DEFAULT_STAGE  # a row of scaling.sweep.stages (its cfg is that stage's config type)
    upstream: tuple[RunSpec, ...] = ()  # the finished runs it starts from, one per stage of its `starts_from`

    @property
    def recipe(self) -> str:
        return self.cfg.recipe

    @property
    def pretrained(self) -> RunSpec | None:
        """The first run it starts from (an RL run: its pretraining run), or None."""
        return self.upstream[0] if self.upstream else None


@dataclass(frozen=True)
class Sweep:
    name: str
    source: str
    runs: list[RunSpec]  # the runs of the sweep's own stage
    resources: dict
    raw: dict  # the parsed sweep file
    stage: str = DEFAULT_STAGE
    upstream: dict[str, list[RunSpec]] = field(default_factory=dict)  # {stage: its runs} the runs start from

    @property
    def isoflop(self) -> bool:
        return "isoflop" in self.raw

    @property
    def pretrained(self) -> list[RunSpec]:
        """The runs of the upstream stages (an RL sweep: its pretraining runs), in file order."""
        return [r for runs in self.upstream.values() for r in runs]

    def runs_of(self) -> dict[str, list[RunSpec]]:
        """{stage: runs}, the upstream stages first (as declared; the launcher orders them by the graph)."""
        return {**self.upstream, self.stage: self.runs}

    @property
    def all_runs(self) -> list[RunSpec]:
        """Every run the sweep launches (upstream stages' runs first)."""
        return [r for runs in self.runs_of().values() for r in runs]
