"""Sweeps: a sweep file becomes runs (spec), runs are launched (runner + local/ray/slurm engines),
and a sweep folder can be inspected (status). Records are read with `scaling.load`."""

from scaling.sweep.spec import RunSpec, Sweep, expand, load_sweep

__all__ = ["RunSpec", "Sweep", "expand", "load_sweep"]
