"""A stand-in Slurm for tests: `sbatch`, `sacct`, `squeue`, `scancel`, `srun` that run jobs as local
processes, so submitit's real Slurm path (job arrays, sacct polling) runs without a cluster.

    install(bin_dir, state_dir) -> env   wrapper scripts on PATH, state under state_dir

State: `<state_dir>/next_id`, and per array task `<state_dir>/jobs/<id>_<index>.json` (state, pid,
submit time). `sbatch` parses the script's `#SBATCH --array=0-N%P` and starts a detached scheduler
(it outlives the launcher, as a cluster does) that runs at most P tasks at a time with the usual
SLURM_* variables. `sacct -j ID` prints `JobID|State|NodeList` rows; `squeue -h -o "%i %T"` lists
live tasks; `scancel ID[_i]` kills a task's process group (CANCELLED); `srun --output F --error G
CMD` runs CMD with its output in F and G (`%A`, `%a`, `%j`, `%t` filled in).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ALIVE = ("PENDING", "RUNNING")


def install(bin_dir: Path, state_dir: Path) -> dict:
    """Write the commands into `bin_dir`; returns the environment that puts them first on PATH."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "jobs").mkdir(parents=True, exist_ok=True)
    for name in ("sbatch", "sacct", "squeue", "scancel", "srun"):
        path = bin_dir / name
        path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" {name} "$@"\n')
        path.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_SLURM_DIR": str(state_dir)}


def _dir() -> Path:
    return Path(os.environ["FAKE_SLURM_DIR"])


def tasks(state_dir: Path | None = None) -> dict[str, dict]:
    """Every task the fake cluster knows: {"<id>_<index>": {"state", "pid", "submitted"}}."""
    folder = (state_dir or _dir()) / "jobs"
    out = {}
    for path in folder.glob("*.json"):
        try:
            out[path.stem] = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue  # being rewritten
    return out


def _set(task: str, **fields) -> None:
    path = _dir() / "jobs" / f"{task}.json"
    info = json.loads(path.read_text()) if path.exists() else {}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**info, **fields}))
    os.replace(tmp, path)


def sbatch(args: list[str]) -> int:
    script = Path(args[-1])
    flags = dict(re.findall(r"^#SBATCH --([\w-]+)=?(.*)$", script.read_text(), re.M))
    with open(_dir() / "next_id", "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        handle.seek(0)
        job = int(handle.read() or 100)
        handle.seek(0)
        handle.truncate()
        handle.write(str(job + 1))
    match = re.match(r"(\d+)-(\d+)(?:%(\d+))?", flags.get("array", "-1--1"))
    first, last, par = (int(match[1]), int(match[2]), int(match[3] or 10**6)) if match else (-1, -1, 1)
    for i in range(first, last + 1):
        _set(_name(job, i), state="PENDING", submitted=time.time())
    subprocess.Popen([sys.executable, __file__, "_schedule", str(job), str(script), str(first), str(last), str(par)],
                     start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
    print(f"Submitted batch job {job}")
    return 0


def _name(job: int, i: int) -> str:
    """A task's id: `<job>_<index>` in an array, `<job>` for a plain job (index -1)."""
    return f"{job}_{i}" if i >= 0 else str(job)


def _schedule(job: int, script: str, first: int, last: int, par: int) -> int:
    waiting, running = list(range(first, last + 1)), {}
    while waiting or running:
        while waiting and len(running) < par:
            i = waiting.pop(0)
            if tasks().get(_name(job, i), {}).get("state") != "PENDING":
                continue  # cancelled while pending
            env = {**os.environ, "SLURM_JOB_ID": str(job), "SLURM_JOB_NODELIST": "localhost", "SLURM_NTASKS": "1",
                   "SLURM_JOB_NUM_NODES": "1", "SLURM_NODEID": "0", "SLURM_PROCID": "0", "SLURM_LOCALID": "0"}
            if i >= 0:
                env.update(SLURM_JOB_ID=str(job * 1000 + i), SLURM_ARRAY_JOB_ID=str(job), SLURM_ARRAY_TASK_ID=str(i))
            proc = subprocess.Popen(["/bin/bash", script], env=env, start_new_session=True,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            running[i] = proc
            _set(_name(job, i), state="RUNNING", pid=proc.pid, started=time.time())
        for i, proc in list(running.items()):
            if proc.poll() is not None:
                del running[i]
                if tasks().get(_name(job, i), {}).get("state") == "RUNNING":
                    _set(_name(job, i), state="COMPLETED" if proc.returncode == 0 else "FAILED", ended=time.time())
        time.sleep(0.05)
    return 0


def sacct(args: list[str]) -> int:
    ids = [args[i + 1] for i, a in enumerate(args) if a == "-j"]
    print("JobID|State|NodeList")
    for task, info in sorted(tasks().items()):
        if task.split("_")[0] in ids or task in ids:
            print(f"{task}|{info['state']}|localhost")
    return 0


def squeue(args: list[str]) -> int:
    for task, info in sorted(tasks().items()):
        if info["state"] in ALIVE:
            print(f"{task} {info['state']}")
    return 0


def scancel(args: list[str]) -> int:
    for target in (a for a in args if not a.startswith("-")):
        for task, info in tasks().items():
            if (task == target or task.split("_")[0] == target) and info["state"] in ALIVE:
                _set(task, state="CANCELLED", ended=time.time())
                if info.get("pid"):
                    try:
                        os.killpg(info["pid"], signal.SIGKILL)
                    except ProcessLookupError:
                        pass
    return 0


def srun(args: list[str]) -> int:
    paths, i = {}, 0
    while i < len(args) and args[i].startswith("-"):
        if args[i] in ("--output", "--error"):
            paths[args[i]] = args[i + 1]
            i += 2
        else:
            i += 1
    fill = {"%A": os.environ.get("SLURM_ARRAY_JOB_ID", ""), "%a": os.environ.get("SLURM_ARRAY_TASK_ID", ""),
            "%j": os.environ.get("SLURM_JOB_ID", ""), "%t": "0"}

    def path(key: str) -> str:
        out = paths.get(key, os.devnull)
        for k, v in fill.items():
            out = out.replace(k, v)
        return out

    with open(path("--output"), "ab") as out, open(path("--error"), "ab") as err:
        return subprocess.call(args[i:], stdout=out, stderr=err)


if __name__ == "__main__":
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "_schedule":
        sys.exit(_schedule(int(rest[0]), rest[1], int(rest[2]), int(rest[3]), int(rest[4])))
    sys.exit({"sbatch": sbatch, "sacct": sacct, "squeue": squeue, "scancel": scancel, "srun": srun}[command](rest))
