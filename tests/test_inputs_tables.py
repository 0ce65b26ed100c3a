"""The contract of every command that reads a table, against a table of damaged inputs written here:
duplicated rows, a key twice with other values, typo columns, empty ids, NaN / infinite / zero /
negative values, a pass@1 in percent, two studies concatenated, bad options, bad paths and usage
errors. Each case must give exit code 2, exactly one line of output naming the culprit, no
traceback, and leave the folder as it was (no file changed, none written).

One parametrised test per command (compare, fit, claim multiplier / loglinear / phases / parallel,
plan power, bench fit), run in-process (`scaling.cli.main`) on small synthetic CSVs: no fit runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from claims_synthetic import runs
from scaling.cli import main

HUGE = str(10**12)  # resamples that would not fit in memory
BEYOND = str(10**30)  # beyond int64


def _write(folder: Path, name: str, df: pd.DataFrame) -> None:
    df.to_csv(folder / name, index=False)


def _damage(folder: Path, stem: str, good: pd.DataFrame, *, run="run_id", x, y, recipe=None, seed=None) -> None:
    """The damaged versions of a good table, written as <stem>_<kind>.csv."""
    g = good.reset_index(drop=True)
    d = {
        "dup_all": pd.concat([g, g]),
        "dup_some": pd.concat([g, g.iloc[[3, 7, 11]]]),
        "key_other": pd.concat([g, g.iloc[[5]].assign(**{y: g[y].iloc[5] * 1.1})]),
        "empty_run": g.assign(**{run: g[run].where(g.index != 4, "")}),
        "nan_y": g.assign(**{y: g[y].where(g.index != 6, np.nan)}),
        "inf_y": g.assign(**{y: g[y].where(g.index != 6, np.inf)}),
        "nan_x": g.assign(**{x: g[x].where(g.index != 9, np.nan)}),
        "inf_x": g.assign(**{x: g[x].where(g.index != 9, np.inf)}),
        "zero_x": g.assign(**{x: g[x].where(g.index != 9, 0.0)}),
        "neg_x": g.assign(**{x: g[x].where(g.index != 9, -g[x].iloc[9])}),
        "word_x": g.astype({x: object}).assign(**{x: g[x].astype(object).where(g.index != 9, "lots")}),
    }
    if recipe is not None:
        # a second study with the same run ids under another recipe, concatenated
        first = g[g[recipe] == g[recipe].iloc[0]]
        d["concat"] = pd.concat([g, first.assign(**{recipe: "other"})])
        d["empty_recipe"] = g.assign(**{recipe: g[recipe].where(g.index != 2, "")})
    if seed is not None:
        d["empty_seed"] = g.assign(**{seed: np.nan})
        d["concat"] = pd.concat([g, g[g[seed] == g[seed].iloc[0]].assign(**{seed: 99, y: g[y] + 1})])
    for kind, df in d.items():
        _write(folder, f"{stem}_{kind}.csv", df)
    (folder / f"{stem}_header_twice.csv").write_text((folder / f"{stem}.csv").read_text() * 2)


def _multiplier_table() -> pd.DataFrame:
    small = dict(sizes=np.geomspace(2e6, 6e7, 6), lrs=(1.0,), evals=4)
    return pd.concat([runs("base", 1.0, 0, **small), runs("cand", 2.0, 1, **small)], ignore_index=True)


def _rl_table(percent_run: str | None = None) -> pd.DataFrame:
    """RL records: 4 runs x 13 evaluations (step 0 has zero compute), pass@1, pass@16 and length."""
    rows = []
    for r in range(4):
        for step in range(13):
            c = 0.0 if step == 0 else 1e15 * 2.0 ** step
            p1 = 0.2 + 0.03 * step + 0.01 * r
            rows.append({"run_id": f"rl{r}", "seed": r, "step": step, "rl/flops": c, "eval/pass@1/heldout": p1,
                         "eval/pass@16/heldout": min(1.0, 2 * p1), "eval/think/heldout/closed/mean": 20 + 3 * min(step, 4) - 2 * max(min(step, 8) - 4, 0)
                         + 3 * max(step - 8, 0) + 0.3 * r + 0.1 * (step * r % 3)})
    df = pd.DataFrame(rows)
    return df


def _study(rows_folder: Path, rows: list, lines: list[str] | None = None) -> None:
    rows_folder.mkdir()
    text = "".join(json.dumps(r) + "\n" for r in rows) if lines is None else "".join(ln + "\n" for ln in lines)
    (rows_folder / "records.jsonl").write_text(text)


def _study_rows() -> list[dict]:
    rows = []
    for s in (0, 1):
        for m in (1, 2, 4):
            for i in range(6):
                for scheme in ("vote", "best", "agents"):
                    rows.append({"scheme": scheme, "seed": s, "M": m, "problem": i, "correct": bool((i + m) % 3),
                                 "tt/tokens_critical": 5.0, "tt/latency_s": 0.01 * m, "n_correct": 1})
    return rows


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = tmp_path_factory.mktemp("inputs")
    m = _multiplier_table()
    _write(w, "m.csv", m)
    _damage(w, "m", m, x="compute/flops", y="eval/loss/caption", recipe="recipe")
    far = pd.concat([runs("base", 1.0, 0, sizes=np.geomspace(2e6, 6e7, 6), lrs=(1.0,), evals=4),
                     runs("cand", 1.0, 1, sizes=np.geomspace(2e6, 6e7, 6), lrs=(1.0,), evals=4).assign(
                         **{"eval/loss/caption": lambda d: d["eval/loss/caption"] + 20})])
    _write(w, "m_apart.csv", far)  # no loss both recipes reached
    rl = _rl_table()
    _write(w, "rl.csv", rl)
    _damage(w, "rl", rl, x="rl/flops", y="eval/pass@1/heldout", seed="seed")
    pct = rl.assign(**{"eval/pass@1/heldout": np.where(rl["run_id"] == "rl2", 100 * rl["eval/pass@1/heldout"],
                                                      rl["eval/pass@1/heldout"])})
    _write(w, "rl_percent.csv", pct)
    _write(w, "rl_percent_trained.csv", pct[pct["step"] > 0])  # `fit` takes no zero compute, even at step 0
    _write(w, "rl_inf_length.csv", rl.assign(**{"eval/think/heldout/closed/mean": rl["eval/think/heldout/closed/mean"].where(rl.index != 8, np.inf)}))
    _write(w, "rl_neg_length.csv", rl.assign(**{"eval/think/heldout/closed/mean": rl["eval/think/heldout/closed/mean"].where(rl.index != 8, -3.0)}))
    _write(w, "rl_zero_mid.csv", rl.assign(**{"rl/flops": rl["rl/flops"].where(rl.index != 10, 0.0)}))
    _write(w, "rl_two_groups.csv", pd.concat([rl.assign(**{"grpo.kl": 0.0}), rl.assign(**{"grpo.kl": 0.1})]))
    rows = _study_rows()
    _study(w / "tt", rows)
    _study(w / "tt_malformed", rows, [json.dumps(r) for r in rows[:5]] + ['{"scheme": "vote", "seed"'] +
           [json.dumps(r) for r in rows[5:]])
    _study(w / "tt_list", rows, [json.dumps(r) for r in rows[:3]] + ["[1, 2, 3]"])
    _study(w / "tt_word", [dict(r, correct="yes") if i == 7 else r for i, r in enumerate(rows)])
    _study(w / "tt_neg_latency", [dict(r, **{"tt/latency_s": -0.5}) if i == 9 else r for i, r in enumerate(rows)])
    _study(w / "tt_nan_latency", [dict(r, **{"tt/latency_s": math.nan}) if i == 9 else r for i, r in enumerate(rows)])
    _study(w / "tt_percent", [dict(r, correct=45) if i == 4 else r for i, r in enumerate(rows)])
    _study(w / "tt_dup", rows + rows[:4])
    _study(w / "tt_no_field", [{k: v for k, v in r.items() if k != "tt/latency_s"} for r in rows])
    _study(w / "tt_nested", [dict(r, M=[1, 2]) if i == 2 else r for i, r in enumerate(rows)])
    (w / "tt_binary").mkdir()
    (w / "tt_binary" / "records.jsonl").write_bytes(bytes(range(128, 256)) * 4)
    epoch = pd.DataFrame({"Model Size": np.repeat(np.geomspace(1e8, 1e10, 5), 4),
                          "Training FLOP": np.geomspace(1e18, 1e22, 20), "loss": np.linspace(3.5, 2.2, 20)})
    _write(w, "epoch.csv", epoch)
    _damage(w, "epoch", epoch.assign(run_id=np.arange(20)), run="run_id", x="Training FLOP", y="loss")
    _write(w, "epoch_no_size.csv", epoch.drop(columns="Model Size"))
    pilot = []
    for recipe, k in (("base", 1.0), ("cand", 2.0)):
        for s in (0, 1):  # two seeds of each configuration: the spread a plan rests on
            d = runs(recipe, k, 2 * s + int(k), sizes=np.geomspace(2e6, 6e7, 4), lrs=(1.0,), evals=4)
            config = d["run_id"].str.rsplit("-", n=1).str[0]
            pilot.append(d.assign(config_id=config, seed=s, run_id=config + f"-s{s}"))
    _write(w, "pilot.csv", pd.concat(pilot))
    _write(w, "pilot_dup_all.csv", pd.concat(pilot * 2))
    (w / "plain").mkdir()
    (w / "x.csv").mkdir()  # a folder named like a CSV
    return w


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


def _refused(world, monkeypatch, capsys, line: str, culprit: str) -> None:
    monkeypatch.chdir(world)  # anything written by default would land in the snapshot
    before = _snapshot(world)
    try:
        rc = main(line.format(w=world).split())
    except BaseException as err:  # noqa: BLE001 - a traceback is what this test looks for
        pytest.fail(f"{line}: traceback ({type(err).__name__}: {err})")
    cap = capsys.readouterr()
    out = [x for x in (cap.out + cap.err).splitlines() if x.strip()]
    assert rc == 2, f"{line}: exit {rc}, output {out[-3:]}"
    assert len(out) == 1, f"{line}: {len(out)} lines: {out[:4]}"
    assert "Traceback" not in out[0]
    for part in culprit.split(" && "):
        assert part in out[0], f"{line}: {out[0]!r} does not name {part!r}"
    assert _snapshot(world) == before, f"{line}: files changed on disk"


# The damaged tables every table-reading command is fed: (file, culprit in the error line)
TABLE_KINDS = {
    "every row twice": ("_dup_all.csv", "rows share a key"),
    "some rows twice": ("_dup_some.csv", "rows share a key"),
    "a key twice with another value": ("_key_other.csv", "rows share a key"),
    "empty run id": ("_empty_run.csv", "column 'run_id' row 4: empty id"),
    "header twice (cat a.csv b.csv)": ("_header_twice.csv", "repeats the header"),
}
MULTIPLIER = "--baseline base --candidate cand"
M_CASES = {
    **{k: (f"{{w}}/m{f}", c) for k, (f, c) in TABLE_KINDS.items()},
    "NaN loss": ("{w}/m_nan_y.csv", "'eval/loss/caption' row 6 (run 'base-"),
    "infinite loss": ("{w}/m_inf_y.csv", "'eval/loss/caption' row 6"),
    "NaN compute": ("{w}/m_nan_x.csv", "'compute/flops' row 9"),
    "infinite compute": ("{w}/m_inf_x.csv", "'compute/flops' row 9"),
    "zero compute": ("{w}/m_zero_x.csv", "'compute/flops' row 9 (run 'base- && compute must be finite and positive, got 0"),
    "negative compute": ("{w}/m_neg_x.csv", "'compute/flops' row 9"),
    "word compute": ("{w}/m_word_x.csv", "'compute/flops' row 9 && not a number ('lots')"),
    "same run ids under another recipe": ("{w}/m_concat.csv", "has 2 values of 'recipe' && two studies"),
    "empty recipe": ("{w}/m_empty_recipe.csv", "column 'recipe' row 2: empty id"),
    "typo --run-col": ("{w}/m.csv --run-col rnu_id", "--run-col 'rnu_id': no such column (did you mean 'run_id'?"),
    "typo --recipe-col": ("{w}/m.csv --recipe-col recipes", "--recipe-col 'recipes' && 'recipe'"),
    "typo --x": ("{w}/m.csv --x compute/flop", "--x 'compute/flop' && did you mean 'compute/flops'"),
    "typo --y": ("{w}/m.csv --y eval/loss/captoin", "--y 'eval/loss/captoin' && 'eval/loss/caption'"),
    "typo --seed-col": ("{w}/m.csv --seed-col sed", "--seed-col 'sed'"),
    "--bootstrap 0": ("{w}/m.csv --bootstrap 0", "--bootstrap 0"),
    "--bootstrap -5": ("{w}/m.csv --bootstrap -5", "--bootstrap -5"),
    "--bootstrap beyond memory": ("{w}/m.csv --bootstrap " + HUGE, "--bootstrap && memory"),
    "--bootstrap beyond int64": ("{w}/m.csv --bootstrap " + BEYOND, "--bootstrap && 64-bit"),
    "--bootstrap not a number": ("{w}/m.csv --bootstrap many", "--bootstrap"),
    "--trim nan": ("{w}/m.csv --trim nan", "--trim"),
    "--trim 1.5": ("{w}/m.csv --trim 1.5", "--trim"),
    "--at-loss nan": ("{w}/m.csv --at-loss nan", "--at-loss nan"),
    "--at-loss inf": ("{w}/m.csv --at-loss inf", "--at-loss inf"),
    "--at-compute nan": ("{w}/m.csv --at-compute nan", "--at-compute nan"),
    "--claim a word": ("{w}/m.csv --claim lots", "--claim"),
    "--margin without --claim": ("{w}/m.csv --margin 10%", "--margin"),
    "unknown option": ("{w}/m.csv --bogus 3", "--bogus"),
    "missing file": ("{w}/missing.csv", "missing.csv: no such file"),
    "plain folder": ("{w}/plain", "plain: a folder with no committed runs"),
    "folder named x.csv": ("{w}/x.csv", "x.csv: a folder with no committed runs"),
}


@pytest.mark.parametrize("case", list(M_CASES))
def test_compare(world, case, monkeypatch, capsys):
    src, culprit = M_CASES[case]
    _refused(world, monkeypatch, capsys, f"compare {src} {MULTIPLIER}", culprit)


CLAIM_M_CASES = {**M_CASES, "--seed -1": ("{w}/m.csv --seed -1", "--seed -1"),
                 "--drop-duplicates, a key twice with another value": (
                     "{w}/m_key_other.csv --drop-duplicates", "rows share a key")}


@pytest.mark.parametrize("case", list(CLAIM_M_CASES))
def test_claim_multiplier(world, case, monkeypatch, capsys):
    src, culprit = CLAIM_M_CASES[case]
    _refused(world, monkeypatch, capsys, f"claim multiplier {src} {MULTIPLIER}", culprit)


PLAN_CASES = {k: v for k, v in M_CASES.items()
              if not k.startswith(("--bootstrap", "--at", "--margin", "typo --seed-col"))}
PLAN_CASES.update({
    "no common loss range": ("{w}/m_apart.csv", "no overlapping loss range"),
    "one run per configuration": ("{w}/m.csv", "one run per configuration"),
    "--bootstrap is not an option": ("{w}/m.csv --bootstrap 5", "--bootstrap"),
})


@pytest.mark.parametrize("case", list(PLAN_CASES))
def test_plan_power(world, case, monkeypatch, capsys):
    src, culprit = PLAN_CASES[case]
    _refused(world, monkeypatch, capsys, f"plan power {src} {MULTIPLIER}", culprit)


FIT = "--law power --y eval/loss/caption --x compute/flops"
FIT_CASES = {
    **{k: (f"{{w}}/m{f} {FIT}", c) for k, (f, c) in TABLE_KINDS.items()},
    "NaN loss": ("{w}/m_nan_y.csv " + FIT, "'eval/loss/caption' row 6"),
    "infinite loss": ("{w}/m_inf_y.csv " + FIT, "'eval/loss/caption' row 6"),
    "zero compute": ("{w}/m_zero_x.csv " + FIT, "'compute/flops' row 9"),
    "negative compute": ("{w}/m_neg_x.csv " + FIT, "'compute/flops' row 9"),
    "word compute": ("{w}/m_word_x.csv " + FIT, "not a number"),
    "same run ids under another recipe": ("{w}/m_concat.csv " + FIT, "values of 'recipe'"),
    "NaN loss, chinchilla": ("{w}/m_nan_y.csv --law chinchilla --x params/total,compute/flops --y eval/loss/caption",
                             "'eval/loss/caption' row 6"),
    "pass@1 in percent, loglinear": ("{w}/rl_percent_trained.csv --law loglinear --x rl/flops --y eval/pass@1/heldout",
                                     "'eval/pass@1/heldout' && (run 'rl2') && [0, 1]"),
    "typo --x": ("{w}/m.csv --law power --x compute/flop --y eval/loss/caption", "--x 'compute/flop' && 'compute/flops'"),
    "typo --y": ("{w}/m.csv --law power --y eval/los/caption", "--y 'eval/los/caption' && 'eval/loss/caption'"),
    "typo --group": ("{w}/m.csv " + FIT + " --group runid", "--group 'runid' && 'run_id'"),
    "typo --seed-col": ("{w}/m.csv " + FIT + " --seed-col sede", "--seed-col 'sede'"),
    "typo in --where": ("{w}/m.csv " + FIT + " --where recipy=base", "recipy"),
    "--bootstrap 0": ("{w}/m.csv " + FIT + " --bootstrap 0", "--bootstrap 0"),
    "--bootstrap beyond memory": ("{w}/m.csv " + FIT + " --bootstrap " + HUGE, "--bootstrap && memory"),
    "--bootstrap beyond int64": ("{w}/m.csv " + FIT + " --bootstrap " + BEYOND, "--bootstrap && 64-bit"),
    "--seed -1": ("{w}/m.csv " + FIT + " --seed -1", "--seed -1"),
    "--at nan": ("{w}/m.csv " + FIT + " --at nan", "--at nan"),
    "--at -1": ("{w}/m.csv " + FIT + " --at -1", "--at -1"),
    "--at for a law without": ("{w}/rl.csv --law loglinear --x rl/flops --y eval/pass@1/heldout --at 1e16", "--at"),
    "--check-above nan": ("{w}/m.csv " + FIT + " --check-above nan", "--check-above nan"),
    "--check-above with approach2": ("{w}/m.csv --law approach2 --x compute/flops,params/total "
                                     "--y eval/loss/caption --check-above 1e15", "--check-above && approach2"),
    "--delta nan": ("{w}/m.csv " + FIT + " --delta nan", "--delta"),
    "unknown law": ("{w}/m.csv --law powr", "powr"),
    "unknown option": ("{w}/m.csv " + FIT + " --bootsrap 5", "--bootsrap"),
    "missing file": ("{w}/missing.csv " + FIT, "missing.csv"),
    "folder named x.csv": ("{w}/x.csv " + FIT, "x.csv: a folder with no committed runs"),
}


@pytest.mark.parametrize("case", list(FIT_CASES))
def test_fit(world, case, monkeypatch, capsys):
    line, culprit = FIT_CASES[case]
    _refused(world, monkeypatch, capsys, f"fit {line}", culprit)


LOGLINEAR = "--x rl/flops --y eval/pass@1/heldout --y eval/pass@16/heldout"
LL_CASES = {
    **{k: (f"{{w}}/rl{f}", c) for k, (f, c) in TABLE_KINDS.items()},
    "NaN metric": ("{w}/rl_nan_y.csv", "'eval/pass@1/heldout' row 6"),
    "infinite metric": ("{w}/rl_inf_y.csv", "'eval/pass@1/heldout' row 6"),
    "pass@1 in percent in one run": ("{w}/rl_percent.csv", "'eval/pass@1/heldout' && (run 'rl2') && [0, 1] && got 22"),
    "NaN compute": ("{w}/rl_nan_x.csv", "'rl/flops' row 9"),
    "infinite compute": ("{w}/rl_inf_x.csv", "'rl/flops' row 9"),
    "zero compute mid-run": ("{w}/rl_zero_mid.csv", "'rl/flops' row 10 (run 'rl0'): compute must be finite and positive"),
    "negative compute": ("{w}/rl_neg_x.csv", "'rl/flops' row 9"),
    "word compute": ("{w}/rl_word_x.csv", "not a number"),
    "a run in two groups (two studies)": ("{w}/rl_two_groups.csv --group grpo.kl --run-col run_id",
                                          "values of 'grpo.kl'"),
    "typo --x": ("{w}/rl.csv --x rl/flop --y eval/pass@1/heldout", "--x 'rl/flop' && 'rl/flops'"),
    "typo --y": ("{w}/rl.csv --x rl/flops --y eval/pass@1/heldot", "--y 'eval/pass@1/heldot'"),
    "typo --group": ("{w}/rl.csv " + LOGLINEAR + " --group grpo.k", "--group 'grpo.k'"),
    "typo --run-col": ("{w}/rl.csv " + LOGLINEAR + " --run-col runid", "--run-col 'runid' && 'run_id'"),
    "typo --split-col": ("{w}/rl.csv " + LOGLINEAR + " --split-col splt", "--split-col 'splt'"),
    "--holdout 0": ("{w}/rl.csv " + LOGLINEAR + " --holdout 0", "--holdout 0"),
    "--holdout 1.5": ("{w}/rl.csv " + LOGLINEAR + " --holdout 1.5", "--holdout 1.5"),
    "--holdout nan": ("{w}/rl.csv " + LOGLINEAR + " --holdout nan", "--holdout nan"),
    "--holdout -0.2": ("{w}/rl.csv " + LOGLINEAR + " --holdout -0.2", "--holdout -0.2"),
    "--bootstrap 0": ("{w}/rl.csv " + LOGLINEAR + " --bootstrap 0", "--bootstrap 0"),
    "--bootstrap beyond memory": ("{w}/rl.csv " + LOGLINEAR + " --bootstrap " + HUGE, "--bootstrap && memory"),
    "--bootstrap beyond int64": ("{w}/rl.csv " + LOGLINEAR + " --bootstrap " + BEYOND, "--bootstrap && 64-bit"),
    "--seed -1": ("{w}/rl.csv " + LOGLINEAR + " --seed -1", "--seed -1"),
    "missing file": ("{w}/missing.csv " + LOGLINEAR, "missing.csv"),
    "plain folder": ("{w}/plain " + LOGLINEAR, "plain: a folder with no committed runs"),
}


@pytest.mark.parametrize("case", list(LL_CASES))
def test_claim_loglinear(world, case, monkeypatch, capsys):
    src, culprit = LL_CASES[case]
    line = f"claim loglinear {src}" + ("" if " --x " in src else f" {LOGLINEAR}")
    _refused(world, monkeypatch, capsys, line, culprit)


PH_CASES = {
    **{k: (f"{{w}}/rl{f}", c) for k, (f, c) in TABLE_KINDS.items()},
    "infinite length": ("{w}/rl_inf_length.csv", "'eval/think/heldout/closed/mean' row 8 && inf"),
    "negative length": ("{w}/rl_neg_length.csv", "'eval/think/heldout/closed/mean' row 8 && >= 0"),
    "NaN compute": ("{w}/rl_nan_x.csv", "'rl/flops' row 9"),
    "zero compute mid-run": ("{w}/rl_zero_mid.csv", "'rl/flops' row 10 (run 'rl0')"),
    "negative compute": ("{w}/rl_neg_x.csv", "'rl/flops' row 9"),
    "empty seed column": ("{w}/rl_empty_seed.csv", "column 'seed' row 0: empty id"),
    "same run ids under another seed": ("{w}/rl_concat.csv", "values of 'seed' && two studies"),
    "typo --seed-col": ("{w}/rl.csv --seed-col sed", "--seed-col 'sed' && 'seed'"),
    "typo --y": ("{w}/rl.csv --y eval/think/heldout/closed/maen", "--y 'eval/think/heldout/closed/maen' && 'eval/think/heldout/closed/mean'"),
    "typo --group": ("{w}/rl.csv --group grpo.lenght_coef", "--group 'grpo.lenght_coef'"),
    "--replicate nan": ("{w}/rl.csv --replicate nan", "--replicate nan"),
    "--replicate 1.5": ("{w}/rl.csv --replicate 1.5", "--replicate"),
    "--min-seg 1": ("{w}/rl.csv --min-seg 1", "--min-seg"),
    "--bootstrap 0": ("{w}/rl.csv --bootstrap 0", "--bootstrap 0"),
    "--bootstrap beyond memory": ("{w}/rl.csv --bootstrap " + HUGE, "--bootstrap && memory"),
    "--bootstrap beyond int64": ("{w}/rl.csv --bootstrap " + BEYOND, "--bootstrap && 64-bit"),
    "missing file": ("{w}/missing.csv", "missing.csv"),
}


@pytest.mark.parametrize("case", list(PH_CASES))
def test_claim_phases(world, case, monkeypatch, capsys):
    src, culprit = PH_CASES[case]
    _refused(world, monkeypatch, capsys, f"claim phases {src}", culprit)


PAR_CASES = {
    "malformed JSON line": ("{w}/tt_malformed", "records.jsonl: line 6: malformed JSON"),
    "a list-shaped line": ("{w}/tt_list", "records.jsonl: line 4: expected a JSON object, got list"),
    "binary records": ("{w}/tt_binary", "records.jsonl"),
    "a word for correct": ("{w}/tt_word", "line 8: correct must be true or false, got 'yes'"),
    "negative latency": ("{w}/tt_neg_latency", "line 10: tt/latency_s must be a finite non-negative number, got -0.5"),
    "NaN latency": ("{w}/tt_nan_latency", "line 10: tt/latency_s must be a finite non-negative number, got nan"),
    "accuracy in percent": ("{w}/tt_percent", "line 5: correct must be true or false, got 45"),
    "rows twice": ("{w}/tt_dup", "line 109: seed 0, M 1, problem 0, scheme vote already on line 1"),
    "a field missing": ("{w}/tt_no_field", "line 1: no tt/latency_s"),
    "a list where a number belongs": ("{w}/tt_nested", "line 3: M must be a positive integer, got [1, 2]"),
    "--flat nan": ("{w}/tt --flat nan", "--flat nan"),
    "--flat 0.5": ("{w}/tt --flat 0.5", "--flat"),
    "--scheme unknown": ("{w}/tt --scheme oracle", "--scheme"),
    "--bootstrap 0": ("{w}/tt --bootstrap 0", "--bootstrap 0"),
    "--bootstrap beyond memory": ("{w}/tt --bootstrap " + HUGE, "--bootstrap && memory"),
    "--bootstrap beyond int64": ("{w}/tt --bootstrap " + BEYOND, "--bootstrap && 64-bit"),
    "--seed -1": ("{w}/tt --seed -1", "--seed -1"),
    "no records": ("{w}/plain", "plain: no test-time records"),
    "a CSV, not a study folder": ("{w}/m.csv", "m.csv: no test-time records"),
}


@pytest.mark.parametrize("case", list(PAR_CASES))
def test_claim_parallel(world, case, monkeypatch, capsys):
    src, culprit = PAR_CASES[case]
    _refused(world, monkeypatch, capsys, f"claim parallel {src}", culprit)


BENCH_CASES = {
    "every row twice": ("--data {w}/epoch_dup_all.csv", "rows share a key"),
    "a point twice with another loss": ("--data {w}/epoch_key_other.csv", "rows share a key"),
    "NaN loss": ("--data {w}/epoch_nan_y.csv", "'loss' row 6"),
    "infinite loss": ("--data {w}/epoch_inf_y.csv", "'loss' row 6"),
    "zero compute": ("--data {w}/epoch_zero_x.csv", "'Training FLOP' row 9"),
    "negative compute": ("--data {w}/epoch_neg_x.csv", "'Training FLOP' row 9"),
    "word compute": ("--data {w}/epoch_word_x.csv", "not a number"),
    "no model size column": ("--data {w}/epoch_no_size.csv", "--data 'Model Size': no such column"),
    "header twice": ("--data {w}/epoch_header_twice.csv", "repeats the header"),
    "missing file": ("--data {w}/missing.csv", "missing.csv"),
    "a folder": ("--data {w}/plain", "plain"),
    "--bootstrap 0": ("--data {w}/epoch.csv --bootstrap 0", "--bootstrap 0"),
    "--bootstrap -1": ("--data {w}/epoch.csv --bootstrap -1", "--bootstrap -1"),
    "--bootstrap beyond memory": ("--data {w}/epoch.csv --bootstrap " + HUGE, "--bootstrap && memory"),
    "--bootstrap beyond int64": ("--data {w}/epoch.csv --bootstrap " + BEYOND, "--bootstrap && 64-bit"),
    "unknown option": ("--data {w}/epoch.csv --starts 3", "--starts"),
}


@pytest.mark.parametrize("case", list(BENCH_CASES))
def test_bench_fit(world, case, monkeypatch, capsys):
    src, culprit = BENCH_CASES[case]
    _refused(world, monkeypatch, capsys, f"bench fit {src}", culprit)


# The same checks accept good tables: exact repeats are dropped, and counted, when asked
DROPPED = {
    "compare": f"compare {{w}}/m_dup_all.csv {MULTIPLIER} --bootstrap 20 --drop-duplicates",
    "fit": f"fit {{w}}/m_dup_all.csv {FIT} --bootstrap 20 --drop-duplicates",
    "claim loglinear": f"claim loglinear {{w}}/rl_dup_all.csv {LOGLINEAR} --bootstrap 20 --drop-duplicates",
    "claim phases": "claim phases {w}/rl_dup_all.csv --bootstrap 20 --drop-duplicates",
    "plan power": f"plan power {{w}}/pilot_dup_all.csv {MULTIPLIER} --claim 1.5x --drop-duplicates",
}


@pytest.mark.parametrize("command", [c if c in ("claim phases", "plan power") else pytest.param(c, marks=pytest.mark.slow)
                                     for c in DROPPED])  # a bootstrap of fits (tens of seconds) but phases, plan
def test_exact_repeats_are_dropped_with_a_count_when_asked(world, command, monkeypatch, capsys):
    monkeypatch.chdir(world)
    before = _snapshot(world)
    rc = main(DROPPED[command].format(w=world).split())
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    good = {"m_dup": "m.csv", "rl_dup": "rl.csv", "pilot_dup": "pilot.csv"}
    n = len(pd.read_csv(world / next(v for k, v in good.items() if k in DROPPED[command])))
    assert f"{n} row(s) that repeated another row entirely were dropped (--drop-duplicates)" in cap.out
    assert _snapshot(world) == before
