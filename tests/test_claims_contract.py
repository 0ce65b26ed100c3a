"""The claim contract: every registered claim returns one result type, speaks the one verdict
vocabulary and writes a verdict record that validates, round-trips JSON and re-derives bit for bit;
a throwaway claim joins with one function and one registry row (library, CLI, record)."""

import json

import numpy as np
import pandas as pd
import pytest

from claims_synthetic import runs
from scaling.claims import record, registry, rules
from scaling.claims.base import ClaimResult, Estimate, inputs_of, interval
from scaling.claims.options import REQUIRED, Option
from scaling.cli import main
from scaling.errors import ConfigError, DataError
from test_claims_gain import rl_table
from test_claims_parallel import study
from test_claims_phases import SEEDS, X, draws


def _table_loglinear():
    rng = np.random.default_rng(0)
    C = np.geomspace(1e15, 1e18, 8)
    # 5 runs: the fewest whole-run resampling accepts for a verdict
    return pd.concat([pd.DataFrame({"run_id": f"r{r}", "C": C, "p": 0.2 + 0.05 * np.log10(C / 1e15)
                                    + rng.normal(0, 0.01) + rng.normal(0, 0.002, C.size)}) for r in range(5)],
                     ignore_index=True)


def _table_phases():
    y = draws("three", 0.3, 1, np.random.default_rng(1))[0]
    return pd.DataFrame({"rl/flops": 10 ** (9 + X), "eval/think/heldout/closed/mean": y, "seed": SEEDS})


# a small synthetic input and options per registered claim (a new claim adds its own here)
EXAMPLES = {
    "multiplier": (lambda: pd.concat([runs("base", 1.0, 0), runs("cand", 2.0, 1)], ignore_index=True),
                   {"baseline": "base", "candidate": "cand", "claim": "2x", "n_boot": 30}),
    "loglinear": (_table_loglinear, {"x": "C", "y": ["p"], "n_boot": 50}),
    "phases": (_table_phases, {"n_boot": 50}),
    "parallel": (study, {"n_boot": 50}),
    "gain": (lambda: rl_table(control_gain=0.05), {"n_boot": 50}),
}


def test_every_registered_claim_has_an_example():
    assert set(registry.names()) == set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_registered_claim_keeps_the_contract(name):
    make, opts = EXAMPLES[name]
    data = make()
    r = registry.judge(name, data, **opts)
    assert isinstance(r, ClaimResult) and r.claim == name and r.question.endswith("?")
    assert r.verdict in rules.VOCABULARY and r.verdicts and set(r.verdicts.values()) <= set(rules.VOCABULARY)
    assert r.test.startswith("test:") and r.unit and r.combined_rule and r.lines
    assert r.estimates and all(isinstance(e, Estimate) and 0 < e.level < 1 for e in r.estimates)
    assert any(e.lo <= e.value <= e.hi for e in r.estimates)
    assert r.options == registry.get(name).resolve(**opts) and r.inputs == inputs_of(data)
    assert r.subject and r.summary().startswith(f"{name} {r.subject}: {r.verdict.upper()}")
    rec = r.to_record()
    assert record.validate(rec) is rec and rec["schema"] == "scaling.verdict/1"
    text = json.dumps(rec, allow_nan=False)  # plain JSON: no NaN, no NumPy
    assert json.loads(text) == rec and record.read_record(text) == rec
    # re-derived from the same table with the record's options: identical but for when and where
    again = registry.judge(name, make(), **rec["options"]).to_record()
    assert record.same_verdict(again, rec)
    strip = lambda x: {k: v for k, v in x.items() if k not in ("created", "provenance")}  # noqa: E731
    assert json.dumps(strip(again), sort_keys=True) == json.dumps(strip(rec), sort_keys=True)


@pytest.mark.parametrize("name", ["loglinear", "parallel"])
def test_cli_json_prints_the_record_the_library_writes(name, tmp_path, capsys):
    make, opts = EXAMPLES[name]
    data = make()
    if name == "parallel":
        (tmp_path / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data))
        source = tmp_path
    else:
        source = tmp_path / "t.csv"
        data.to_csv(source, index=False)
    args = ["claim", name, str(source), "--bootstrap", str(opts["n_boot"])]
    args += ["--x", opts["x"], *sum((["--y", y] for y in opts.get("y", [])), [])] if "x" in opts else []
    assert main([*args, "--json"]) == 0
    rec = record.read_record(capsys.readouterr().out)
    lib = registry.judge(name, pd.read_csv(source) if name != "parallel" else data, **opts).to_record()
    assert record.same_verdict(rec, lib)
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines() == rec["lines"]


def test_record_reader_refuses_other_schemas_and_broken_records(tmp_path):
    make, opts = EXAMPLES["parallel"]
    rec = registry.judge("parallel", make(), **opts).to_record()
    path = tmp_path / "v.json"
    path.write_text(record.dumps(rec))
    assert record.read_record(path) == rec
    for change, culprit in (({"schema": "scaling.verdict/2"}, "reads 'scaling.verdict/1' only"),
                            ({"schema": "forecast/1"}, "not a verdict record"),
                            ({"verdict": "probably"}, "'probably' is not one of"),
                            ({"test": None}, "field 'test'"),
                            ({"estimates": [{"name": "x"}]}, "an estimate must have")):
        with pytest.raises(DataError, match=culprit):
            record.read_record({**rec, **change})
    with pytest.raises(DataError, match="not JSON"):
        record.read_record("{broken")


def test_inputs_hash_follows_content_not_column_order():
    df = _table_loglinear()
    h = inputs_of(df)["hash"]
    assert inputs_of(df[["p", "C", "run_id"]])["hash"] == h and inputs_of(df.copy())["hash"] == h
    changed = df.copy()
    changed.loc[3, "p"] = np.nextafter(changed.loc[3, "p"], 1)  # one ulp
    assert inputs_of(changed)["hash"] != h
    assert inputs_of(df.iloc[::-1])["hash"] != h  # rows in another order: another input
    assert inputs_of(study())["kind"] == "rows" and inputs_of(study())["hash"] != inputs_of(study(gain=0.0))["hash"]


def test_options_are_checked_before_the_claim_runs():
    data = _table_phases()
    with pytest.raises(ConfigError, match="no option 'bootstrap'"):
        registry.judge("phases", data, bootstrap=50)
    with pytest.raises(DataError, match="--bootstrap 5: at least 10"):
        registry.judge("phases", data, n_boot=5)
    with pytest.raises(DataError, match=r"--replicate 1.0: must lie in \[0, 1\)"):
        registry.judge("phases", data, replicate=1.0)
    with pytest.raises(DataError, match="--x: required"):
        registry.judge("loglinear", data, y=["eval/length/heldout"])
    with pytest.raises(DataError, match="--bootstrap 50.0: expected an integer"):
        registry.judge("phases", data, n_boot=50.0)
    with pytest.raises(DataError, match="--claim 'lots'"):
        registry.judge("multiplier", data, baseline="a", candidate="b", claim="lots")
    with pytest.raises(ConfigError, match="unknown claim 'nope'"):
        registry.judge("nope", data)
    assert registry.get("multiplier").resolve(baseline="a", candidate="b", claim="3x")["claim"] == 3.0


def test_verdict_words_and_combination_rules():
    assert rules.decide(True, False) == "supported" and rules.decide(False, True) == "refuted"
    assert rules.decide(False, False) == "inconclusive"
    assert rules.decide(True, True) == "supported" and rules.decide(True, True, refuted_first=True) == "refuted"
    arr = rules.decide(np.array([True, False, False, True]), np.array([False, True, False, True]))
    assert arr.tolist() == ["supported", "refuted", "inconclusive", "supported"]
    assert rules.all_agree(["refuted", "refuted"]) == "refuted"
    assert rules.all_agree(["refuted", "supported"]) == "inconclusive" and rules.all_agree([]) == "inconclusive"
    assert rules.refuted_by_any(["supported", "refuted"]) == "refuted"
    assert rules.refuted_by_any(["supported", "inconclusive"]) == "inconclusive"
    assert rules.refuted_by_any(["supported", "supported"]) == "supported"
    with pytest.raises(ValueError, match="vocabulary"):
        ClaimResult("x", "?", "test: t", "points", {"a": "maybe"}, "supported", "rule")


# --- a throwaway claim: one module-level function and one registry row ----------------------------

def tiny_judge(df: pd.DataFrame, *, col: str, above: float = 0.0) -> ClaimResult:
    """Is the mean of `col` above `above`? A normal interval of the mean (points resampled in theory)."""
    if col not in df.columns:
        raise DataError(f"column {col!r} not found")
    v = df[col].to_numpy(float)
    m, se = float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size))
    lo, hi = m - 1.96 * se, m + 1.96 * se
    verdict = rules.decide(lo > above, hi < above)
    est = interval(f"mean of {col}", m, (lo, hi), 0.95, verdict)
    return ClaimResult("tiny", "", f"test: 'supported' when the 95% interval of the mean lies above {above:g}",
                       "points", {"mean": verdict}, verdict, "one estimator", [est],
                       details={"mean": m, "se": se}, lines=[f"mean {m:.3f} ({lo:.3f}-{hi:.3f}) -> {verdict.upper()}"])


TINY = registry.Claim("tiny", "Is the mean of a column above a bound?", tiny_judge, (
    Option("col", str, REQUIRED, "Column."), Option("above", float, 0.0, "The bound.")))


@pytest.fixture
def tiny():
    from scaling.cli import claim as claim_cli

    registry.register(TINY)
    claim_cli.sync()
    yield
    registry.CLAIMS.pop("tiny")
    claim_cli.claim_app.registered_commands[:] = [c for c in claim_cli.claim_app.registered_commands
                                                  if c.name != "tiny"]


def test_a_tiny_claim_is_one_function_and_one_row(tiny, tmp_path, capsys):
    df = pd.DataFrame({"v": [1.0, 1.2, 0.9, 1.1, 1.05]})
    r = registry.judge("tiny", df, col="v")
    assert r.verdict == "supported" and r.question == TINY.question and r.options == {"col": "v", "above": 0.0}
    with pytest.raises(ConfigError, match="already registered"):
        registry.register(TINY)
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    assert main(["claim", "tiny", str(path), "--col", "v", "--above", "2"]) == 0
    assert capsys.readouterr().out.strip().endswith("-> REFUTED")
    assert main(["claim", "tiny", str(path), "--col", "v", "--json"]) == 0
    rec = record.read_record(capsys.readouterr().out)
    assert rec["claim"] == "tiny" and rec["verdict"] == "supported" and rec["options"] == {"col": "v", "above": 0.0}
    assert record.same_verdict(rec, r.to_record())
    assert main(["claim", "tiny", str(path), "--col", "nope"]) == 2
    assert "column 'nope' not found" in capsys.readouterr().err


def test_a_refused_claim_is_a_record_too():
    df = _table_loglinear().head(4)  # 4 points: the log-linear claim needs 6
    r = registry.judge_or_refuse("loglinear", df, x="C", y=["p"], n_boot=50)
    assert r.verdict == "not judged" and "at least 6" in r.refusals[0] and r.lines[0].startswith("not computed:")
    rec = record.read_record(json.dumps(r.to_record()))
    assert rec["refusals"] == list(r.refusals) and rec["options"]["x"] == "C"
    with pytest.raises(DataError, match="--bootstrap"):
        registry.judge_or_refuse("loglinear", df, x="C", y=["p"], n_boot=5)
