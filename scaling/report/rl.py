"""An RL sweep's report (`scaling report` on a sweep of RL runs; `scaling.report.build` picks it by
the stage table): length under pressure, pass@k against RL compute, and test-time scaling of one
of its runs.

The sweep file's optional `report:` section:

    report:
      group: grpo.length_coef            # analyse each value apart (default: the whole sweep at once)
      length: eval/think/heldout/mean    # the length column (default eval/length/heldout)
      min_seg: 2                         # distinct computes per segment of the phase fits (default 3)
      bootstrap: 400                     # resamples of every claim
      testtime:                          # optional: a test-time study of one RL run
        run: {grpo.length_coef: 0.5, seed: 0}   # config values that pick exactly one run
        m: "1,2,4,8,16,32,64"
        problems: 32
        seeds: "0,1"
        set: heldout
        start: true                      # also study the run's starting model (its pretrained run)

Written to the report folder: summary.md and results.json, with the length trajectories per group
and seed (start, shortest, longest, end), the phase claim (`scaling claim phases`), the log-linear
claim on held-out pass@1 and pass@16 (`scaling claim loglinear`), and, with `testtime`, the study's
table and the parallel claim for each scheme (`scaling claim parallel`: coverage law, vote null,
critical-path tokens and latency at M = 1 and M_max). The study's records go to
<sweep folder>/testtime/<run id>/ (resumable: a finished study is read back, not rerun).

Controls: beside every held-out pass@k the report puts the starting model's sampled and greedy
pass@1 and the question-blind guess baseline (`scaling.rl.guess`), and judges the gain claim
(`scaling claim gain`) for every recipe against them and against the random-reward arm (the runs
with grpo.reward=random, which are kept out of the trajectories' claims). With `testtime.start`
the study is repeated on the RL run's starting model, on the same problems and token budget
(records in <sweep folder>/testtime/<run id>-start/), so what RL changed is read against it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from scaling.claims import registry as claims
from scaling.report import section
from scaling.sweep import layout
from scaling.errors import ConfigError, DataError
from scaling.records import atomic_write_json, atomic_write_text, jsonable

REPORT_KEYS = ("group", "length", "min_seg", "bootstrap", "testtime")
TESTTIME_KEYS = ("run", "m", "problems", "seeds", "set", "start")
PASS = ("eval/pass@1/heldout", "eval/pass@16/heldout")
GREEDY, GUESS = "eval/greedy/pass@1/heldout", "eval/guess/pass@{k}/heldout"
X = "rl/flops"


def _ints(value, key: str) -> list[int]:
    try:
        out = [int(t) for t in str(value).replace(" ", "").split(",") if t]
    except ValueError:
        raise ConfigError(f"{key}: expected comma-separated integers, got {value!r}") from None
    if not out:
        raise ConfigError(f"{key}: empty list")
    return out


def settings(raw: dict | None, source: str, recipes=()) -> dict:
    """Validate an RL sweep's `report:` section (`recipes` is not used here); errors name the file and key."""
    raw = section(raw, source, REPORT_KEYS, " for an RL sweep")
    out = {"group": raw.get("group"), "length": str(raw.get("length", "eval/length/heldout")),
           "min_seg": raw.get("min_seg", 3), "bootstrap": raw.get("bootstrap", 400), "testtime": None}
    for key, low in (("min_seg", 2), ("bootstrap", 10)):
        if isinstance(out[key], bool) or not isinstance(out[key], int) or out[key] < low:
            raise ConfigError(f"{source}: report.{key}: expected an integer of at least {low}, got {out[key]!r}")
    tt = raw.get("testtime")
    if tt is not None:
        where = f"{source}: report.testtime"
        if not isinstance(tt, dict) or not isinstance(tt.get("run"), dict) or not tt["run"]:
            raise ConfigError(f"{where}: expected {{run: {{KEY: VALUE, ...}}[, m, problems, seeds, set]}}")
        for key in tt:
            if key not in TESTTIME_KEYS:
                raise ConfigError(f"{where}.{key}: unknown key (known: {', '.join(TESTTIME_KEYS)})")
        ms = _ints(tt.get("m", "1,2,4,8,16,32,64"), f"{where}.m")
        problems = tt.get("problems", 32)
        if isinstance(problems, bool) or not isinstance(problems, int) or problems <= 0:
            raise ConfigError(f"{where}.problems: expected a positive integer, got {problems!r}")
        start = tt.get("start", False)
        if not isinstance(start, bool):
            raise ConfigError(f"{where}.start: expected true or false, got {start!r}")
        out["testtime"] = {"run": dict(tt["run"]), "m": ms, "problems": problems, "start": start,
                           "seeds": _ints(tt.get("seeds", "0"), f"{where}.seeds"), "set": str(tt.get("set", "heldout"))}
    return out


def trajectories(df: pd.DataFrame, y: str, group: str | None) -> list[dict]:
    """Per group value, recipe and seed: the length at the start, its shortest and longest (with
    the RL compute there) and at the end, held-out pass@1 / pass@16 at the start and the end, and
    their controls (the starting model's greedy pass@1, the guess baseline)."""
    out = []
    for gname, g in (df.groupby(group, sort=True) if group else [("all", df)]):
        g = g if "recipe" in g.columns else g.assign(recipe="")
        for (recipe, seed), s in g.groupby(["recipe", "seed"], sort=True):
            s = s.sort_values("step")
            v, c = s[y].to_numpy(float), s[X].to_numpy(float)
            lo, hi = int(np.nanargmin(v)), int(np.nanargmax(v))
            row = {"group": gname, "recipe": recipe, "seed": int(seed),
                   "start": v[0], "min": v[lo], "min_at": c[lo], "max": v[hi], "max_at": c[hi], "end": v[-1],
                   "end_at": c[-1]}
            for p in PASS:
                if p in s.columns:
                    row[f"{p}@start"], row[f"{p}@end"] = float(s[p].iloc[0]), float(s[p].iloc[-1])
                guess = GUESS.format(k=p.split("@")[1].split("/")[0])
                row[f"{p}@guess"] = float(s[guess].iloc[0]) if guess in s.columns else np.nan
            row["greedy@start"] = float(s[GREEDY].iloc[0]) if GREEDY in s.columns else np.nan
            out.append(row)
    return out


def random_arm(df: pd.DataFrame) -> pd.Series:
    """Rows of the random-reward control arm (grpo.reward=random): no RL claim but the gain claim reads them."""
    return df["grpo.reward"].astype(str) == "random" if "grpo.reward" in df.columns else pd.Series(False, df.index)


def controls_table(traj: list[dict], group: str | None) -> list[str]:
    """Markdown: per group and recipe, mean over seeds of held-out pass@k at the end beside its
    controls (the starting model sampled and greedy, the guess baseline)."""
    md = ["", "## Pass@k beside its controls (held-out, mean over seeds)", "",
          "Greedy: the starting model decoded at temperature 0 (its pass@k is its pass@1). Guess: a sampler "
          "that never reads the question's contents, drawing from the answer prior of its form.", "",
          f"| {group or 'group'} | recipe | seeds | metric | end | start (sampled) | start (greedy) | guess |",
          "| --- " * 8 + "|"]
    keys = sorted({(t["group"], t["recipe"]) for t in traj}, key=str)
    for gname, recipe in keys:
        rows = [t for t in traj if (t["group"], t["recipe"]) == (gname, recipe)]
        for p in PASS:
            mean = lambda k: float(pd.Series([t.get(k, np.nan) for t in rows], dtype=float).mean())  # noqa: E731
            if np.isnan(mean(p + "@end")):
                continue
            md.append(f"| {gname} | {recipe} | {len(rows)} | {p} | {mean(p + '@end'):.3f} | {mean(p + '@start'):.3f} | "
                      f"{mean('greedy@start'):.3f} | {mean(p + '@guess'):.3f} |")
    return md


def pick_run(df: pd.DataFrame, want: dict) -> str:
    """The one run whose config matches every KEY: VALUE of `want` (ConfigError otherwise)."""
    sel = df
    for key, value in want.items():
        if key not in df.columns:
            raise ConfigError(f"report.testtime.run.{key}: not a column of the RL records")
        col = sel[key]
        match = (pd.to_numeric(col, errors="coerce") == float(value)) if isinstance(value, (int, float)) \
            else (col.astype(str) == str(value))
        sel = sel[match]
    ids = sorted(sel["run_id"].unique())
    if len(ids) != 1:
        raise ConfigError(f"report.testtime.run: {want} matches {len(ids)} runs, not one")
    return ids[0]


def _judge(res: dict, name: str, data, **options):
    """A claim through the registry: its verdict record joins `res["verdicts"]`; returns the result
    (a claim the data cannot support comes back "not judged", with the reason)."""
    r = claims.judge_or_refuse(name, data, **options)
    res["verdicts"].append(r.to_record())
    return r


def write(df: pd.DataFrame, out: str | Path, cfg: dict, *, runs: str | Path | None = None,
          sweep_name: str = "sweep", timings: dict | None = None) -> dict:
    """The report's claims and study into `out` (summary.md, results.json); returns the results.
    `runs`: the sweep folder (the test-time study reads its runs and writes its records there)."""
    import time

    t0 = time.monotonic()
    runs, out, timings = Path(runs) if runs is not None else None, Path(out), dict(timings or {})
    group, y, n_boot = cfg["group"], cfg["length"], cfg["bootstrap"]
    for col in [X, y, "seed", *([group] if group else [])]:
        if col not in df.columns:
            raise DataError(f"{runs}: the RL records have no column {col!r}")
    res = {"sweep": sweep_name, "runs": int(df["run_id"].nunique()), "length": y, "group": group,
           "trajectories": trajectories(df, y, group), "verdicts": []}
    rl_rows = df[~random_arm(df)]  # the trajectories' claims are about RL with the verifier
    phases = _judge(res, "phases", rl_rows, x=X, y=[y], seed_col="seed", group=group, n_boot=n_boot,
                    min_seg=cfg["min_seg"])
    loglinear = _judge(res, "loglinear", rl_rows, x=X, y=[p for p in PASS if p in df.columns], group=group,
                       run_col="run_id", n_boot=max(n_boot, 100))
    for name, r in (("phases", phases), ("loglinear", loglinear)):
        res[name], res[f"{name}_refused"] = (dict(r.details), None) if r.details else (None, "; ".join(r.refusals))
    recipes = sorted(map(str, rl_rows["recipe"].unique())) if "recipe" in df.columns else [None]
    gains = [_judge(res, "gain", df, y=[p for p in PASS if p in df.columns] or list(PASS[:1]), candidate=c,
                    group=group, n_boot=max(n_boot, 200)) for c in recipes]
    res["gain"] = [{"candidate": g.options["candidate"], "verdict": g.verdict,
                    "details": dict(g.details) or None, "refused": "; ".join(g.refusals) or None} for g in gains]
    timings["claims"] = time.monotonic() - t0
    md = [f"# {sweep_name}: RL and test-time report", "",
          f"{res['runs']} RL runs; length column `{y}`; compute = exact RL FLOPs (`{X}`)."]
    md += ["", "## Length trajectories (start, shortest, longest, end)", "",
           f"| {group or 'group'} | recipe | seed | start | shortest (at FLOPs) | longest (at FLOPs) | end (at FLOPs) | "
           "pass@1 held-out start -> end | pass@16 held-out start -> end |", "| --- " * 9 + "|"]
    for t in res["trajectories"]:
        p1 = f"{t.get(PASS[0] + '@start', np.nan):.3f} -> {t.get(PASS[0] + '@end', np.nan):.3f}"
        p16 = f"{t.get(PASS[1] + '@start', np.nan):.3f} -> {t.get(PASS[1] + '@end', np.nan):.3f}"
        md.append(f"| {t['group']} | {t['recipe']} | {t['seed']} | {t['start']:.3f} | {t['min']:.3f} ({t['min_at']:.3g}) | "
                  f"{t['max']:.3f} ({t['max_at']:.3g}) | {t['end']:.3f} ({t['end_at']:.3g}) | {p1} | {p16} |")
    md += controls_table(res["trajectories"], group)
    md += ["", "## Phase claim", "", "```", *phases.lines, "```"]
    md += ["", "## Log-linear claim (held-out pass@k against RL compute)", "", "```", *loglinear.lines, "```"]
    md += ["", "## Gain claim (held-out pass@k beyond the controls)", ""]
    for g in gains:
        md += ["```", *g.lines, "```"]
    tt = cfg["testtime"]
    if tt is not None:
        if runs is None:
            raise ConfigError("report.testtime: the study needs the sweep folder (runs=...)")
        md += _testtime(df, runs, tt, n_boot, res, timings)
    res["timings_s"] = timings
    md.insert(3, "Wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()) + ".")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "results.json", jsonable(res))
    atomic_write_text(out / "summary.md", "\n".join(md) + "\n")
    return res


def _testtime(df, runs: Path, tt: dict, n_boot: int, res: dict, timings: dict) -> list[str]:
    import time

    from scaling.claims.parallel import coverage_law, vote_null
    from scaling.claims.text import testtime_lines
    from scaling.testtime import run as study
    from scaling.testtime.study import read_rows

    t0 = time.monotonic()
    rid = pick_run(df, tt["run"])
    run_dir = layout.run_dir(runs, rid)
    studies = [("testtime", rid, run_dir, {})]
    if tt["start"]:  # the same study of the model RL started from: same problems, budget and temperature
        from scaling.rl.run import pretrained_dir_of
        from scaling.testtime.runs import load_run

        rl_cfg = load_run(run_dir).rl
        studies.append(("testtime_start", f"{rid}-start", pretrained_dir_of(run_dir, rl_cfg),
                        {"problems": rl_cfg.problems, "max_len": rl_cfg.sampling.max_len}))
    md = []
    for key, name, source, extra in studies:
        folder = runs / "testtime" / name
        summary = study(source, folder, ms=tt["m"], seeds=tt["seeds"], n_problems=tt["problems"], which=tt["set"],
                        **extra)
        rows = read_rows(folder)
        cov, null = coverage_law(rows), vote_null(rows)
        judged = {s: _judge(res, "parallel", rows, scheme=s, n_boot=max(n_boot, 200)) for s in ("vote", "best", "agents")}
        res[key] = {"run_id": summary["run_id"], "folder": str(folder), "summary": summary, "coverage": cov,
                    "vote_null": null, "parallel": {s: r.details["claim"] for s, r in judged.items() if r.details}}
        what = (f"run {rid} ({', '.join(f'{k}={v}' for k, v in tt['run'].items())})" if key == "testtime"
                else f"its starting model, pretrained run {summary['run_id']} (the control: same problems and budget)")
        md += ["", f"## Test-time scaling of {what}", "", f"Records: `{folder}`.", "", "```"] + testtime_lines(summary) + ["```"]
        for r in judged.values():
            md += ["", "```", *r.lines, "```"]
    timings["testtime"] = time.monotonic() - t0
    if "testtime_start" in res:
        md += start_vs_rl(res["testtime"]["summary"], res["testtime_start"]["summary"])
    return md


def start_vs_rl(rl: dict, start: dict) -> list[str]:
    """Markdown: accuracy per scheme and M of the RL run beside its starting model's."""
    md = ["", "## Test-time accuracy: RL run against its starting model", "",
          "| scheme | M | RL run | starting model | difference |", "| --- " * 5 + "|"]
    for scheme, per_m in rl["schemes"].items():
        for m in sorted(per_m, key=int):
            a, b = per_m[m]["correct"], start["schemes"].get(scheme, {}).get(m, {}).get("correct", np.nan)
            md.append(f"| {scheme} | {m} | {a:.3f} | {b:.3f} | {a - b:+.3f} |")
    return md
