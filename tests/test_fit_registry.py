"""The law registry: one table that the CLI, bootstrap, claims and report dispatch through."""

import numpy as np
import pandas as pd
import pytest

from scaling.errors import FitError
from scaling.fit import registry


def test_every_law_states_its_roles_and_what_it_is_fitted_to():
    for name, law in registry.LAWS.items():
        assert law.name == name and law.sample in registry.SAMPLES
        if law.problem is not None or law.closed_fit is not None:
            assert len(law.labels) == len(law.inputs) + 1, name
    with pytest.raises(FitError, match="bogus"):
        registry.get("bogus")


def test_columns_derive_tokens_from_compute_and_params():
    df = pd.DataFrame({"N": [1e6, 2e6, 4e6], "C": [6e12, 2.4e13, 9.6e13], "loss": [3.0, 2.8, 2.6]})
    law = registry.get("chinchilla")
    cols = registry.columns(law, df)
    assert cols["params"] == "N" and cols["tokens"] == "C/(6·N)" and cols["loss"] == "loss"
    N, D, L = registry.values(law, df, cols)
    assert D == pytest.approx(df.C / (6 * df.N)) and L.tolist() == df.loss.tolist()
    with pytest.raises(FitError, match="--x"):
        registry.columns(law, df, ["N"])


def test_predict_and_inverse_agree_and_broadcast_over_draws():
    law = registry.get("power")
    p = {"E": 1.5, "A": 40.0, "alpha": 0.3}
    C = np.geomspace(1e6, 1e9, 5)
    assert law.inverse(p, law.predict(p, C)) == pytest.approx(C, rel=1e-9)
    draws = {"E": np.array([1.5, 1.6]), "A": np.array([40.0, 50.0]), "alpha": np.array([0.3, 0.35])}
    assert law.predict_draws(draws, C).shape == (2, 5)
    assert np.isinf(law.inverse(p, np.array([1.4]))).all()  # below the floor: never reached
