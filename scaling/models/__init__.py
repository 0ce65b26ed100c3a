"""Models: one decoder; the `early`, `late` and `blind` families (see `model.py`, `families.py`).

The stream geometry is `scaling.stream` (JAX-free, so the planner reads it without this package)."""

from scaling.models.model import Model, build, loss_sums, lr_scale, patchify, targets

__all__ = ["Model", "build", "loss_sums", "lr_scale", "patchify", "targets"]
