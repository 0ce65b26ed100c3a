"""The life of one run folder, shared by pretraining (lone runs and packs) and RL.

    new     config.json written, nothing trained
    resume  config matches, not committed: restart from the newest checkpoint (or from step 0),
            dropping the records made after it (the resumed run makes them again, so a record's
            key stays unique)
    done    summary.json present: the run is committed and is never trained again

`open_run` checks or creates the folder and says where training starts; the trainer restores its
state from `restore`, checkpoints with `save` at its cadence, and ends with `commit` (done: with the
final parameters; diverged: at the first non-finite step, `first_bad`). Nothing here imports JAX
at module level; the checkpoint format is `scaling.checkpoint`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from scaling import checkpoint, records


@dataclass
class RunFolder:
    path: Path
    run_id: str
    state: str  # new | resume | done
    start: int = 0  # the step training resumes from (a checkpoint's step, else 0)
    kept: list = field(default_factory=list)  # records made up to `start`

    @property
    def done(self) -> bool:
        return self.state == "done"

    def summary(self) -> dict | None:
        return records.read_summary(self.path)

    def restore(self, template: Any) -> tuple[Any, dict]:
        """(state shaped like `template`, meta) saved at `start`; (template, {}) for a fresh run."""
        if self.start == 0:
            return template, {}
        return checkpoint.restore(self.path, self.start, template)

    def restore_meta(self) -> dict:
        """The counters saved with the checkpoint at `start` ({} for a fresh run), without the state."""
        return checkpoint.restore_meta(self.path, self.start) if self.start else {}

    def save(self, step: int, state: Any, meta: dict, prune_older: bool = True) -> None:
        checkpoint.save(self.path, step, state, meta, prune_older)

    def prune(self, keep: int) -> None:
        checkpoint.prune(self.path, keep)

    def commit(self, summary: dict, final_params: Any = None) -> dict:
        """Save the final parameters (a `done` run), write the summary (the commit marker), drop the
        checkpoint; returns the summary as committed (with its provenance)."""
        if final_params is not None:
            checkpoint.save_final(self.path, final_params)
        records.write_summary(self.path, summary)
        checkpoint.clear(self.path)
        return records.read_summary(self.path)


def open_run(run_dir: str | Path, config: dict, run_id: str,
             step_of: Callable[[dict], int] = lambda rec: rec["step"], at: int | None = None) -> RunFolder:
    """Check or create `run_dir` for `config` and find where training starts.

    `step_of(record)`: where in the run a record was made (a cooldown branch's record counts at the
    step it left the main line). Raises ConfigError, touching nothing, if the folder holds a run of
    another config. `at`: resume from the checkpoint at this step (one every member of a pack
    has), if there is one; default the newest."""
    run_dir = Path(run_dir)
    state = records.prepare_run_dir(run_dir, config, run_id)
    folder = RunFolder(run_dir, run_id, state)
    if folder.done:
        return folder
    found = checkpoint.steps(run_dir) if state == "resume" else []
    ckpt = at if at in found else (found[-1] if found else None)
    folder.start = ckpt or 0
    folder.kept = [r for r in records.read_metrics(run_dir) if ckpt is not None and step_of(r) <= folder.start]
    records.rewrite_metrics(run_dir, folder.kept)
    if ckpt is None:
        checkpoint.clear(run_dir)
    return folder


def first_bad(*values) -> int | None:
    """The NaN guard: index of the first position where any of `values` (equal-length sequences) is
    not finite, else None."""
    ok = np.ones(len(values[0]), bool)
    for v in values:
        ok &= np.isfinite(np.asarray(v, np.float64))
    return None if ok.all() else int(np.argmin(ok))
