"""Feature engineering: online/batch parity, stable columns, hand-checked values, sources and edge cases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from credit_shared.features import APPLICATION_COLUMNS, FEATURE_COLUMNS, HISTORY_COLUMNS, application_features
from credit_shared.features.build import build_features
from credit_shared.features.history import history_features
from credit_shared.features.sources import find_tables
from credit_shared.homecredit.application import APPLICATION, ID
from credit_shared.homecredit.schema import Kind
from credit_shared.homecredit.side_tables import SIDE_TABLES

pytestmark = pytest.mark.unit


def make_applications(n: int, seed: int = 0, **overrides: Any) -> pd.DataFrame:
    """Random application rows over the whole schema, with missing values and the DAYS_EMPLOYED sentinel."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {ID: np.arange(100_000, 100_000 + n)}
    for spec in APPLICATION.columns[1:]:
        if spec.kind is Kind.CATEGORY:
            values = rng.choice(np.array(spec.categories, dtype=object), n)
        elif spec.kind is Kind.INT:
            values = rng.integers(-20_000, 20, n).astype("float64")
        else:
            values = rng.normal(1.0, 2.0, n) * 10 ** rng.integers(0, 6, n)
        values = pd.Series(values).mask(rng.random(n) < 0.1)
        data[spec.name] = values
    frame = pd.DataFrame(data)
    frame.loc[frame.index[::7], "DAYS_EMPLOYED"] = 365243
    frame.loc[frame.index[::11], "AMT_CREDIT"] = 0.0
    for column, value in overrides.items():
        frame[column] = value
    return frame


def write_side_tables(folder: Path, **tables: pd.DataFrame) -> Path:
    """The six side tables as CSV, empty (header only) unless given."""
    headers = {
        "bureau": ["SK_ID_CURR", "SK_ID_BUREAU", "CREDIT_ACTIVE", "DAYS_CREDIT", "AMT_CREDIT_SUM"],
        "bureau_balance": ["SK_ID_BUREAU", "MONTHS_BALANCE", "STATUS"],
        "previous_application": ["SK_ID_PREV", "SK_ID_CURR", "NAME_CONTRACT_STATUS", "AMT_APPLICATION", "AMT_CREDIT"],
        "POS_CASH_balance": ["SK_ID_PREV", "SK_ID_CURR", "MONTHS_BALANCE", "NAME_CONTRACT_STATUS", "SK_DPD"],
        "installments_payments": [
            "SK_ID_PREV",
            "SK_ID_CURR",
            "NUM_INSTALMENT_VERSION",
            "DAYS_INSTALMENT",
            "DAYS_ENTRY_PAYMENT",
            "AMT_INSTALMENT",
            "AMT_PAYMENT",
        ],
        "credit_card_balance": ["SK_ID_PREV", "SK_ID_CURR", "MONTHS_BALANCE", "AMT_BALANCE", "NAME_CONTRACT_STATUS"],
    }
    for table in SIDE_TABLES:
        frame = tables.get(table, pd.DataFrame(columns=headers[table]))
        frame.to_csv(folder / f"{table}.csv", index=False)
    return folder


INSTALMENTS = pd.DataFrame(
    {
        "SK_ID_PREV": [1, 1, 1],
        "SK_ID_CURR": [7, 7, 7],
        "NUM_INSTALMENT_VERSION": [1, 1, 2],
        "DAYS_INSTALMENT": [-100, -70, -40],
        "DAYS_ENTRY_PAYMENT": [-110, -60, None],
        "AMT_INSTALMENT": [100.0, 100.0, 0.0],
        "AMT_PAYMENT": [100.0, 50.0, 10.0],
    }
)


def test_one_application_gets_the_values_it_gets_inside_a_batch() -> None:
    batch = make_applications(1000, seed=3)

    together = application_features(batch)
    for i in (0, 7, 11, 500, 999):
        alone = application_features(batch.iloc[[i]])
        pd.testing.assert_frame_equal(alone, together.iloc[[i]], check_exact=True)


def test_application_columns_are_the_same_whatever_the_input_columns() -> None:
    full = make_applications(5)
    shuffled = full[list(reversed(full.columns))].assign(TARGET=1, UNKNOWN="x")
    sparse = full[[ID, "AMT_CREDIT", "NAME_CONTRACT_TYPE"]]

    expected = [ID, *APPLICATION_COLUMNS]
    for frame in (full, shuffled, sparse):
        out = application_features(frame)
        assert list(out.columns) == expected
        assert out["NAME_CONTRACT_TYPE"].cat.categories.tolist() == ["Cash loans", "Revolving loans"]
    assert application_features(sparse)["EXT_SOURCES_MEAN"].isna().all()


def test_application_features_clean_the_sentinel_and_zero_denominators() -> None:
    row = make_applications(
        1,
        DAYS_EMPLOYED=365243,
        DAYS_BIRTH=-10_000,
        AMT_INCOME_TOTAL=100_000.0,
        AMT_CREDIT=0.0,
        AMT_ANNUITY=10_000.0,
        AMT_GOODS_PRICE=200_000.0,
        CNT_FAM_MEMBERS=4.0,
        EXT_SOURCE_1=np.nan,
        EXT_SOURCE_2=0.2,
        EXT_SOURCE_3=0.6,
    )

    out = application_features(row).iloc[0]

    assert np.isnan(out["DAYS_EMPLOYED"])
    assert np.isnan(out["DAYS_EMPLOYED_PERC"])
    assert np.isnan(out["INCOME_CREDIT_PERC"])  # credit 0: missing, not inf
    assert np.isnan(out["PAYMENT_RATE"])
    assert out["INCOME_PER_PERSON"] == 25_000.0
    assert out["ANNUITY_INCOME_PERC"] == 0.1
    assert out["CREDIT_TO_GOODS"] == 0.0
    assert out["EXT_SOURCES_MEAN"] == pytest.approx(0.4)
    assert (out["EXT_SOURCES_MIN"], out["EXT_SOURCES_MAX"]) == (0.2, 0.6)


def test_application_features_refuse_rows_without_client_id() -> None:
    with pytest.raises(KeyError, match=ID):
        application_features(pd.DataFrame({"AMT_CREDIT": [1.0]}))


def test_instalment_aggregates_match_hand_computed_values(tmp_path: Path) -> None:
    folder = write_side_tables(tmp_path, installments_payments=INSTALMENTS)

    row = history_features(folder).set_index(ID).loc[7]

    assert row["INSTAL_DPD_MAX"] == 10.0  # paid 10 days late once
    assert row["INSTAL_DPD_MEAN"] == 5.0  # (0 + 10) / 2: the unpaid instalment's delay is unknown
    assert row["INSTAL_DBD_SUM"] == 10.0
    assert row["INSTAL_PAYMENT_PERC_MEAN"] == 0.75  # 1.0 and 0.5; the zero instalment has no ratio
    assert row["INSTAL_PAYMENT_DIFF_SUM"] == 40.0  # 0 + 50 - 10
    assert row["INSTAL_NUM_INSTALMENT_VERSION_NUNIQUE"] == 2.0
    assert row["INSTAL_COUNT"] == 3.0


def test_history_columns_are_fixed_and_a_client_without_history_gets_nan(tmp_path: Path) -> None:
    folder = write_side_tables(tmp_path, installments_payments=INSTALMENTS)

    out = history_features(folder, ids=[99, 7])

    assert list(out.columns) == [ID, *HISTORY_COLUMNS]
    assert out[ID].tolist() == [99, 7]
    assert out.iloc[0, 1:].isna().all()
    assert out.loc[1, "INSTAL_COUNT"] == 3.0
    assert (out.dtypes.iloc[1:] == "float64").all()


def test_bureau_subsets_and_sums_follow_the_kernel(tmp_path: Path) -> None:
    bureau = pd.DataFrame(
        {
            "SK_ID_CURR": [1, 1, 1],
            "SK_ID_BUREAU": [10, 11, 12],
            "CREDIT_ACTIVE": ["Active", "Closed", "Closed"],
            "DAYS_CREDIT": [-100, -300, -500],
            "AMT_CREDIT_SUM": [None, 1000.0, 3000.0],
        }
    )
    balance = pd.DataFrame({"SK_ID_BUREAU": [10, 10, 11], "MONTHS_BALANCE": [-1, 0, -5], "STATUS": ["0", "1", "C"]})
    folder = write_side_tables(tmp_path, bureau=bureau, bureau_balance=balance)

    row = history_features(folder).set_index(ID).loc[1]

    assert row["ACTIVE_AMT_CREDIT_SUM_SUM"] == 0.0  # the client has an active credit, its amount is missing
    assert row["CLOSED_AMT_CREDIT_SUM_SUM"] == 4000.0
    assert row["BURO_CREDIT_ACTIVE_Closed_MEAN"] == pytest.approx(2 / 3)
    assert row["BURO_DAYS_CREDIT_VAR"] == 40_000.0
    assert np.isnan(row["ACTIVE_DAYS_CREDIT_VAR"])  # one row: no sample variance
    assert row["BURO_MONTHS_BALANCE_SIZE_SUM"] == 3.0
    assert row["BURO_STATUS_1_MEAN_MEAN"] == 0.25  # credit 10: 1/2, credit 11: 0, credit 12: no balance
    assert row["BURO_CREDIT_TYPE_nan_MEAN"] == 1.0  # the file has no CREDIT_TYPE column: missing


def test_previous_applications_drop_the_sentinel_days(tmp_path: Path) -> None:
    previous = pd.DataFrame(
        {
            "SK_ID_PREV": [1, 2],
            "SK_ID_CURR": [5, 5],
            "NAME_CONTRACT_STATUS": ["Approved", "Refused"],
            "AMT_APPLICATION": [100.0, 50.0],
            "AMT_CREDIT": [200.0, 0.0],
            "DAYS_FIRST_DRAWING": [365243, -30],
        }
    )
    folder = write_side_tables(tmp_path, previous_application=previous)

    row = history_features(folder).set_index(ID).loc[5]

    assert row["PREV_DAYS_FIRST_DRAWING_MAX"] == -30.0
    assert np.isnan(row["APPROVED_DAYS_FIRST_DRAWING_MAX"])
    assert row["PREV_APP_CREDIT_PERC_MEAN"] == 0.5
    assert row["REFUSED_AMT_APPLICATION_MEAN"] == 50.0
    assert row["PREV_NAME_CONTRACT_STATUS_Refused_MEAN"] == 0.5


def test_parquet_files_and_a_duckdb_connection_give_the_csv_values(tmp_path: Path) -> None:
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    write_side_tables(csv_dir, installments_payments=INSTALMENTS)
    parquet_dir = tmp_path / "parquet"
    parquet_dir.mkdir()
    con = duckdb.connect()
    for table in SIDE_TABLES:
        frame = pd.read_csv(csv_dir / f"{table}.csv")
        frame.to_parquet(parquet_dir / f"{table}.parquet")
        con.register(table, frame)

    from_csv = history_features(csv_dir)
    pd.testing.assert_frame_equal(history_features(parquet_dir), from_csv)
    pd.testing.assert_frame_equal(history_features(con), from_csv)


def test_a_missing_table_is_named(tmp_path: Path) -> None:
    write_side_tables(tmp_path)
    (tmp_path / "bureau_balance.csv").unlink()

    with pytest.raises(FileNotFoundError, match="bureau_balance"):
        find_tables(tmp_path)


def test_build_joins_history_in_application_order_and_keeps_the_target(tmp_path: Path) -> None:
    folder = write_side_tables(tmp_path, installments_payments=INSTALMENTS)
    applications = make_applications(3, SK_ID_CURR=[8, 7, 6], TARGET=[0, 1, 0])

    out = build_features(applications, folder)

    assert list(out.columns) == [ID, *FEATURE_COLUMNS, "TARGET"]
    assert out[ID].tolist() == [8, 7, 6]
    assert out["INSTAL_COUNT"].tolist()[1] == 3.0
    assert out["INSTAL_COUNT"].isna().tolist() == [True, False, True]
    assert out["TARGET"].tolist() == [0, 1, 0]


def test_build_refuses_duplicated_clients(tmp_path: Path) -> None:
    folder = write_side_tables(tmp_path)
    with pytest.raises(ValueError, match="more than once"):
        build_features(make_applications(2, SK_ID_CURR=[1, 1]), folder)


def test_feature_set_has_about_seven_hundred_unique_columns() -> None:
    assert len(set(FEATURE_COLUMNS)) == len(FEATURE_COLUMNS)
    assert 650 <= len(FEATURE_COLUMNS) <= 850
    assert all(name.replace("_", "").isalnum() for name in FEATURE_COLUMNS)  # LightGBM-safe names
