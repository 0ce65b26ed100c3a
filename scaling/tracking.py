"""Live tracking: cheap training records every k steps, between the evaluations, in their own file.

    <run_dir>/train_log.jsonl   one JSON object per k steps: step, train/loss (mean over the k
                                steps), opt/lr, opt/grad_norm (at the step), tokens/total,
                                throughput/tokens_per_s (over the k steps), time/wall_s
    <run_dir>/tensorboard/      the same scalars, and every evaluation record's, as TensorBoard
                                events (optional, off by default: `pip install 'scaling[tensorboard]'`)

The evaluation records (metrics.jsonl) stay as they are. Each record is appended with one write
(a kill leaves at most a torn last line, which readers ignore) and made durable with the
checkpoint (`sync`). On resume the log is cut back to the checkpoint's step, as metrics.jsonl is,
so steps stay unique; TensorBoard is told to drop its events past that step (`purge_step`). A
record covers the steps since the previous one; with `every` dividing the checkpoint interval a
resumed run writes the same records as an uninterrupted one.

    log = tracking.TrainLog(run_dir, every=cfg.train.log_every, start=start, tokens_per_step=cost.tokens,
                            tensorboard=cfg.train.tensorboard)
    for step in range(start, steps):
        loss, gnorm = trainer.step(step)
        log.step(step + 1, loss=loss, lr=trainer.lr(step), grad_norm=gnorm)
        # or, where losses stay on the device: at each sync point (and at every k-th step),
        # log.add(step + 1, loss_sum, count, lr=..., grad_norm=...)
        ...
        if checkpointing:
            log.sync()
            checkpoint.save(...)
    log.close()
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

from scaling import records
from scaling.errors import ConfigError

TRAIN_LOG = "train_log.jsonl"
TENSORBOARD = "tensorboard"


def read(run_dir: str | Path) -> list[dict]:
    """The train-log records of a run (torn last line ignored)."""
    return records.read_jsonl(Path(run_dir) / TRAIN_LOG)


class TensorBoardSink:
    """Scalars of every record it is given, as TensorBoard events under `<run_dir>/tensorboard/`."""

    def __init__(self, run_dir: str | Path, start: int = 0):
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ConfigError("train.tensorboard: tensorboardX is not installed "
                              "(pip install 'scaling[tensorboard]')") from None
        self.writer = SummaryWriter(str(Path(run_dir) / TENSORBOARD), purge_step=start or None)

    def write(self, record: dict) -> None:
        step = int(record["step"])
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and math.isfinite(value):
                self.writer.add_scalar(key, value, step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class TrainLog:
    """Train-loss, learning-rate, grad-norm and throughput records every `every` steps (0: off),
    to train_log.jsonl and, with `tensorboard`, to TensorBoard. `start`: the step the run resumes
    from (records past it are dropped); `wall_s`: the run's wall time at `start`."""

    def __init__(self, run_dir: str | Path, every: int, *, start: int = 0, tokens_per_step: int = 0,
                 wall_s: float | None = None, tensorboard: bool = False, clock=time.perf_counter):
        if every < 0:
            raise ConfigError(f"train.log_every: must be non-negative (0: off), got {every}")
        self.path = Path(run_dir) / TRAIN_LOG
        self.every, self.tokens_per_step, self.clock = int(every), int(tokens_per_step), clock
        kept = [r for r in read(run_dir) if r["step"] <= start]
        if self.path.exists():
            records.rewrite_jsonl(self.path, kept)
        if wall_s is None:  # the run's wall time at `start` (the checkpoint's), else the last record's
            wall_s = (kept[-1].get("time/wall_s") or 0.0) if kept else 0.0
        self.wall0 = float(wall_s)
        self.t0 = self.t_window = clock()
        self.sinks = [TensorBoardSink(run_dir, start)] if tensorboard else []
        self._sum = 0.0
        self._n = 0

    def step(self, step: int, *, loss: float, lr: float | None = None, grad_norm: float | None = None,
             **extra: float) -> dict | None:
        """Account one finished step (1-based `step`) of a loop that has its loss on the host."""
        return self.add(step, float(loss), 1, lr=lr, grad_norm=grad_norm, **extra)

    def add(self, step: int, loss_sum: float, count: float, *, lr: float | None = None,
            grad_norm: float | None = None, **extra: float) -> dict | None:
        """Account `count` finished steps ending at `step` whose losses sum to `loss_sum` (a loop that
        keeps losses on the device calls this at its sync points); at every `every`-th step, write
        the record of the steps since the last one and return it."""
        if not self.every:
            return None
        self._sum += float(loss_sum)
        self._n += count
        if step % self.every or not self._n:
            return None
        now = self.clock()
        window = now - self.t_window
        rec = {"step": int(step), "train/loss": self._sum / self._n,
               "opt/lr": None if lr is None else float(lr),
               "opt/grad_norm": None if grad_norm is None else float(grad_norm),
               "tokens/total": step * self.tokens_per_step,
               "throughput/tokens_per_s": self._n * self.tokens_per_step / window if window > 0 else None,
               "time/wall_s": self.wall0 + now - self.t0, **{k: float(v) for k, v in extra.items()}}
        records.append_jsonl(self.path, rec)
        for sink in self.sinks:
            sink.write(rec)
        self._sum, self._n, self.t_window = 0.0, 0, now
        return rec

    def window(self) -> dict[str, float]:
        """The partial window since the last record (save it with a checkpoint: `meta`)."""
        return {"log_sum": self._sum, "log_n": float(self._n)}

    def resume(self, meta: dict) -> None:
        """Continue the partial window a checkpoint saved (`window`), so a resumed run logs the same."""
        self._sum, self._n = float(meta.get("log_sum", 0.0)), int(meta.get("log_n", 0))

    def evaluation(self, record: dict) -> None:
        """Pass an evaluation record (metrics.jsonl's) on to the sinks, so TensorBoard shows both."""
        for sink in self.sinks:
            sink.write(record)

    def sync(self) -> None:
        """Make every record so far durable (call before saving a checkpoint)."""
        if self.path.exists():
            with open(self.path, "rb+") as handle:
                os.fsync(handle.fileno())
        for sink in self.sinks:
            sink.flush()

    def close(self) -> None:
        self.sync()
        for sink in self.sinks:
            sink.close()
