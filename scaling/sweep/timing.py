"""Time estimates: a run costs `overhead_s + flops / flops_per_s`, a pack of runs one overhead plus
its members' FLOPs over the rate; a sweep is scheduled on N workers.

The rate and the overhead (process start, imports, compilation, evaluations) default to values
measured on a laptop-class CPU, and are re-measured from finished runs whenever a sweep folder
holds some (`calibrate`), so `plan` on a sweep that has run before predicts from this machine.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from pathlib import Path

from scaling import records
from scaling.errors import DataError

DEFAULT_FLOPS_PER_S = 2.0e9  # effective training FLOP/s of the small models on one CPU worker
DEFAULT_OVERHEAD_S = 15.0  # per run: interpreter, JAX import, compilation, evaluations
# RL runs (`stage: rl`, its row in scaling.sweep.stages): FLOPs are `scaling.sweep.rl_spec.rl_cost`'s
# compute/flops (RL training and evaluation sampling, every answer at max length); measured on
# sweeps/rl_demo.yaml (2 CPU workers: 1.8e10 FLOP/s + 41 s), rounded towards caution
RL_FLOPS_PER_S = 1.5e10
RL_OVERHEAD_S = 35.0


@dataclass(frozen=True)
class Rate:
    flops_per_s: float = DEFAULT_FLOPS_PER_S
    overhead_s: float = DEFAULT_OVERHEAD_S
    source: str = "default"

    def seconds(self, flops: float | None) -> float:
        return self.overhead_s + (flops or 0.0) / self.flops_per_s


def makespan(durations: list[float], workers: int) -> float:
    """Wall time of running `durations` on `workers` slots, longest first (greedy)."""
    workers = max(1, int(workers))
    slots = [0.0] * min(workers, max(1, len(durations)))
    heapq.heapify(slots)
    for d in sorted(durations, reverse=True):
        heapq.heappush(slots, heapq.heappop(slots) + d)
    return max(slots) if durations else 0.0


def measured_runs(sweep_dir: str | Path, default_stage: str) -> dict[str, list[tuple[float, float]]]:
    """{stage: (flops, seconds) of every run (or pack of runs: their FLOPs together, once per pack)
    the launcher saw go from nothing to committed in one attempt} (retried, preempted or resumed runs
    say nothing about a run's cost); a book without a stage is of `default_stage`."""
    out: dict[str, list] = {}
    packs: dict[str, dict] = {}
    state_dir = Path(sweep_dir) / "state"
    if not state_dir.is_dir():
        return out
    for path in sorted(state_dir.glob("*.json")):
        try:
            state = records.read_json_dict(path)
        except DataError:
            continue  # a damaged book calibrates nothing (the launch itself refuses it, naming the file)
        stage = state.get("stage", default_stage)
        if state.get("status") == "committed" and state.get("whole") and state.get("flops"):
            seconds = state.get("ended", 0) - state.get("started", 0)
            if seconds <= 0:
                continue
            if state.get("pack") and state.get("pack_flops"):
                packs.setdefault(stage, {})[state["pack"]] = (float(state["pack_flops"]), float(seconds))
            else:
                out.setdefault(stage, []).append((float(state["flops"]), float(seconds)))
    for stage, by_pack in packs.items():
        out.setdefault(stage, []).extend(by_pack.values())
    return out


def calibrate(samples: list[tuple[float, float]], fallback: Rate = Rate()) -> Rate:
    """Fit seconds = overhead + flops / rate to measured runs (least squares, both non-negative)."""
    if not samples:
        return fallback
    n = len(samples)
    mean_f = sum(f for f, _ in samples) / n
    mean_s = sum(s for _, s in samples) / n
    var_f = sum((f - mean_f) ** 2 for f, _ in samples)
    slope = sum((f - mean_f) * (s - mean_s) for f, s in samples) / var_f if var_f > 0 else 0.0
    overhead = mean_s - slope * mean_f
    if n < 3 or slope <= 0 or overhead < 0:
        # too few or too noisy to separate: keep the default overhead share, fit the rate only
        overhead = min(fallback.overhead_s, 0.8 * min(s for _, s in samples))
        work = sum(max(s - overhead, 1e-3) for _, s in samples)
        return Rate(sum(f for f, _ in samples) / work if mean_f > 0 else fallback.flops_per_s, overhead,
                    f"measured ({n} runs)")
    return Rate(1.0 / slope, overhead, f"measured ({n} runs)")
