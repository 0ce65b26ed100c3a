"""Models: one decoder; `early`, `late` and `blind` families (see `model.py`)."""

from scaling.models.model import Model, build, loss_sums, patchify, targets
from scaling.models.stream import Stream, max_length, stream

__all__ = ["Model", "Stream", "build", "loss_sums", "max_length", "patchify", "stream", "targets"]
