"""Bad data gives a FitError naming the column or row; the CLI prints one line and exits 2."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from scaling.cli import main
from scaling.errors import FitError
from scaling.fit import fit_chinchilla, fit_power, fit_problem, power_problem

from external_data import EXTERNAL
C = np.geomspace(1e18, 1e21, 12)
L = 2.0 + 50.0 * C ** -0.1


@pytest.mark.parametrize("mutate,match", [
    (lambda c, l: (np.where(np.arange(12) == 4, np.nan, c), l), r"'compute' row 4: value nan"),
    (lambda c, l: (c, np.where(np.arange(12) == 7, np.inf, l)), r"'loss' row 7: value inf"),
    (lambda c, l: (np.where(np.arange(12) == 2, -1.0, c), l), r"'compute' row 2: .* positive"),
    (lambda c, l: (c, np.where(np.arange(12) == 0, 0.0, l)), r"'loss' row 0: .* positive"),
    (lambda c, l: (c[:3], l[:3]), r"more than 3 points"),
    (lambda c, l: (np.full(12, 1e20), l), r"'compute' has a single value"),
])
def test_bad_data_named(mutate, match):
    c, l = mutate(C, L)
    with pytest.raises(FitError, match=match):
        fit_power(c, l)


def test_chinchilla_needs_more_points_than_parameters():
    with pytest.raises(FitError, match="more than 5 points"):
        fit_chinchilla([1e8, 2e8, 3e8, 4e8, 5e8], [1e9, 2e9, 3e9, 4e9, 5e9], [3, 2.9, 2.8, 2.7, 2.6])


def test_unconverged_fit_is_reported_not_returned():
    problem = power_problem(C, L)
    # one start and a one-iteration budget cannot converge: it must be flagged
    from scaling.fit import estimate

    object.__setattr__(problem, "starts", problem.starts[:1])
    orig = estimate.lbfgs.minimize
    try:
        estimate.lbfgs.minimize = lambda *a, **k: orig(*a, **{**k, "max_iter": 1})
        with pytest.raises(FitError, match="did not converge"):
            fit_problem(problem)
        fit = fit_problem(problem, allow_unconverged=True)
        assert not fit.converged
    finally:
        estimate.lbfgs.minimize = orig


@pytest.fixture()
def csv(tmp_path):
    path = tmp_path / "runs.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame({"run_id": np.arange(12), "compute/flops": C,
                  "loss": L * np.exp(rng.normal(0, 0.002, 12))}).to_csv(path, index=False)
    return path


def test_cli_json_and_table(csv, capsys):
    assert main(["fit", str(csv), "--law", "power", "--bootstrap", "100", "--group", "run_id",
                 "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["law"] == "power" and res["converged"]
    lo, hi = res["intervals"]["alpha"]
    assert lo <= res["params"]["alpha"] <= hi
    assert main(["fit", str(csv), "--law", "power"]) == 0
    out = capsys.readouterr().out
    assert "alpha" in out and "converged" in out


def test_cli_loglinear_and_missing_column(csv, capsys):
    assert main(["fit", str(csv), "--law", "loglinear", "--y", "loss", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"]["b"] < 0
    assert main(["fit", str(csv), "--law", "power", "--y", "nope"]) == 2
    err = capsys.readouterr().err
    assert "--y 'nope': no such column" in err and len(err.strip().splitlines()) == 1


def test_cli_subprocess_bad_value_exit_2(tmp_path):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"compute/flops": C, "loss": np.where(np.arange(12) == 5, np.nan, L)}).to_csv(
        path, index=False)
    proc = subprocess.run([sys.executable, "-c", "import sys; from scaling.cli import main; "
                           "sys.exit(main(sys.argv[1:]))", "fit", str(path), "--law", "power"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"error: {path}: column 'loss' row 5: must be finite and positive, got nan (1 such rows)"


def test_cli_missing_file_exit_2(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "nope.csv"), "--law", "power"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_cli_coverage_and_approach2(capsys):
    if not EXTERNAL.is_dir():
        pytest.skip(f"reference data {EXTERNAL} is absent")
    cov = EXTERNAL / "llmonkeys" / "coverage_curves_derived.csv"
    assert main(["fit", str(cov), "--law", "coverage", "--where", "model=Pythia 12B", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"]["b"] == pytest.approx(-0.352, abs=5e-4)
    iso = EXTERNAL / "openathena-isoflops" / "isoflops_transform.csv"
    assert main(["fit", str(iso), "--law", "approach2", "--x", "budget,params",
                 "--where", "experiment=llama_3__raw_loss", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"]["a"] == pytest.approx(0.4632, abs=5e-5)


@pytest.mark.slow
def test_bench_fit_same_optimum(capsys):
    if not (EXTERNAL / "epoch-chinchilla").is_dir():
        pytest.skip(f"reference data {EXTERNAL / 'epoch-chinchilla'} is absent")
    # Every 9th start of Epoch's grid (500 starts) and 100 resamples keep CI short; the full
    # 4,500-start bench is `scaling bench fit`.
    from scaling.bench.fit import bench_fit

    res = bench_fit(n_boot=100, starts_every=9)
    print("bench:", {k: res[k] for k in ("fit_warm_s", "bootstrap_s", "reference_s", "ratio",
                                          "ratio_cpu", "objective_rel_diff")})
    assert res["same_optimum"] and res["objective_rel_diff"] <= 1e-9
    # the 20x target is reported, not asserted: wall time on a shared CI machine is noisy;
    # as a regression guard the batched fit must beat the loop by 5x in CPU time
    assert res["ratio_cpu"] >= 5
