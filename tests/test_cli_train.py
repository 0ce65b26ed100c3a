"""`scaling train` from the command line: success, and one-line errors with exit code 2.

The bad-input cases run in-process (`scaling.cli.main`: an exception would escape it as a
traceback); one case runs as a real process to check the exit code and stderr end to end."""

import contextlib
import io
import shutil
import subprocess
import sys

import pytest

from scaling.cli import main

# the shapes of tests/test_train.py's tiny run, so the compiled step is shared through the cache
TINY = ["--set", "model.width=32", "--set", "data.val_examples=32", "--set", "train.batch_size=8",
        "--set", "train.eval_batch_size=32", "--set", "train.tokens=40000", "--set", "train.eval_points=3"]


def _run(args):
    return subprocess.run([sys.executable, "-m", "scaling.cli.__main__", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One run trained by `scaling train` (and what it printed); tests damage copies of it."""
    run = tmp_path_factory.mktemp("cli") / "run"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["train", "--out", str(run), *TINY]) == 0
    return run, out.getvalue()


def test_train_cli_writes_a_run(trained, tmp_path, capsys):
    import json

    from scaling import provenance, records

    run = tmp_path / "run"
    shutil.copytree(trained[0], run)
    assert "done:" in trained[1]
    assert {p.name for p in run.iterdir()} >= {"config.json", "metrics.jsonl", "summary.json"}
    prov = records.read_summary(run)["provenance"]
    assert prov["code"] == provenance.code_version() and prov["device"]["count"] >= 1 and prov["device"]["kind"]
    assert prov["packages"]["jax"] and prov["host"]
    # again, as JSON: nothing is trained, the summary is printed as valid JSON
    before = (run / "metrics.jsonl").read_bytes()
    assert main(["train", "--out", str(run), *TINY, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "done"
    # a committed run of other code is refused, unless accepted
    summary = records.read_summary(run)
    records.atomic_write_json(run / "summary.json", {**summary, "provenance": {**prov, "code": "000000000000"}})
    assert main(["train", "--out", str(run), *TINY]) == 2
    assert "--accept-code" in capsys.readouterr().err
    assert main(["train", "--out", str(run), *TINY, "--accept-code", "--quiet"]) == 0
    assert (run / "metrics.jsonl").read_bytes() == before


BAD = [
    ("model: [1, 2\n", [], "malformed YAML"),
    ("model:\n  widht: 64\n", [], "model.widht"),
    ("model:\n  width: sixty\n", [], "model.width"),
    ("model:\n  width: 64\n  heads: 3\n", [], "model.heads"),
    ("", ["--set", "optim.lr"], "optim.lr"),
]


@pytest.mark.parametrize("content, extra, culprit", BAD)
def test_bad_input_is_one_line_and_exit_2(tmp_path, content, extra, culprit, capsys):
    path = tmp_path / "cfg.yaml"
    path.write_text(content)
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "out"), *extra]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and culprit in err, err
    assert not (tmp_path / "out").exists()


def test_bad_input_in_a_real_process(tmp_path):
    content, extra, culprit = BAD[1]
    path = tmp_path / "cfg.yaml"
    path.write_text(content)
    proc = _run(["train", "--config", str(path), "--out", str(tmp_path / "out"), *extra])
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert culprit in proc.stderr
    assert not (tmp_path / "out").exists()


def test_unwritable_and_foreign_output_folders(trained, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["train", "--out", str(blocker / "run"), *TINY]) == 2
    err = capsys.readouterr().err
    assert "not writable" in err and "file" in err
    assert blocker.read_text() == "not a folder"
    shutil.copytree(trained[0], tmp_path / "run")
    before = (tmp_path / "run" / "metrics.jsonl").read_bytes()
    assert main(["train", "--out", str(tmp_path / "run"), *TINY, "--set", "seed=5"]) == 2
    err = capsys.readouterr().err
    assert "different config" in err and str(tmp_path / "run") in err
    assert (tmp_path / "run" / "metrics.jsonl").read_bytes() == before
