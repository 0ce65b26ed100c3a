"""`scaling testtime`: one test-time study of a finished run into a folder.

    <out>/config.json     the settings (run, M's, seeds, problems, budget) and the run's id
    <out>/records.jsonl   one row per sampling seed, M, problem and scheme (`scaling.testtime.schemes`),
                          with the device's measured decode-step time at the query's batch
    <out>/xla.jsonl       XLA's cost analysis against the analytic count, per seed, M and round
    <out>/summary.json    written last (the commit marker): means per M and scheme

Running it again with the same settings does nothing; a folder holding another study is refused.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np

from scaling import records
from scaling.errors import DataError
from scaling.rl import problems as P
from scaling.data import reasoning
from scaling.rl.config import KINDS, ProblemConfig
from scaling.testtime import latency, schemes
from scaling.testtime.runs import load_run

DEFAULT_MS = (1, 2, 4, 8, 16, 32, 64)


def problem_set(loaded, n: int, which: str, kind: str | None, problems: ProblemConfig | None = None):
    """The RL run's problem config (or `problems`, else the defaults, for a pretraining run), `kind`
    if given, n problems."""
    cfg = loaded.rl.problems if loaded.rl is not None else (problems or ProblemConfig())
    cfg = dataclasses.replace(cfg, kind=kind or cfg.kind, **{"train" if which == "train" else "heldout": n})
    return P.build(loaded.model_cfg.data, cfg, which)


def default_max_len(loaded, problems) -> int:
    """The RL run's token budget; else 6 for scene answers, or the longest worked chain + <eos>."""
    if loaded.rl is not None and (problems.kind == loaded.rl.problems.kind):
        return loaded.rl.sampling.max_len
    if problems.kind == "reasoning":
        return max(len(reasoning.solve(q).completion.split()) for q in problems.questions) + 1
    return 6


def summarise(rows: list[dict]) -> dict:
    """Means over problems and sampling seeds per M and scheme."""
    out: dict = {}
    keys = ("correct", "tt/tokens_total", "tt/tokens_critical", "tt/latency_s", "tt/batch_wall_s", "tt/flops",
            "tt/rounds", "tt/step_s")
    for scheme in schemes.SCHEMES:
        for m in sorted({r["M"] for r in rows}):
            sel = [r for r in rows if r["scheme"] == scheme and r["M"] == m]
            out.setdefault(scheme, {})[str(m)] = {k: float(np.mean([r[k] for r in sel])) for k in keys}
    return out


def check_options(ms, seeds, n_problems: int, which: str, kind: str | None, max_len: int | None,
                  temperature: float, summary_k: int, repeats: int) -> tuple[int, ...]:
    """The study's options in their domains (the M's, checked, returned), before anything is read
    or written; a DataError naming the first option outside its domain."""
    ms = schemes.check_ms(ms)
    latency.check_repeats(repeats)
    bad = [(name, value, why) for name, value, why, ok in (
        ("--seeds", next((x for x in seeds if x < 0), None), "non-negative sampling seeds",
         bool(seeds) and all(x >= 0 for x in seeds)),
        ("--problems", n_problems, "a positive number", n_problems >= 1),
        ("--max-len", max_len, "at least 2 tokens (an answer and <eos>)", max_len is None or max_len >= 2),
        ("--temperature", temperature, "a finite number above zero", math.isfinite(temperature) and temperature > 0),
        ("--summary-k", summary_k, "a positive number", summary_k >= 1),
    ) if not ok]
    if bad:
        name, value, why = bad[0]
        raise DataError(f"{name}: expected {why}, got {'nothing' if value is None else value}")
    if which not in P.SETS:
        raise DataError(f"--set: unknown problem set {which!r} (choose from {', '.join(P.SETS)})")
    if kind is not None and kind not in KINDS:
        raise DataError(f"--kind: unknown problem kind {kind!r} (choose from {', '.join(KINDS)})")
    return ms


def run(run_dir, out_dir, *, ms=DEFAULT_MS, seeds=(0,), n_problems: int = 32, which: str = "heldout",
        kind: str | None = None, max_len: int | None = None, temperature: float = 1.0, summary_k: int = 2,
        problems: ProblemConfig | None = None, repeats: int = latency.MIN_REPEATS) -> dict:
    """`problems`: a pretraining run's problem config (e.g. the one an RL run from it used, so the
    starting model is studied on the RL run's problems); an RL run always uses its own."""
    ms = check_options(ms, seeds, n_problems, which, kind, max_len, temperature, summary_k, repeats)
    records.check_out(out_dir)
    loaded = load_run(run_dir)
    try:
        problem_cfg = problems
        problems = problem_set(loaded, n_problems, which, kind, problem_cfg)
    except DataError as err:
        raise DataError(f"{run_dir}: {err}") from None
    max_len = max_len if max_len is not None else default_max_len(loaded, problems)
    settings = {"run": str(Path(run_dir).resolve()), "run_id": loaded.run_id, "stage": loaded.stage,
                "M": list(ms), "seeds": [int(s) for s in seeds], "problems": n_problems, "set": which,
                "kind": problems.kind, "max_len": int(max_len), "temperature": float(temperature),
                "summary_k": int(summary_k), "repeats": int(repeats)}
    if problem_cfg is not None and loaded.rl is None:  # only when given: earlier studies' settings stay as they were
        settings["problem_config"] = dataclasses.asdict(problem_cfg)
    out = Path(out_dir)
    if (out / records.CONFIG).is_file():
        old = records.read_json(out / records.CONFIG)
        if old != settings:
            diff = sorted(k for k in settings if old.get(k) != settings[k])
            raise DataError(f"{out}: holds another test-time study (differs in {', '.join(diff)})")
        done = records.read_summary(out)
        if done is not None:
            return done
    try:
        out.mkdir(parents=True, exist_ok=True)
        records.atomic_write_json(out / records.CONFIG, settings)
    except OSError as err:
        raise DataError(f"{out}: output folder is not writable ({err.strerror or err})") from None
    rows, xla = schemes.evaluate(loaded, problems, ms, seeds, max_len=max_len, temperature=temperature,
                                summary_k=summary_k, repeats=repeats)
    records.atomic_write_text(out / "records.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    records.atomic_write_text(out / "xla.jsonl", "".join(json.dumps(r) + "\n" for r in xla))
    summary = {"status": "done", **settings, "schemes": summarise(rows),
               "xla_ratio": [min(r["ratio"] for r in xla), max(r["ratio"] for r in xla)]}
    records.write_summary(out, summary)
    return records.read_summary(out)


def read_rows(out_dir) -> list[dict]:
    """The study's rows, each checked (`scaling.testtime.rows`: one study, well-formed, as committed)."""
    from scaling.testtime.rows import read_rows as read_checked

    return read_checked(out_dir)
