"""Bad input to compare / claim / fit: one line naming the option or culprit, exit code 2.

Run in-process (`scaling.cli.main`: an exception would escape it as a traceback); one case runs
as a real process to check the exit code and stderr end to end."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from claims_synthetic import runs
from scaling.cli import main


@pytest.fixture(scope="module")
def csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "runs.csv"
    pd.concat([runs("base", 1.0, 0), runs("cand", 2.0, 1)]).to_csv(path, index=False)
    return path


class Done:
    """What a command did: its exit code, stdout and stderr."""

    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def run(capsys):
    def _run(*args):
        capsys.readouterr()
        rc = main([str(a) for a in args])
        out = capsys.readouterr()
        return Done(rc, out.out, out.err)
    return _run


@pytest.fixture
def compare(run):
    return lambda csv, *extra: run("compare", csv, "--baseline", "base", "--candidate", "cand", *extra)


@pytest.mark.parametrize("extra, culprit", [
    (["--trim", "1.5"], "--trim"), (["--trim", "nan"], "--trim"),
    (["--bootstrap", "-5"], "--bootstrap"), (["--bootstrap", "0"], "--bootstrap"),
    (["--claim", "2x", "--margin", "150%"], "--margin"),
    (["--margin", "10%"], "--margin"),
    (["--at-compute", "1e30"], "--at-compute"),
    (["--plot", "out.csv"], ".png"),
])
def test_compare_bad_options(csv, compare, extra, culprit):
    proc = compare(csv, *extra)
    assert proc.returncode == 2, proc.stderr
    assert culprit in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args, culprit", [
    (["compare", "{csv}", "--baseline", "base", "--candidate", "cand", "--trim", "1.5"], "--trim"),
    pytest.param(["claim", "loglinear", "{csv}", "--x", "compute/flops", "--y", "eval/loss/caption", "--bootstrap",
                  "0"], "--bootstrap", marks=pytest.mark.slow),  # starts a Python with JAX (~4 s)
])
def test_bad_option_in_a_real_process(csv, args, culprit):
    proc = subprocess.run([sys.executable, "-m", "scaling.cli.__main__", *(a.format(csv=csv) for a in args)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert culprit in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_compare_bad_files(csv, tmp_path, run, compare):
    _run, _compare = run, compare
    (tmp_path / "adir.png").mkdir()
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    empty = tmp_path / "empty.csv"
    pd.DataFrame(columns=["run_id", "recipe", "compute/flops", "eval/loss/caption"]).to_csv(empty, index=False)
    bad = pd.read_csv(csv)
    bad.loc[3, "compute/flops"] = np.nan
    bad.to_csv(tmp_path / "nan.csv", index=False)
    sweep = tmp_path / "sweep" / "runs" / "r1"
    sweep.mkdir(parents=True)
    (sweep / "metrics.jsonl").write_bytes(os.urandom(256))
    (sweep / "summary.json").write_text('{"status": "done"}')
    (sweep / "config.json").write_text('{"run_id": "r1", "recipe": "base"}')
    cases = [(_compare(csv, "--plot", tmp_path / "adir.png"), "directory"),
             (_compare(empty, "--claim", "2x"), "no rows"),
             (_compare(tmp_path / "nan.csv"), "'compute/flops' row 3"),
             (_compare(tmp_path / "sweep"), "sweep"),
             (_run("fit", tmp_path / "nan.csv", "--law", "power", "--x", "compute/flops"), "row 3"),
             (_run("fit", csv, "--law", "chinchilla", "--x", "params/total"), "--x"),
             (_run("fit", csv, "--law", "power", "--bootstrap", "-5"), "--bootstrap"),
             (_run("claim", "loglinear", csv, "--x", "compute/flops", "--y", "eval/loss/caption", "--bootstrap", "0"),
              "--bootstrap")]
    if os.geteuid() != 0:  # root ignores permissions
        cases.append((_compare(csv, "--plot", ro / "m.png"), "not writable"))
    for proc, culprit in cases:
        assert proc.returncode == 2, (culprit, proc.stderr[-500:])
        assert culprit in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.slow
def test_fit_json_has_no_nan_and_says_what_was_resampled(csv, run):
    proc = run("fit", csv, "--law", "power", "--x", "compute/flops", "--y", "eval/loss/caption",
                "--where", "recipe=base", "--bootstrap", "50", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "NaN" not in proc.stdout
    res = json.loads(proc.stdout)
    assert "drawn with replacement" in res["resampled"] and "frontier" in res["fitted_to"]
    lo, hi = res["intervals"]["alpha"]
    assert lo <= res["params"]["alpha"] <= hi
