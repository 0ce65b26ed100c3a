"""Where a run came from: the code, the packages, the machine.

`provenance()` is written into every run's summary.json (by `scaling.records.write_summary`, in
the process that commits the run), and the launcher keeps the same per attempt in its books:

    code        the code version: a hash of the package's source files that decide what a run
                trains and records: the folders and modules in `DECIDES_RECORDS`. Every other
                module is listed in `READS_ONLY` (readers, planners, launchers, fits, claims,
                reports, the CLI); a test classifies every module of the package, so a new module
                cannot silently change (or fail to change) the code version. It is what makes a
                committed run reusable: `scaling sweep run` refuses committed runs of another code
                version unless told to accept them (`--accept-code`); the run id does not include
                it, so accepting them is possible at all. `SAME_RECORDS` lists older code versions
                whose records this code reproduces exactly (checked by training the same runs with
                both): runs committed by them are accepted as current.
    git         commit and dirty flag of the checkout the package runs from (None when installed
                from a wheel), for humans: a dirty tree's commit does not name the code
    packages    versions of python, scaling, jax, jaxlib, flax, optax, orbax-checkpoint, numpy
    device      platform, kind and count of the JAX devices (None in a process that never
                imported JAX: a launcher, a stand-in trainer)
    host        the machine's name

No JAX import here: a launcher must stay light.
"""

from __future__ import annotations

import functools
import hashlib
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
# What decides a run's records (an allow-list, by folder or module of the package) ...
DECIDES_RECORDS = ("__init__.py", "config.py", "families.py", "stream.py", "data", "models", "flops.py",
                   "schedule.py", "lifecycle.py", "train.py", "trainer.py", "pack.py", "optim.py", "checkpoint.py",
                   "preemption.py", "tracking.py", "rl", "testtime")
# ... and what only reads, plans, launches, fits or reports: changing it cannot change a run's records.
READS_ONLY = ("cli", "sweep", "fit", "claims", "calibration", "report", "plots.py", "records.py", "reading.py", "integrity.py",
              "provenance.py", "bench", "errors.py", "forecast.py")
# Older code versions whose records this code reproduces exactly, with how that was checked.
SAME_RECORDS: dict[str, str] = {
    # b98704346fd0 (main at 2d2b6fd) left with issue 18: RL records gained greedy, guess and
    # closed-chain fields and a schedule from the end of the warmup; test-time rows gained tau(B).
}
PACKAGES = ("scaling", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy")


def _counts(path: Path) -> bool:
    rel = path.relative_to(PACKAGE).parts
    return rel[0] in DECIDES_RECORDS and "__pycache__" not in rel


def code_version() -> str:
    """12-hex hash of the source files that decide a run's records (names and contents); read
    afresh on every call (a few milliseconds), so a long-lived process sees edits."""
    digest = hashlib.sha256()
    for path in sorted(p for p in PACKAGE.rglob("*.py") if _counts(p)):
        digest.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


@functools.lru_cache(maxsize=1)
def git_state() -> dict | None:
    """{"commit", "dirty"} of the checkout holding the package, or None outside a checkout."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(PACKAGE), *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", "."))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


@functools.lru_cache(maxsize=1)
def package_versions() -> dict:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def device() -> dict | None:
    """JAX's devices, if this process has imported JAX (never imports it)."""
    jax = sys.modules.get("jax")
    if jax is None:
        return None
    try:
        devices = jax.devices()
    except Exception:  # noqa: BLE001 - no backend: say so rather than fail a commit
        return None
    return {"platform": devices[0].platform, "kind": devices[0].device_kind, "count": len(devices)}


def provenance() -> dict:
    return {"code": code_version(), "git": git_state(), "packages": package_versions(), "device": device(),
            "host": socket.gethostname()}


def same_code(version: str | None) -> bool:
    """Whether runs committed by code `version` hold the records this code would write."""
    return version == code_version() or version in SAME_RECORDS


def code_of(summary: dict | None) -> str | None:
    """The code version a committed run's summary names (None: unknown, e.g. older runs)."""
    prov = (summary or {}).get("provenance")
    return prov.get("code") if isinstance(prov, dict) else None
