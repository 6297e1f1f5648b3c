from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_shared import db
from credit_shared.online_features import feature_set_columns, read_history, write_online_features

pytestmark = pytest.mark.unit


@pytest.fixture
def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'app.db'}"
    db.migrate(url)
    return db.make_engine(url)


def make_history() -> pd.DataFrame:
    return pd.DataFrame(
        {"SK_ID_CURR": [100002, 100003, 100004], "BURO_DAYS_CREDIT_MAX": [-103.0, np.nan, -408.5], "N": [1.0, 2, 3]}
    )


def test_history_round_trips_bit_identical_and_unknown_clients_get_nan(engine) -> None:  # type: ignore[no-untyped-def]
    history = make_history()
    seen: list[float] = []
    assert write_online_features(engine, "ds-a", history, ["BURO_DAYS_CREDIT_MAX", "N"], seen.append) == 3
    assert seen[-1] == 1.0
    columns = feature_set_columns(engine, "ds-a")
    assert columns == ["BURO_DAYS_CREDIT_MAX", "N"]
    batch = read_history(engine, "ds-a", columns, [100004, 999, 100002, 100004])
    assert batch.found.tolist() == [True, False, True, True]
    np.testing.assert_array_equal(batch.values[0], [-408.5, 3.0])
    assert np.isnan(batch.values[1]).all()
    np.testing.assert_array_equal(batch.values[3], batch.values[0])


def test_rewriting_a_dataset_replaces_its_rows_and_leaves_others(engine) -> None:  # type: ignore[no-untyped-def]
    write_online_features(engine, "ds-a", make_history(), ["N"])
    write_online_features(engine, "ds-b", make_history(), ["N"])
    write_online_features(engine, "ds-a", make_history().iloc[:1], ["N"])
    assert read_history(engine, "ds-a", ["N"], [100003]).found.tolist() == [False]
    assert read_history(engine, "ds-b", ["N"], [100003]).found.tolist() == [True]


def test_a_dataset_without_online_features_has_no_feature_set(engine) -> None:  # type: ignore[no-untyped-def]
    assert feature_set_columns(engine, "ds-missing") is None
