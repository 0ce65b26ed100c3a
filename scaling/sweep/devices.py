"""Which accelerator a worker may use: one GPU each, round-robin, or a share of one.

`resources.gpus` per worker:
  0          the run uses no GPU: where GPUs are visible they are hidden from it
             (CUDA_VISIBLE_DEVICES=""), so a CPU sweep on a GPU box does not take the cards;
  1, 2, ...  whole GPUs: worker slot i gets GPUs i*g .. i*g+g-1 (mod the visible ones); when more
             workers than GPUs run, those sharing a card get an equal share of 90% of its memory;
  0 < g < 1  a share: slot i gets GPU floor(i*g) (mod the visible ones), and JAX may allocate that
             fraction of its memory (XLA_PYTHON_CLIENT_MEM_FRACTION), so 1/g workers share a card
             instead of each pre-allocating 75% of it.
Without visible GPUs nothing is set. The visible GPUs are the launcher's CUDA_VISIBLE_DEVICES, or
those `nvidia-smi -L` lists. Slurm allocates whole GPUs itself (`scaling.sweep.engines.slurm`).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess


def visible_gpus() -> list[str]:
    """The GPUs this launcher may hand out (ids as CUDA_VISIBLE_DEVICES names them)."""
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        return [g.strip() for g in given.split(",") if g.strip() and g.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def device_env(gpus: float, slot: int, visible: list[str] | None = None, workers: int = 1) -> dict[str, str]:
    """Environment for the worker in `slot` (0-based) of `workers` given `resources.gpus` = `gpus`.
    When more whole-GPU workers run than there are GPUs, the ones sharing a card split its memory."""
    visible = visible_gpus() if visible is None else visible
    if not visible:
        return {}
    if not gpus:
        return {"CUDA_VISIBLE_DEVICES": ""}
    if gpus < 1:
        return {"CUDA_VISIBLE_DEVICES": visible[int(math.floor(slot * gpus)) % len(visible)],
                "XLA_PYTHON_CLIENT_MEM_FRACTION": f"{gpus:.3f}"}
    g = int(gpus)
    env = {"CUDA_VISIBLE_DEVICES": ",".join(visible[(slot * g + j) % len(visible)] for j in range(g))}
    sharing = math.ceil(max(workers, 1) * g / len(visible))
    if sharing > 1:
        env["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{0.9 / sharing:.3f}"
    return env
