"""scaling: scaling-law experiments on small native-multimodal models.

sweep file -> runs -> records -> fitted laws -> verdict.
"""

from __future__ import annotations

__version__ = "0.1.0"


def load(sweep_dir, **kwargs):
    """One row per evaluation of every committed run under `sweep_dir` (see `scaling.reading.load`)."""
    from scaling.reading import load as _load

    return _load(sweep_dir, **kwargs)


def load_runs(sweep_dir, **kwargs):
    """One row per run with its final metrics (see `scaling.reading.load_runs`)."""
    from scaling.reading import load_runs as _load_runs

    return _load_runs(sweep_dir, **kwargs)
