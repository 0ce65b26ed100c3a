"""Where fits run: the host CPU, in float64, whatever accelerator JAX would pick by default.

Fits are small, need float64 (a GPU's is slow or missing) and must give the same answer on every
machine, so every JAX computation in fitting (and the claims and reports built on it) runs inside
:func:`cpu64`; it is entered where arrays are made and the compiled fitting loops are called
(``scaling.fit.lbfgs.minimize``, ``scaling.fit.newton.polish``). Both settings are context
managers, so the global JAX configuration other code sees (training on a GPU) is unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import jax


def cpu_device() -> jax.Device:
    """The device fits run on: the first CPU device."""
    return jax.devices("cpu")[0]


@contextlib.contextmanager
def cpu64() -> Iterator[jax.Device]:
    """Run the enclosed JAX code on :func:`cpu_device` with float64 enabled; yields that device."""
    device = cpu_device()
    with jax.enable_x64(True), jax.default_device(device):
        yield device
