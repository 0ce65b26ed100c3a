"""Kill-and-resume harness: SIGKILL the sweep launcher, and separately its workers, at random moments,
start it again until the sweep completes, and compare the records with an uninterrupted sweep.

    python tests/sweep_harness.py [--real] [--kills N] [--seed S]    # prints the counts as JSON

Used by tests/test_sweep_resume.py (the fake trainer: seconds) and by hand or in the slow test
with the real trainer, whose four runs of one shape train as one pack (`--pack 1`: each alone).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FAKE = f"{HERE / 'sweep_fake_trainer.py'}:train"
VOLATILE = ("time/", "throughput/")  # wall-clock fields differ between any two runs

FAKE_SWEEP = """
recipes:
  baseline: {model: {width: 16}, train: {tokens: 20000, batch_size: 4, eval_points: 10}}
  wide_mlp: {model: {mlp_ratio: 8}}
grid:
  model.width: [16, 32, 48]
  seed: [0, 1]
"""

REAL_SWEEP = """
recipes:
  baseline:
    model: {width: 16}
    data: {val_examples: 16}
    train: {tokens: 40000, batch_size: 4, eval_points: 4, eval_batch_size: 16, checkpoint_every: 20}
grid:
  seed: [0, 1, 2, 3]
"""


def launcher(sweep: Path, out: Path, trainer: str | None, workers: int, env: dict,
             pack: int | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-c", "from scaling.cli import entry; entry()", "sweep", "run", str(sweep),
           "--out", str(out), "--workers", str(workers), "--retries", "1000"]
    if pack is not None:
        cmd += ["--pack", str(pack)]
    if trainer:
        cmd += ["--trainer", trainer]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc/*/stat)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def run_to_end(sweep: Path, out: Path, trainer: str | None, workers: int, env: dict,
               pack: int | None = None) -> int:
    return launcher(sweep, out, trainer, workers, env, pack).wait()


def chaos(sweep: Path, out: Path, trainer: str | None, *, kills: int, seed: int, workers: int = 2,
          window: tuple[float, float] = (0.2, 3.0), env: dict | None = None, pack: int | None = None) -> dict:
    """Kill the launcher and one of its workers in turn, `kills` times, at random moments; then finish."""
    rng = random.Random(seed)
    env = {**os.environ, **(env or {})}
    counts = {"launcher_kills": 0, "worker_kills": 0, "launches": 0}
    proc = None
    for i in range(kills):
        if proc is None or proc.poll() is not None:
            if proc is not None and proc.returncode == 0:
                break  # finished before we got to kill it again
            proc = launcher(sweep, out, trainer, workers, env, pack)
            counts["launches"] += 1
        time.sleep(rng.uniform(*window))
        if i % 2:  # a worker: wait (a little) for one to exist
            deadline = time.monotonic() + 5
            while not (kids := children(proc.pid)) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if kids:
                os.kill(rng.choice(kids), signal.SIGKILL)
                counts["worker_kills"] += 1
        elif proc.poll() is None:
            proc.kill()
            proc.wait()
            counts["launcher_kills"] += 1
    if proc is not None and proc.poll() is None:
        proc.wait()
    if proc is None or proc.returncode != 0:
        counts["launches"] += 1
        rc = run_to_end(sweep, out, trainer, workers, env, pack)
        assert rc == 0, f"the final launch failed (exit {rc})"
    return counts


def raw_records(sweep_dir: Path) -> list[dict]:
    """Every line of every metrics.jsonl, parsed strictly (a half-written line raises)."""
    out = []
    for path in sorted((sweep_dir / "runs").glob("*/metrics.jsonl")):
        for line in path.read_text().splitlines():
            out.append(json.loads(line))
    return out


def stable(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if not k.startswith(VOLATILE)}


def compare(reference: Path, chaotic: Path) -> dict:
    ref = {(r["run_id"], r["step"]): stable(r) for r in raw_records(reference)}
    got_list = raw_records(chaotic)
    got = {(r["run_id"], r["step"]): stable(r) for r in got_list}
    half_written = [str(p) for p in chaotic.rglob("*.tmp")]
    for path in chaotic.rglob("*.json"):
        json.loads(path.read_text())  # raises on a torn file
    runs_ref = {p.name for p in (reference / "runs").iterdir()}
    runs_got = {p.name for p in (chaotic / "runs").iterdir() if (p / "summary.json").exists()}
    return {
        "runs": len(runs_ref), "runs_committed": len(runs_got & runs_ref), "records": len(ref),
        "records_lost": len(set(ref) - set(got)), "records_extra": len(set(got) - set(ref)),
        "records_duplicated": len(got_list) - len(got),
        "records_different": sum(1 for k in set(ref) & set(got) if ref[k] != got[k]),
        "half_written_files": len(half_written),
    }


def main(argv: list[str] | None = None) -> int:
    import tempfile

    parser = argparse.ArgumentParser()
    parser.add_argument("--real", action="store_true", help="use scaling.train (slow) instead of the fake")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pack", type=int, default=None, help="runs per pack (default: the sweep's)")
    args = parser.parse_args(argv)
    trainer = None if args.real else FAKE
    window = (2.0, 15.0) if args.real else (0.2, 3.0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sweep = tmp / "chaos.yaml"
        sweep.write_text(REAL_SWEEP if args.real else FAKE_SWEEP)
        env = {"FAKE_STEP_S": "0.15"}
        t0 = time.monotonic()
        assert run_to_end(sweep, tmp / "ref", trainer, args.workers, {**os.environ, **env}, args.pack) == 0
        t1 = time.monotonic()
        counts = chaos(sweep, tmp / "chaos", trainer, kills=args.kills, seed=args.seed,
                       workers=args.workers, window=window, env=env, pack=args.pack)
        t2 = time.monotonic()
        counts.update(compare(tmp / "ref", tmp / "chaos"))
        counts.update(reference_s=round(t1 - t0, 1), chaos_s=round(t2 - t1, 1))
    print(json.dumps(counts, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
