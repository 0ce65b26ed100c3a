"""A run's lock: one writer per run folder, with stale-holder detection and a bounded wait.

`<run_dir>/.lock` is held with `flock` for the worker's life (the OS releases it when the process
dies). The holder writes who it is into the file (host, pid, Slurm job id) and touches it every
HEARTBEAT_S seconds from a thread. A worker that finds the lock held waits, and takes over only a
stale holder: one on this host whose process is gone, or one whose heartbeat is older than
STALE_S (a lost node whose lock survived on a network file system). The stale lock file is moved
aside (`.lock.stale.<time>`) and a fresh one is locked. A holder that is alive is never broken:
after WAIT_S the waiter gives up (`LockBusy`, an infrastructure failure: the launcher retries
later) instead of waiting forever. Env: SCALING_LOCK_WAIT_S, SCALING_LOCK_STALE_S.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
from pathlib import Path

LOCK = ".lock"
HEARTBEAT_S = 20.0
STALE_S = float(os.environ.get("SCALING_LOCK_STALE_S", 180.0))
WAIT_S = float(os.environ.get("SCALING_LOCK_WAIT_S", 600.0))
POLL_S = 0.2


class LockBusy(RuntimeError):
    """The run is held by a live worker (named in the message)."""


def holder(run_dir: str | Path) -> dict:
    """Who holds (or last held) the run's lock: {host, pid, job, heartbeat age in seconds}."""
    path = Path(run_dir) / LOCK
    try:
        info = json.loads(path.read_text() or "{}")
        info["age_s"] = time.time() - path.stat().st_mtime
    except (OSError, json.JSONDecodeError):
        return {}
    return info if isinstance(info, dict) else {}


def _alive_here(info: dict) -> bool | None:
    """Whether the holder's process lives (None: it is on another host, we cannot tell)."""
    if info.get("host") != socket.gethostname() or not isinstance(info.get("pid"), int):
        return None
    try:
        os.kill(info["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(info: dict) -> bool:
    alive = _alive_here(info)
    if alive is not None:
        return not alive
    return info.get("age_s", 0.0) > STALE_S


class RunLock:
    """The held lock; `release()` (or process death) frees it."""

    def __init__(self, handle, path: Path):
        self.handle, self.path = handle, path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                os.utime(self.path)
            except OSError:
                pass

    def release(self) -> None:
        self._stop.set()
        self.handle.close()


def _try(path: Path):
    handle = open(path, "a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def acquire(run_dir: str | Path, wait_s: float | None = None) -> RunLock:
    """Lock the run (see the module doc); LockBusy if a live holder keeps it past `wait_s`."""
    path = Path(run_dir) / LOCK
    deadline = time.monotonic() + (WAIT_S if wait_s is None else wait_s)
    while True:
        handle = _try(path)
        if handle is not None:
            if _inode(path) == os.fstat(handle.fileno()).st_ino:
                break
            handle.close()  # another waiter moved this file aside meanwhile: lock the new one
            continue
        ino, info = _inode(path), holder(run_dir)
        if is_stale(info):
            if ino is not None and _inode(path) == ino:  # still the file we judged stale
                try:
                    os.replace(path, path.with_name(f"{LOCK}.stale.{time.time_ns()}"))
                except FileNotFoundError:
                    pass
            continue
        if time.monotonic() > deadline:
            who = ", ".join(f"{k} {info[k]}" for k in ("host", "pid", "job") if info.get(k)) or "unknown"
            raise LockBusy(f"{run_dir}: held by a live worker ({who}); not started")
        time.sleep(POLL_S)
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "since": time.time(),
                             "job": os.environ.get("SLURM_JOB_ID")}))
    handle.flush()
    return RunLock(handle, path)


def is_locked(run_dir: str | Path) -> bool:
    """True while a live worker holds the run (a stale holder does not count)."""
    path = Path(run_dir) / LOCK
    if not path.exists():
        return False
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return not is_stale(holder(run_dir))
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return False
