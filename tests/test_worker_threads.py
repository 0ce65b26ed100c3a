"""Workers keep XLA's CPU threads within their run's `resources.cpus`, and leave a user's flags alone."""

import subprocess
import sys

from scaling.sweep import worker


def test_thread_env_follows_cpus(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    assert worker.thread_env(None) == {} and worker.thread_env(0) == {}
    one = worker.thread_env(1)["XLA_FLAGS"]
    assert "intra_op_parallelism_threads=1" in one and "multi_thread_eigen=false" in one
    assert "intra_op_parallelism_threads=1" in worker.thread_env(0.5)["XLA_FLAGS"]
    four = worker.thread_env(4)["XLA_FLAGS"]
    assert "intra_op_parallelism_threads=4" in four and "multi_thread_eigen=true" in four
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    assert worker.thread_env(1) == {}


def test_the_flags_are_accepted_by_xla():
    env = {"XLA_FLAGS": worker.thread_env(1)["XLA_FLAGS"], "JAX_PLATFORMS": "cpu"}
    code = "import jax.numpy as jnp; print(float((jnp.ones((64, 64)) @ jnp.ones((64, 64))).sum()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "262144.0", out.stderr[-500:]
