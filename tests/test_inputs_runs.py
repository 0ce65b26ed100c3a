"""The contract for commands that read or write run folders: a damaged input (a record appended,
removed, torn or cut; a deleted summary.json or config.json; a run folder deleted from the books or
copied in from another training; an edited config; swapped final parameters; a value outside its
domain; a bad option) exits 2 with one line naming the culprit, no traceback, and leaves the disk
as it was (no file changed, none made).

One tiny sweep (two seeds of one shape) is trained once per module, and one of its runs once more
in a second sweep folder (the "other training" a copied run folder comes from); each case damages
a copy. The table of kinds tried per command is in INPUTS_RUNS.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from scaling import records
from scaling.cli import main

SWEEP = """
recipes:
  baseline:
    model: {width: 16}
    data: {val_examples: 16}
    train: {tokens: 20000, batch_size: 4, eval_points: 3, eval_batch_size: 16, checkpoint_every: 1000}
grid:
  seed: [0, 1]
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """base/tiny.yaml, base/A (the sweep, trained), base/B (A with its first run trained again)."""
    base = tmp_path_factory.mktemp("inputs")
    (base / "tiny.yaml").write_text(SWEEP)
    assert main(["sweep", "run", str(base / "tiny.yaml"), "--out", str(base / "A"), "--workers", "1"]) == 0
    runs = sorted(json.loads((base / "A" / "sweep.json").read_text())["runs"])
    shutil.copytree(base / "A", base / "B", symlinks=True)
    shutil.rmtree(base / "B" / "runs" / runs[0])
    assert main(["sweep", "run", str(base / "tiny.yaml"), "--out", str(base / "B"), "--workers", "1"]) == 0
    return base, runs


class Tree:
    """A copy of the trained sweep to damage: `root` holds tiny.yaml and A/; `r0`, `r1` A's runs."""

    def __init__(self, base: Path, runs: list[str], root: Path):
        self.base, self.root = base, root
        shutil.copytree(base / "A", root / "A", symlinks=True)
        shutil.copy(base / "tiny.yaml", root / "tiny.yaml")
        self.sweep, self.yaml = root / "A", root / "tiny.yaml"
        self.ids = runs
        self.r0, self.r1 = (self.sweep / "runs" / r for r in runs)

    def config_yaml(self, run: Path) -> Path:
        """The run's config as a --config file (without its run_id)."""
        cfg = json.loads((run / "config.json").read_text())
        cfg.pop("run_id")
        path = self.root / "run.yaml"
        path.write_text(json.dumps(cfg))
        return path


def _snapshot(root: Path) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "link:" + os.readlink(path)
            elif path.is_file():
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                out[rel] = "dir"
    return out


# ---------------------------------------------------------------- damages (each on a Tree, in place)


def append_record(t, run):
    recs = (run / "metrics.jsonl").read_text().splitlines()
    last = json.loads(recs[-1])
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps({**last, "train/loss": 0.1}) + "\n")


def drop_last_record(t, run):
    lines = (run / "metrics.jsonl").read_text().splitlines(keepends=True)
    (run / "metrics.jsonl").write_text("".join(lines[:-1]))


def tear_last_line(t, run):
    data = (run / "metrics.jsonl").read_bytes()
    (run / "metrics.jsonl").write_bytes(data[:-20])


def cut_records(t, run):
    lines = (run / "metrics.jsonl").read_text().splitlines(keepends=True)
    (run / "metrics.jsonl").write_text(lines[0])


def empty_records(t, run):
    (run / "metrics.jsonl").write_text("")


def delete(name):
    def damage(t, run):
        path = run / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    damage.__name__ = f"delete_{name}"
    return damage


def edit_config(t, run):
    cfg = json.loads((run / "config.json").read_text())
    cfg["optim"]["lr"] = 0.5
    (run / "config.json").write_text(json.dumps(cfg))


def edit_summary(t, run):
    s = json.loads((run / "summary.json").read_text())
    s["final"]["eval/loss/caption"] = 0.01
    (run / "summary.json").write_text(json.dumps(s))


def swap_final(t, run):
    other = t.r1 if run == t.r0 else t.r0
    shutil.rmtree(run / "final")
    shutil.copytree(other / "final", run / "final")


def delete_run(t, run):
    shutil.rmtree(run)


def copy_from_other_training(t, run):
    """The same run id, trained again in another sweep folder (B), copied over this one."""
    shutil.rmtree(run)
    shutil.copytree(t.base / "B" / "runs" / run.name, run, symlinks=True)


def tear_book(t, run):
    book = t.sweep / "state" / f"{run.name}.json"
    book.write_text(book.read_text()[:30])


def index_runs_not_list(t, run):
    index = t.sweep / "sweep.json"
    info = json.loads(index.read_text())
    (index).write_text(json.dumps({**info, "runs": "all"}))


def tear_index(t, run):
    index = t.sweep / "sweep.json"
    index.write_text(index.read_text()[:40])


def old_run(t, run):
    """A run committed before checksums were recorded (nothing to compare with)."""
    s = json.loads((run / "summary.json").read_text())
    s.pop("checksums")
    s.pop("seed", None)
    (run / "summary.json").write_text(json.dumps(s))


def rl_without_pretrained_config(t, run):
    old_run(t, run)
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "stage": "rl"}))


def other_seed_in_config(t, run):
    old_run(t, run)
    s = json.loads((run / "summary.json").read_text())
    s["final"]["seed"] = 7
    (run / "summary.json").write_text(json.dumps(s))


def yaml_with(text):
    def damage(t, run):
        t.yaml.write_text(SWEEP + text)
    damage.__name__ = "yaml_with"
    return damage


def out_file(t, run):
    (t.root / "out").write_text("not a folder\n")


def out_loop(t, run):
    os.symlink(t.root / "loop2", t.root / "out")
    os.symlink(t.root / "out", t.root / "loop2")


def nothing(t, run):
    pass


def foreign_study(t, run):
    (t.root / "out").mkdir()
    (t.root / "out" / "config.json").write_text(json.dumps({"run": "elsewhere", "run_id": "x", "M": [1]}))


# ---------------------------------------------------------------- the table: (damage, args, culprit)

TRAIN = ["--set", "model.width=16", "--set", "data.val_examples=16", "--set", "train.batch_size=4",
         "--set", "train.tokens=20000", "--set", "train.eval_points=3", "--set", "train.eval_batch_size=16"]


def _train(*extra):
    return lambda t: ["train", "--out", str(t.root / "out"), *TRAIN, *extra]


def _train_into(run_attr):
    return lambda t: ["train", "--config", str(t.config_yaml(getattr(t, run_attr))),
                      "--out", str(getattr(t, run_attr)), "--quiet"]


CASES = {
    "train": [
        (nothing, _train("--set", "data.seed=-1"), "data.seed"),
        (nothing, _train("--set", "seed=-1"), "seed"),
        (nothing, _train("--set", "train.eval_points=100000"), "train.eval_points"),
        (nothing, _train("--set", "optim.lr=nan"), "optim.lr"),
        (nothing, _train("--set", "optim.lr=inf"), "optim.lr"),
        (nothing, _train("--set", "optim.warmup=1.5"), "optim.warmup"),
        (nothing, _train("--set", "model.width=0"), "model.width"),
        (nothing, _train("--set", "data.zipf=nan"), "data.zipf"),
        (nothing, _train("--set", "train.tokens=1e400"), "train.tokens"),
        (nothing, _train("--set", "optim.lr"), "optim.lr"),
        (nothing, _train("--set", "model.widht=16"), "model.widht"),
        (out_file, _train(), "OUT"),
        (out_loop, _train(), "OUT"),
        (nothing, lambda t: ["train", "--config", str(t.root / "missing.yaml"), "--out", str(t.root / "out")],
         "missing.yaml"),
        (append_record, _train_into("r0"), "metrics.jsonl"),
        (delete("metrics.jsonl"), _train_into("r0"), "metrics.jsonl"),
        (swap_final, _train_into("r0"), "final"),
        (nothing, lambda t: ["train", "--out", str(t.r0), *TRAIN, "--set", "seed=5"], "holds run"),
        (nothing, lambda t: ["train", "--out", str(t.root / "out"), "--bogus"], "--bogus"),
    ],
    "rl": [
        (delete("summary.json"), [], "summary.json"),
        (edit_config, [], "config.json"),
        (swap_final, [], "final"),
        (delete("final"), [], "final"),
        (append_record, [], "metrics.jsonl"),
        (delete_run, [], "r0"),
        (nothing, ["--set", "seed=-1"], "seed"),
        (nothing, ["--set", "problems.seed=-1"], "problems.seed"),
        (nothing, ["--set", "sampling.temperature=nan"], "sampling.temperature"),
        (nothing, ["--set", "optim.lr=inf"], "optim.lr"),
        (nothing, ["--set", "grpo.kl=-1"], "grpo.kl"),
        (nothing, ["--set", "steps=0"], "steps"),
        (out_file, [], "OUT"),
        (out_loop, [], "OUT"),
    ],
    "sweep plan": [
        (out_file, [], "OUT"),
        (out_loop, [], "OUT"),
        (yaml_with("  optim.lr: [.nan]\n"), ["--out", "A"], "optim.lr"),
        (yaml_with("  data.seed: [-1]\n"), ["--out", "A"], "data.seed"),
        (yaml_with("  train.eval_points: [10000]\n"), ["--out", "A"], "train.eval_points"),
        (yaml_with("bogus: 1\n"), ["--out", "A"], "bogus"),
        (nothing, ["--out", "A", "--workers", "0"], "--workers"),
        (nothing, ["--out", "A", "--flops-per-s", "nan"], "--flops-per-s"),
        (nothing, ["--out", "A", "--overhead-s", "-1"], "--overhead-s"),
        (nothing, ["--out", "A", "--pack", "0"], "--pack"),
        (tear_index, ["--out", "A"], "sweep.json"),
        (tear_book, ["--out", "A"], "state"),
    ],
    "sweep run": [
        (append_record, ["--out", "A"], "metrics.jsonl"),
        (drop_last_record, ["--out", "A"], "metrics.jsonl"),
        (tear_last_line, ["--out", "A"], "metrics.jsonl"),
        (cut_records, ["--out", "A"], "metrics.jsonl"),
        (empty_records, ["--out", "A"], "metrics.jsonl"),
        (delete("metrics.jsonl"), ["--out", "A"], "metrics.jsonl"),
        (delete("summary.json"), ["--out", "A"], "summary.json"),
        (delete("config.json"), ["--out", "A"], "config.json"),
        (edit_config, ["--out", "A"], "config.json"),
        (edit_summary, ["--out", "A"], "summary.json"),
        (swap_final, ["--out", "A"], "final"),
        (copy_from_other_training, ["--out", "A"], "another training"),
        (tear_index, ["--out", "A"], "sweep.json"),
        (tear_book, ["--out", "A"], "state"),
        (yaml_with("  seed: [-1]\n"), ["--out", "A"], "seed"),
        (out_file, [], "OUT"),
        (out_loop, [], "OUT"),
        (nothing, ["--out", "A", "--workers", "0"], "--workers"),
        (nothing, ["--out", "A", "--retries", "-1"], "--retries"),
        (nothing, ["--out", "A", "--backend", "cloud"], "cloud"),
    ],
    "sweep status": [
        (delete_run, [], "r0"),
        (delete("summary.json"), [], "summary.json"),
        (delete("config.json"), [], "config.json"),
        (index_runs_not_list, [], "sweep.json"),
        (tear_index, [], "sweep.json"),
        (tear_book, [], "state"),
        (nothing, ["--slowest", "-1"], "--slowest"),
        (nothing, ["--plain"], "--plain"),
    ],
    "report": [
        (delete_run, [], "r0"),
        (append_record, [], "metrics.jsonl"),
        (tear_last_line, [], "metrics.jsonl"),
        (delete("summary.json"), [], "summary.json"),
        (delete("config.json"), [], "config.json"),
        (edit_config, [], "config.json"),
        (copy_from_other_training, [], "another training"),
        (yaml_with("report: {trim: 1.5}\n"), [], "report.trim"),
        (yaml_with("report: {bootstrap: 0}\n"), [], "report.bootstrap"),
        (yaml_with("report: {trim: .nan}\n"), [], "report.trim"),
        (nothing, ["--bootstrap", "5"], "--bootstrap"),
        (out_file, [], "OUT"),
        (out_loop, [], "OUT"),
    ],
    "testtime": [
        (delete("summary.json"), [], "summary.json"),
        (edit_config, [], "config.json"),
        (swap_final, [], "final"),
        (delete("final"), [], "final"),
        (append_record, [], "metrics.jsonl"),
        (delete_run, [], "r0"),
        (rl_without_pretrained_config, [], "pretrained_config"),
        (other_seed_in_config, [], "seed"),
        (nothing, ["--temperature", "nan"], "--temperature"),
        (nothing, ["--temperature", "inf"], "--temperature"),
        (nothing, ["--temperature", "0"], "--temperature"),
        (nothing, ["--temperature", "-1"], "--temperature"),
        (nothing, ["--seeds", "-1"], "--seeds"),
        (nothing, ["--seeds", "a"], "--seeds"),
        (nothing, ["--m", "0"], "--m"),
        (nothing, ["--problems", "0"], "--problems"),
        (nothing, ["--max-len", "0"], "--max-len"),
        (nothing, ["--max-len", "-3"], "--max-len"),
        (nothing, ["--summary-k", "0"], "--summary-k"),
        (out_file, [], "OUT"),
        (out_loop, [], "OUT"),
        (foreign_study, [], "another test-time study"),
    ],
    "load": [
        (delete_run, None, "r0"),
        (append_record, None, "metrics.jsonl"),
        (drop_last_record, None, "metrics.jsonl"),
        (tear_last_line, None, "metrics.jsonl"),
        (cut_records, None, "metrics.jsonl"),
        (empty_records, None, "metrics.jsonl"),
        (delete("metrics.jsonl"), None, "metrics.jsonl"),
        (delete("summary.json"), None, "summary.json"),
        (delete("config.json"), None, "config.json"),
        (edit_config, None, "config.json"),
        (edit_summary, None, "summary.json"),
        (swap_final, None, "final"),
        (delete("final"), None, "final"),
        (copy_from_other_training, None, "another training"),
        (index_runs_not_list, None, "sweep.json"),
        (tear_book, None, "state"),
    ],
}


def _cases(command):
    return [pytest.param(d, a, c, id=f"{getattr(d, '__name__', 'damage')}-{i}") for i, (d, a, c) in
            enumerate(CASES[command])]


def _culprit(t: Tree, culprit: str) -> str:
    return {"r0": t.ids[0], "OUT": f"--out {t.root / 'out'}"}.get(culprit, culprit)


def _refused(t: Tree, args: list, culprit: str, capsys) -> None:
    """exit 2, one line naming the culprit, nothing on disk changed and nothing made."""
    before = _snapshot(t.root)
    capsys.readouterr()
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    lines = (out + err).strip().splitlines()
    assert rc == 2, (out, err)
    assert len(lines) == 1, lines
    assert "Traceback" not in out + err
    assert _culprit(t, culprit) in lines[0], lines[0]
    assert _snapshot(t.root) == before


def _tree(trained, tmp_path):
    base, runs = trained
    return Tree(base, runs, tmp_path / "t")


@pytest.mark.parametrize("damage, args, culprit", _cases("train"))
def test_train_refuses(trained, tmp_path, capsys, damage, args, culprit):
    t = _tree(trained, tmp_path)
    damage(t, t.r0)
    _refused(t, args(t), culprit, capsys)


@pytest.mark.parametrize("damage, extra, culprit", _cases("rl"))
def test_rl_refuses(trained, tmp_path, capsys, damage, extra, culprit):
    t = _tree(trained, tmp_path)
    damage(t, t.r0)
    _refused(t, ["rl", "--from", t.r0, "--out", t.root / "out", "--set", "steps=2", *extra], culprit, capsys)


@pytest.mark.parametrize("damage, extra, culprit", _cases("sweep plan"))
def test_sweep_plan_refuses(trained, tmp_path, capsys, damage, extra, culprit):
    t = _tree(trained, tmp_path)
    damage(t, t.r0)
    extra = [t.root / a if a == "A" else a for a in extra] if "--out" in extra else ["--out", t.root / "out", *extra]
    _refused(t, ["sweep", "plan", t.yaml, *extra], culprit, capsys)


@pytest.mark.parametrize("damage, extra, culprit", _cases("sweep run"))
def test_sweep_run_refuses(trained, tmp_path, capsys, damage, extra, culprit):
    t = _tree(trained, tmp_path)
    damage(t, t.r0)
    extra = [t.root / a if a == "A" else a for a in extra] if "--out" in extra else ["--out", t.root / "out", *extra]
    _refused(t, ["sweep", "run", t.yaml, *extra], culprit, capsys)


@pytest.mark.parametrize("damage, extra, culprit", _cases("sweep status"))
def test_sweep_status_refuses(trained, tmp_path, capsys, damage, extra, culprit):
    t = _tree(trained, tmp_path)
    damage(t, t.r0)
    _refused(t, ["sweep", "status", t.sweep, *extra], culprit, capsys)


@pytest.mark.parametrize("damage, extra, culprit", _cases("report"))
def test_report_refuses(trained, tmp_path, capsys, damage, extra, culprit):
    t = _tree(trained, tmp_path)
    damage(t, t.r0)
    _refused(t, ["report", t.yaml, "--runs", t.sweep, "--out", t.root / "out", "--no-train", *extra], culprit, capsys)


@pytest.mark.parametrize("damage, extra, culprit", _cases("testtime"))
def test_testtime_refuses(trained, tmp_path, capsys, damage, extra, culprit):
    t = _tree(trained, tmp_path)
    damage(t, t.r0)
    _refused(t, ["testtime", t.r0, "--out", t.root / "out", "--m", "1", "--problems", "2", *extra], culprit, capsys)


@pytest.mark.parametrize("damage, _, culprit", _cases("load"))
def test_load_refuses(trained, tmp_path, damage, _, culprit):
    import scaling
    from scaling.errors import DataError

    t = _tree(trained, tmp_path)
    damage(t, t.r0)
    before = _snapshot(t.root)
    for reader in (scaling.load, scaling.load_runs):
        with pytest.raises(DataError) as err:
            reader(t.sweep)
        assert len(str(err.value).splitlines()) == 1 and _culprit(t, culprit) in str(err.value)
    assert _snapshot(t.root) == before


@pytest.mark.parametrize("damage", [copy_from_other_training, edit_summary, append_record])
def test_sweep_status_shows_a_changed_run_as_damaged(trained, tmp_path, capsys, damage):
    """`sweep status` lists a run changed since its commit as damaged, with the reason (it is the
    tool to find such runs; `load`, `report` and `sweep run` refuse them)."""
    t = _tree(trained, tmp_path)
    damage(t, t.r0)
    before = _snapshot(t.root)
    capsys.readouterr()
    assert main(["sweep", "status", str(t.sweep), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in info["damaged"]] == [t.ids[0]] and info["counts"]["done"] == 1
    assert str(t.r0) in info["damaged"][0]["detail"]
    assert _snapshot(t.root) == before


def test_the_trained_sweep_reads_whole(trained, tmp_path):
    """The undamaged copy is read in full (the cases above fail for their damage, not for the copy)."""
    import scaling

    t = _tree(trained, tmp_path)
    df = scaling.load(t.sweep)
    assert sorted(df["run_id"].unique()) == t.ids and (df.groupby("run_id").size() >= 3).all()
    assert main(["sweep", "status", str(t.sweep)]) == 0
    summary = records.read_summary(t.r0)
    assert summary["seed"] == json.loads((t.r0 / "config.json").read_text())["seed"]
    from scaling import reading
    from scaling.sweep import layout

    assert reading.STATE == layout.STATE  # the readers find the books where the launcher keeps them
    book = json.loads((t.sweep / "state" / f"{t.ids[0]}.json").read_text())
    assert book["summary"] == hashlib.sha256((t.r0 / "summary.json").read_bytes()).hexdigest()


# ---------------------------------------------------------------- a test-time study folder's rows

STUDY = {"run": "/runs/x", "run_id": "abc", "stage": "pretrain", "M": [1, 2], "seeds": [0, 1], "problems": 3,
         "set": "heldout", "kind": "scene", "max_len": 6, "temperature": 1.0, "summary_k": 2}


def _study(folder: Path, commit: bool = False) -> Path:
    """A study folder as `scaling testtime` writes it (rows of every seed, M, problem and scheme)."""
    from scaling.testtime.schemes import SCHEMES

    folder.mkdir()
    rows = [{"seed": s, "M": m, "problem": i, "tier": 0, "tt/branches": m, "n_correct": 1,
             "answers": [["red", m, True]], "tt/think_mean": 0.0, "scheme": scheme, "correct": i % 2 == 0,
             "tt/tokens_total": 3 * m, "tt/tokens_critical": 3, "tt/rounds": 1 + (scheme == "agents"),
             "tt/latency_s": 0.01, "tt/flops": 1e6}
            for s in STUDY["seeds"] for m in STUDY["M"] for i in range(STUDY["problems"]) for scheme in SCHEMES]
    records.atomic_write_json(folder / "config.json", STUDY)
    (folder / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if commit:
        records.write_summary(folder, {"status": "done", **STUDY})
    return folder


def _lines(folder, edit):
    path = folder / "records.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(edit(lines)))


def _row(lines, i, **change):
    return lines[:i] + [json.dumps({**json.loads(lines[i]), **change}) + "\n"] + lines[i + 1:]


ROWS = [
    (lambda f: _lines(f, lambda ls: ls[:2] + ["{not json\n"] + ls[2:]), "line 3"),
    (lambda f: _lines(f, lambda ls: ls[:2] + ["[1, 2, 3]\n"] + ls[2:]), "line 3"),
    (lambda f: _lines(f, lambda ls: _row(ls, 4, M="four")), "line 5: M"),
    (lambda f: _lines(f, lambda ls: _row(ls, 0, correct="yes")), "line 1: correct"),
    (lambda f: _lines(f, lambda ls: _row(ls, 1, **{"tt/latency_s": float("nan")})), "line 2: tt/latency_s"),
    (lambda f: _lines(f, lambda ls: _row(ls, 1, **{"tt/latency_s": -0.5})), "line 2: tt/latency_s"),
    (lambda f: _lines(f, lambda ls: _row(ls, 6, seed=-1)), "line 7: seed"),
    (lambda f: _lines(f, lambda ls: [json.dumps({k: v for k, v in json.loads(ls[0]).items() if k != "scheme"}) + "\n"]
                      + ls[1:]), "line 1: no scheme"),
    (lambda f: _lines(f, lambda ls: ls + ls[:1]), "already on line 1"),
    (lambda f: _lines(f, lambda ls: ls + [json.dumps({**json.loads(x), "seed": json.loads(x)["seed"] + 5}) + "\n"
                                          for x in ls]), "seed 5, which the study"),
    (lambda f: _lines(f, lambda ls: ls + [json.dumps({**json.loads(x), "problem": json.loads(x)["problem"] + 3}) + "\n"
                                          for x in ls]), "another study"),
    (lambda f: _lines(f, lambda ls: ls[:-1]), "rows missing"),
    (lambda f: _lines(f, lambda ls: ls[:-1] + [ls[-1][:15]]), f"line {2 * 2 * 3 * 3}"),
    (lambda f: (f / "records.jsonl").write_text(""), "no rows"),
    (lambda f: (f / "records.jsonl").unlink(), "records.jsonl"),
]


@pytest.mark.parametrize("damage, culprit", ROWS)
def test_study_rows_refused(tmp_path, damage, culprit):
    """`read_rows` (what `scaling claim parallel` and the RL report read): one study, every row whole."""
    from scaling.errors import DataError
    from scaling.testtime.study import read_rows

    folder = _study(tmp_path / "study")
    assert len(read_rows(folder)) == 2 * 2 * 3 * 3
    damage(folder)
    before = _snapshot(tmp_path)
    with pytest.raises(DataError) as err:
        read_rows(folder)
    assert len(str(err.value).splitlines()) == 1 and culprit in str(err.value), str(err.value)
    assert str(folder) in str(err.value)
    assert _snapshot(tmp_path) == before


def test_committed_study_changed_is_refused_by_the_claim(tmp_path, capsys):
    folder = _study(tmp_path / "study", commit=True)
    _lines(folder, lambda ls: ls + ls[:1])
    before = _snapshot(tmp_path)
    assert main(["claim", "parallel", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "records.jsonl" in err[0] and "changed after" in err[0], err
    assert _snapshot(tmp_path) == before
