"""Every command fed a table of bad inputs (missing files, malformed YAML and CSV, wrong types, empty
tables, NaN and negative compute, unknown recipes and columns, non-overlapping ranges, unwritable
folders, a run folder of another config, damaged records): each must give exit code 2, one line on
stderr naming the culprit, no traceback, and leave every file on disk as it was.

Run in-process (`scaling.cli.main`) in a scratch world; commands that write by default write under it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from scaling import records
from scaling.cli import main

FAKE = f"{Path(__file__).resolve().parent / 'sweep_fake_trainer.py'}:train"
BASE = {"model": {"width": 16}, "train": {"tokens": 20000, "batch_size": 4, "eval_points": 4}}


def _csv(rows) -> str:
    return "run,recipe,flops,loss\n" + "".join(f"{r},{c},{f},{v}\n" for r, c, f, v in rows)


def _curve(recipe: str, scale: float, offset: float = 0.0):
    """6 runs x 6 evaluations: run i starts at 10^(7 + i/2) FLOPs, loss falls as a power law in compute."""
    return [(f"{recipe}{i}", recipe, f"{10 ** (7 + i / 2 + j / 3):.6g}",
             f"{offset + 2 + 0.02 * i + 30 * (10 ** (7 + i / 2 + j / 3) * scale) ** -0.25:.6g}")
            for i in range(6) for j in range(6)]


GOOD = _curve("A", 1.0) + _curve("B", 2.0)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = tmp_path_factory.mktemp("world")
    sweep = {"recipes": {"baseline": BASE, "wide": {"model.mlp_ratio": 2}}, "grid": {"seed": [0, 1]}}
    (w / "good.yaml").write_text(yaml.safe_dump(sweep))
    assert main(["sweep", "run", str(w / "good.yaml"), "--out", str(w / "runs_a"), "--trainer", FAKE]) == 0
    (w / "other.yaml").write_text(yaml.safe_dump({**sweep, "grid": {"seed": [7]}}))
    (w / "binary.yaml").write_bytes(bytes(range(256)) * 4)
    (w / "malformed.yaml").write_text("recipes: [1, 2\n")
    (w / "unknown_top.yaml").write_text(yaml.safe_dump({**sweep, "colour": 1}))
    (w / "unknown_axis.yaml").write_text(yaml.safe_dump({**sweep, "grid": {"model.widht": [1]}}))
    (w / "nan_lr.yaml").write_text("recipes: {baseline: {optim: {lr: .nan}}}\n")
    (w / "empty_axis.yaml").write_text(yaml.safe_dump({**sweep, "grid": {"seed": []}}))
    (w / "nan_cpus.yaml").write_text(yaml.safe_dump(sweep) + "resources: {cpus: .nan}\n")
    (w / "cfg_nan.yaml").write_text("optim: {lr: .inf}\n")
    rl_sweep = {"stage": "rl", "pretrained": [{"model.width": 16}], "recipes": {"baseline": {"steps": 2}},
                "grid": {"seed": [0]}}
    (w / "rl_report_key.yaml").write_text(yaml.safe_dump({**rl_sweep, "report": {"testtime": {"run": {"seed": 0},
                                                                                              "colour": 1}}}))
    (w / "rl_report_minseg.yaml").write_text(yaml.safe_dump({**rl_sweep, "report": {"min_seg": 1}}))
    (w / "good.csv").write_text(_csv(GOOD))
    (w / "empty.csv").write_text("run,recipe,flops,loss\n")
    (w / "blank.csv").write_text("")
    (w / "string.csv").write_text(_csv(GOOD[:-1] + [("B2", "B", "lots", "2.1")]))
    (w / "nan.csv").write_text(_csv([(r, c, "nan" if i % 5 == 0 else f, v) for i, (r, c, f, v) in enumerate(GOOD)]))
    (w / "negative.csv").write_text(_csv([(r, c, f"-{f}" if i % 5 == 0 else f, v) for i, (r, c, f, v) in enumerate(GOOD)]))
    (w / "one_seed.csv").write_text("".join(f"{s},{line}\n" for s, line in
                                            zip(["seed"] + ["0"] * len(GOOD), _csv(GOOD).splitlines())))
    (w / "apart.csv").write_text(_csv(_curve("A", 1.0, offset=5.0) + _curve("B", 1.0)))
    (w / "binary.csv").write_bytes(os.urandom(512))
    shutil.copytree(w / "runs_a", w / "runs_bytes")
    victim = sorted((w / "runs_bytes" / "runs").iterdir())[0]
    (victim / "metrics.jsonl").write_bytes(os.urandom(300) + b"\n" + os.urandom(300) + b"\n")
    shutil.copytree(w / "runs_a", w / "runs_badjson")
    (w / "runs_badjson" / "sweep.json").write_text('{"launches": [')
    shutil.copytree(w / "runs_a", w / "runs_badstate")
    next((w / "runs_badstate" / "state").iterdir()).write_bytes(b"\x00\xff")
    shutil.copytree(w / "runs_a", w / "runs_bogus")
    summary = sorted((w / "runs_bogus" / "runs").iterdir())[0] / "summary.json"
    summary.write_text(json.dumps({**json.loads(summary.read_text()), "status": "bogus"}))
    records.prepare_run_dir(w / "other_run", {"seed": 99}, "0123456789ab")
    (w / "blocker").write_text("a file, not a folder")
    (w / "plain_dir").mkdir()
    (w / "plot_dir").mkdir()
    return w


# (command line with {w} for the world folder, text the error line must contain)
CASES = {
    # train
    "train missing config": ("train --config {w}/missing.yaml --out {w}/t", "missing.yaml"),
    "train binary config": ("train --config {w}/binary.yaml --out {w}/t", "binary.yaml"),
    "train malformed config": ("train --config {w}/malformed.yaml --out {w}/t", "malformed YAML"),
    "train unknown key": ("train --out {w}/t --set model.widht=3", "model.widht"),
    "train wrong type": ("train --out {w}/t --set model.width=abc", "model.width"),
    "train NaN lr": ("train --out {w}/t --set optim.lr=nan", "optim.lr"),
    "train inf in file": ("train --config {w}/cfg_nan.yaml --out {w}/t", "optim.lr"),
    "train negative tokens": ("train --out {w}/t --set train.tokens=-5", "train.tokens"),
    "train huge width": ("train --out {w}/t --set model.width=1000000", "model.width"),
    "train bad dtype": ("train --out {w}/t --set model.dtype=float16", "model.dtype"),
    "train chains 1.5": ("train --out {w}/t --set data.chains=1.5", "data.chains"),
    "train chains negative": ("train --out {w}/t --set data.chains=-0.1", "data.chains"),
    "train chains text": ("train --out {w}/t --set data.chains=many", "data.chains"),
    "train chains kinds world": ("train --out {w}/t --set data.chains=0.5 --set data.world=kinds", "data.chains"),
    "train chains no qa": ("train --out {w}/t --set data.chains=0.5 --set data.mix_qa=0", "data.chains"),
    "train chains short text": ("train --out {w}/t --set data.chains=0.5 --set data.text_len=12", "data.chains"),
    "train unwritable out": ("train --out {w}/blocker/run --set train.tokens=20000", "blocker"),
    "train other config's folder": ("train --out {w}/other_run", "other_run"),
    # rl
    "rl missing pretrained": ("rl --from {w}/missing --out {w}/r", "missing"),
    "rl NaN kl": ("rl --from {w}/missing --out {w}/r --set grpo.kl=nan", "grpo.kl"),
    "rl from a sweep folder": ("rl --from {w}/runs_a --out {w}/r", "runs_a"),
    "rl malformed config": ("rl --from {w}/runs_a --config {w}/malformed.yaml --out {w}/r", "malformed YAML"),
    # sweep plan
    "plan missing file": ("sweep plan {w}/missing.yaml", "missing.yaml"),
    "plan binary file": ("sweep plan {w}/binary.yaml", "binary.yaml"),
    "plan malformed file": ("sweep plan {w}/malformed.yaml", "malformed YAML"),
    "plan unknown top key": ("sweep plan {w}/unknown_top.yaml", "colour"),
    "plan unknown axis": ("sweep plan {w}/unknown_axis.yaml", "model.widht"),
    "plan NaN lr": ("sweep plan {w}/nan_lr.yaml", "optim.lr"),
    "plan empty axis": ("sweep plan {w}/empty_axis.yaml", "seed"),
    "plan NaN cpus": ("sweep plan {w}/nan_cpus.yaml", "resources.cpus"),
    "plan workers 0": ("sweep plan {w}/good.yaml --workers 0", "--workers"),
    "plan workers -3": ("sweep plan {w}/good.yaml --workers -3", "--workers"),
    "plan flops-per-s 0": ("sweep plan {w}/good.yaml --flops-per-s 0", "--flops-per-s"),
    "plan flops-per-s NaN": ("sweep plan {w}/good.yaml --flops-per-s nan", "--flops-per-s"),
    "plan overhead -1": ("sweep plan {w}/good.yaml --overhead-s -1", "--overhead-s"),
    "plan corrupt sweep.json": ("sweep plan {w}/good.yaml --out {w}/runs_badjson", "sweep.json"),
    # sweep run
    "run another sweep's folder": ("sweep run {w}/other.yaml --out {w}/runs_a", "runs_a"),
    "run unwritable out": ("sweep run {w}/good.yaml --out {w}/blocker/s", "blocker"),
    "run corrupt sweep.json": ("sweep run {w}/good.yaml --out {w}/runs_badjson", "sweep.json"),
    "run corrupt state file": ("sweep run {w}/good.yaml --out {w}/runs_badstate", "state"),
    "run damaged run": ("sweep run {w}/good.yaml --out {w}/runs_bogus", "bogus"),
    "run random-bytes records": ("sweep run {w}/good.yaml --out {w}/runs_bytes", "metrics.jsonl"),
    "run workers 0": ("sweep run {w}/good.yaml --out {w}/runs_a --workers 0", "--workers"),
    "run unknown backend": ("sweep run {w}/good.yaml --out {w}/runs_a --backend foo", "--backend"),
    "run retries -1": ("sweep run {w}/good.yaml --out {w}/runs_a --retries -1", "--retries"),
    "run NaN lr": ("sweep run {w}/nan_lr.yaml --out {w}/n", "optim.lr"),
    # sweep status
    "status missing folder": ("sweep status {w}/missing", "missing"),
    "status not a sweep folder": ("sweep status {w}/plain_dir", "plain_dir"),
    "status corrupt sweep.json": ("sweep status {w}/runs_badjson", "sweep.json"),
    "status corrupt state file": ("sweep status {w}/runs_badstate", "state"),
    "status slowest -1": ("sweep status {w}/runs_a --slowest -1", "--slowest"),
    # compare
    "compare missing source": ("compare {w}/missing.csv --baseline A --candidate B", "missing.csv"),
    "compare empty CSV": ("compare {w}/empty.csv --baseline A --candidate B --x flops --y loss --run-col run",
                          "empty.csv"),
    "compare blank file": ("compare {w}/blank.csv --baseline A --candidate B", "blank.csv"),
    "compare binary CSV": ("compare {w}/binary.csv --baseline A --candidate B", "binary.csv"),
    "compare unknown recipe": ("compare {w}/good.csv --baseline A --candidate Z --x flops --y loss --run-col run",
                               "'Z'"),
    "compare unknown column": ("compare {w}/good.csv --baseline A --candidate B --x nope --y loss --run-col run",
                               "nope"),
    "compare string compute": ("compare {w}/string.csv --baseline A --candidate B --x flops --y loss --run-col run",
                               "flops"),
    "compare NaN compute": ("compare {w}/nan.csv --baseline A --candidate B --x flops --y loss --run-col run --bootstrap 20",
                            "flops"),
    "compare negative compute": ("compare {w}/negative.csv --baseline A --candidate B --x flops --y loss "
                                 "--run-col run --bootstrap 20", "flops"),
    "compare no common range": ("compare {w}/apart.csv --baseline A --candidate B --x flops --y loss --run-col run",
                                "range"),
    "compare trim 1.5": ("compare {w}/good.csv --baseline A --candidate B --x flops --y loss --run-col run "
                         "--trim 1.5", "--trim"),
    "compare trim NaN": ("compare {w}/good.csv --baseline A --candidate B --x flops --y loss --run-col run "
                         "--trim nan", "--trim"),
    "compare bootstrap -5": ("compare {w}/good.csv --baseline A --candidate B --x flops --y loss --run-col run "
                             "--bootstrap -5", "--bootstrap"),
    "compare plot unwritable": ("compare {w}/good.csv --baseline A --candidate B --x flops --y loss --run-col run "
                                "--plot {w}/blocker/m.png --bootstrap 20", "blocker"),
    "compare plot onto a folder": ("compare {w}/good.csv --baseline A --candidate B --x flops --y loss "
                                   "--run-col run --plot {w}/plot_dir --bootstrap 20", "plot_dir"),
    "compare plot .csv name": ("compare {w}/good.csv --baseline A --candidate B --x flops --y loss --run-col run "
                               "--plot {w}/m.csv --bootstrap 20", "m.csv"),
    "compare random-bytes records": ("compare {w}/runs_bytes --baseline baseline --candidate wide "
                                     "--y eval/loss/text", "metrics.jsonl"),
    "compare seed column one value": ("compare {w}/one_seed.csv --baseline A --candidate B --x flops --y loss "
                                      "--run-col run --seed-col seed --bootstrap 20", "--seed-col 'seed'"),
    "compare seed column missing": ("compare {w}/good.csv --baseline A --candidate B --x flops --y loss "
                                    "--run-col run --seed-col seed --bootstrap 20", "--seed-col 'seed'"),
    "plan power unknown recipe": ("plan power {w}/good.csv --baseline A --candidate Z --x flops --y loss --run-col run",
                                  "'Z'"),
    "compare damaged run": ("compare {w}/runs_bogus --baseline baseline --candidate wide --y eval/loss/text",
                            "bogus"),
    # claim
    "claim missing source": ("claim loglinear {w}/missing.csv --x flops --y loss", "missing.csv"),
    "claim empty CSV": ("claim loglinear {w}/empty.csv --x flops --y loss", "empty.csv"),
    "claim unknown column": ("claim loglinear {w}/good.csv --x nope --y loss", "nope"),
    "claim string column": ("claim loglinear {w}/string.csv --x flops --y loss", "flops"),
    "claim NaN compute": ("claim loglinear {w}/nan.csv --x flops --y loss --bootstrap 20", "flops"),
    "claim bootstrap 0": ("claim loglinear {w}/good.csv --x flops --y loss --bootstrap 0", "--bootstrap"),
    "claim bootstrap -5": ("claim loglinear {w}/good.csv --x flops --y loss --bootstrap -5", "--bootstrap"),
    "claim random-bytes records": ("claim loglinear {w}/runs_bytes --x compute/flops --y eval/loss/text",
                                   "metrics.jsonl"),
    # fit
    "fit missing source": ("fit {w}/missing.csv --law power --x flops --y loss", "missing.csv"),
    "fit empty CSV": ("fit {w}/empty.csv --law power --x flops --y loss", "empty.csv"),
    "fit unknown law": ("fit {w}/good.csv --law bogus --x flops --y loss", "bogus"),
    "fit unknown column": ("fit {w}/good.csv --law power --x nope --y loss", "nope"),
    "fit string column": ("fit {w}/string.csv --law power --x flops --y loss", "flops"),
    "fit bootstrap -5": ("fit {w}/good.csv --law power --x flops --y loss --group run --bootstrap -5",
                         "--bootstrap"),
    "fit bootstrap 1": ("fit {w}/good.csv --law power --x flops --y loss --group run --bootstrap 1", "--bootstrap"),
    "fit chinchilla one column": ("fit {w}/good.csv --law chinchilla --x flops --y loss", "--x"),
    "fit where without =": ("fit {w}/good.csv --law power --x flops --y loss --where recipe", "--where"),
    "fit seed column one value": ("fit {w}/one_seed.csv --law power --x flops --y loss --group run --seed-col seed "
                                  "--bootstrap 20", "--seed-col 'seed'"),
    "fit random-bytes records": ("fit {w}/runs_bytes --law power --x compute/flops --y eval/loss/text",
                                 "metrics.jsonl"),
    # report
    "report missing file": ("report {w}/missing.yaml", "missing.yaml"),
    "report malformed file": ("report {w}/malformed.yaml", "malformed YAML"),
    "report no runs": ("report {w}/good.yaml --runs {w}/plain_dir --no-train --out {w}/rep", "plain_dir"),
    "report bootstrap 0": ("report {w}/good.yaml --runs {w}/runs_a --no-train --out {w}/rep --bootstrap 0",
                           "bootstrap"),
    "report bootstrap -5": ("report {w}/good.yaml --runs {w}/runs_a --no-train --out {w}/rep --bootstrap -5",
                            "bootstrap"),
    "report workers 0": ("report {w}/good.yaml --runs {w}/runs_a --out {w}/rep --workers 0", "--workers"),
    "report rl unknown testtime key": ("report {w}/rl_report_key.yaml --out {w}/rep", "report.testtime.colour"),
    "report rl min_seg 1": ("report {w}/rl_report_minseg.yaml --out {w}/rep", "report.min_seg"),
    "report unwritable out": ("report {w}/good.yaml --runs {w}/runs_a --no-train --out {w}/blocker/rep", "blocker"),
    # bench, testtime
    "bench flops width 0": ("bench flops --width 0", "model.width"),
    "testtime missing run": ("testtime {w}/missing --out {w}/tt", "missing"),
}


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None, p.stat().st_mode)
            for p in sorted(folder.rglob("*")) if p.name != ".launcher.lock"}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(world, name, capsys, monkeypatch):
    line, culprit = CASES[name]
    monkeypatch.chdir(world)  # default outputs (runs/<stem>, report/<stem>) would land in the snapshot
    before = _snapshot(world)
    try:
        rc = main(line.format(w=world).split())
    except BaseException as err:  # noqa: BLE001 - a traceback is the failure this test looks for
        pytest.fail(f"{name}: traceback ({type(err).__name__}: {err})")
    err_lines = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert rc == 2, f"{name}: exit {rc}, stderr {err_lines}"
    assert len(err_lines) == 1, f"{name}: {len(err_lines)} lines: {err_lines}"
    assert culprit in err_lines[0], f"{name}: {err_lines[0]!r} does not name {culprit!r}"
    assert _snapshot(world) == before, f"{name}: changed files on disk"
