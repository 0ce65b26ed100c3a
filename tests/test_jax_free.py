"""The planner is JAX-free: expanding, costing and launching a sweep never imports JAX (a launcher
on a login node, or a process that plans hundreds of runs, must stay light)."""

import subprocess
import sys
from pathlib import Path

import pytest

PLANNER = ("scaling.sweep", "scaling.sweep.spec", "scaling.sweep.runner", "scaling.sweep.engines", "scaling.flops",
           "scaling.config", "scaling.schedule", "scaling.families", "scaling.stream")


@pytest.mark.parametrize("module", PLANNER)
def test_importing_the_planner_does_not_import_jax(module):
    code = f"import sys, {module}; print(sorted(m for m in ('jax', 'flax', 'ray', 'submitit') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"{module} imports {out.stdout.strip()}"


def test_planning_a_sweep_does_not_import_jax():
    # the demo: every family (late, early, blind), expanded, costed and timed
    path = Path(__file__).resolve().parents[1] / "sweeps" / "demo.yaml"
    code = ("import sys\nfrom scaling.sweep import load_sweep\nfrom scaling.sweep.runner import planned_seconds\n"
            "from scaling.sweep.timing import Rate\n"
            f"s = load_sweep({str(path)!r})\n"
            "assert s.all_runs and all(r.cost for r in s.all_runs)\n"
            "planned_seconds(s, Rate())\n"
            "print(sorted(m for m in ('jax', 'flax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
