"""Tables with keys: a key twice, an empty id or a named column that does not exist is an error
naming it; exact repeats are dropped, with a count, only when asked."""

import pandas as pd
import pytest

from scaling.errors import DataError
from scaling.fit.io import check_ids, check_keys, require_columns

TABLE = pd.DataFrame({"run": ["a", "a", "b"], "step": [1, 2, 1], "loss": [1.0, 2.0, 3.0]})


def test_a_clean_table_passes_untouched():
    out, dropped = check_keys(TABLE, ["run", "step", "point"], "t.csv")  # absent key columns are skipped
    assert dropped == 0 and out is TABLE
    check_ids(TABLE, ["run", None, "absent"])
    require_columns(TABLE, {"--run-col": "run", "--seed-col": None})


@pytest.mark.parametrize("table", [pd.concat([TABLE, TABLE]), pd.concat([TABLE, TABLE.iloc[[1]]])])
def test_repeated_rows_are_an_error_unless_dropped_with_a_count(table):
    with pytest.raises(DataError, match=r"t.csv: \d rows share a key \(run='a', step=\d appears more than once\); "
                                        "--drop-duplicates"):
        check_keys(table, ["run", "step"], "t.csv")
    out, dropped = check_keys(table, ["run", "step"], "t.csv", drop_duplicates=True)
    assert dropped == len(table) - len(TABLE) and out.reset_index(drop=True).equals(TABLE)


def test_a_key_twice_with_other_values_is_an_error_even_when_dropping():
    edited = pd.concat([TABLE, TABLE.iloc[[2]].assign(loss=9.0)])
    with pytest.raises(DataError, match=r"2 rows share a key \(run='b', step=1 appears more than once\)$"):
        check_keys(edited, ["run", "step"], "t.csv", drop_duplicates=True)


@pytest.mark.parametrize("bad", ["", "  ", None, float("nan")])
def test_an_empty_id_is_named(bad):
    with pytest.raises(DataError, match="t.csv: column 'run' row 1: empty id"):
        check_ids(TABLE.assign(run=["a", bad, "b"]), ["run"], "t.csv")


def test_a_named_column_must_exist_and_a_typo_gets_the_near_names():
    with pytest.raises(DataError, match=r"^--run-col 'rnu': no such column \(did you mean 'run'\? columns: run, step, loss\)$"):
        require_columns(TABLE, {"--run-col": "rnu"})
    with pytest.raises(DataError, match=r"^--y 'accuracy': no such column \(columns: run, step, loss\)$"):
        require_columns(TABLE, {"--x": ["step"], "--y": ["loss", "accuracy"]})
