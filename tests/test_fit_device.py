"""Fits run on the CPU in float64 (`scaling.fit.device.cpu64`) even where JAX's default device is
another one: the arrays the fitting loops (L-BFGS and the Newton polish) return lie on
`jax.devices("cpu")[0]`. Without a GPU the other device is a second host device (XLA's
--xla_force_host_platform_device_count=2) made the default, in a fresh interpreter."""

import os
import subprocess
import sys

import jax
import numpy as np

from scaling.fit import fit_power
from scaling.fit.device import cpu64, cpu_device

PROBE = r"""
import jax, numpy as np
jax.config.update("jax_default_device", jax.devices("cpu")[1])
seen = []
get = jax.device_get
def record(tree):
    seen.extend((leaf.dtype.name, str(d)) for leaf in jax.tree.leaves(tree) for d in leaf.devices())
    return get(tree)
jax.device_get = record
from scaling.fit import fit_power
C = np.logspace(15, 19, 12)
fit = fit_power(C, 1.7 + 40 * C ** -0.12)
assert abs(fit.params["alpha"] - 0.12) < 1e-3, fit.params
assert jax.numpy.zeros(1).devices() == {jax.devices("cpu")[1]}  # the default is untouched outside
print(sorted(set(seen)))
"""


def _power_data():
    C = np.logspace(15, 19, 12)
    return C, 1.7 + 40 * C ** -0.12


def test_cpu64_places_float64_arrays_on_the_cpu():
    with cpu64() as device:
        x = jax.numpy.asarray(np.arange(3.0))
        y = jax.jit(lambda a: a * 2)(x)
    assert device == cpu_device() == jax.devices("cpu")[0]
    assert x.dtype == y.dtype == np.float64
    assert x.devices() == y.devices() == {device}
    assert jax.numpy.asarray(1.0).dtype == np.float32  # outside, the global configuration stands


def test_fit_results_land_on_the_cpu_device(monkeypatch):
    seen = []
    get = jax.device_get

    def record(tree):
        seen.extend((leaf.dtype, d) for leaf in jax.tree.leaves(tree) for d in leaf.devices())
        return get(tree)

    monkeypatch.setattr(jax, "device_get", record)
    fit = fit_power(*_power_data())
    assert abs(fit.params["alpha"] - 0.12) < 1e-3
    assert seen and {d for _, d in seen} == {cpu_device()}
    assert np.dtype("float64") in {dt for dt, _ in seen}


def test_fits_leave_a_non_cpu0_default_device():
    env = {**os.environ, "XLA_FLAGS": (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"),
           "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = eval(out.stdout.strip().splitlines()[-1])  # noqa: S307 - our own probe's output
    assert seen and {d for _, d in seen} == {str(jax.devices("cpu")[0])}, seen
    assert "float64" in {dt for dt, _ in seen}
