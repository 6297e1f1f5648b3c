"""Raw-table readers: the real sample rows pass; corrupted copies fail with precise messages."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_shared.homecredit.readers import (
    SchemaError,
    find_table_file,
    iter_table,
    read_table,
    validate_folder,
    validate_table,
)
from credit_shared.homecredit.schema import Kind
from credit_shared.homecredit.side_tables import SIDE_TABLES
from credit_shared.homecredit.tables import TABLES, spec_for_file

pytestmark = pytest.mark.unit

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "home-credit"
UNJOINED = DATA / "unjoined"
JOINABLE = DATA / "joinable_capstone"

needs_data = pytest.mark.skipif(
    not UNJOINED.is_dir(), reason=f"the real Home Credit sample rows are not at {DATA} (../shared/data/home-credit)"
)


def _rows(path: Path, limit: int = 300) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [row for _, row in zip(range(limit + 1), csv.reader(handle), strict=False)]


def _write(path: Path, rows: list[list[str]]) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


@pytest.fixture
def bureau_rows() -> list[list[str]]:
    if not UNJOINED.is_dir():
        pytest.skip(f"the real Home Credit sample rows are not at {DATA}")
    return _rows(UNJOINED / "bureau.csv")


def _set(rows: list[list[str]], row: int, column: str, value: str) -> str:
    """Set data row ``row`` (1-based) of ``column``; return that row's SK_ID_BUREAU."""
    index = rows[0].index(column)
    rows[row][index] = value
    return rows[row][rows[0].index("SK_ID_BUREAU")]


@needs_data
def test_real_unjoined_rows_pass_validation() -> None:
    reports = validate_folder(UNJOINED, mode="sample", tables=SIDE_TABLES)
    assert {name: r.rows for name, r in reports.items()} == {
        "bureau": 22406,
        "bureau_balance": 22686,
        "previous_application": 2958,
        "POS_CASH_balance": 19674,
        "installments_payments": 19667,
        "credit_card_balance": 22309,
    }
    # the sample was assembled from several extracts: 30 previous applications appear twice, identical
    assert reports["previous_application"].repeated_rows == 30


@needs_data
def test_repeated_sample_rows_are_a_duplicated_key_in_strict_mode() -> None:
    with pytest.raises(
        SchemaError, match=r"previous_application.csv: duplicated key SK_ID_PREV=2030495 \(first at row 1\)"
    ):
        validate_table(UNJOINED / "previous_application.csv")


@needs_data
def test_real_application_rows_and_joinable_sample_pass_validation() -> None:
    assert validate_table(DATA / "application_train.csv").rows == 6999
    assert validate_table(DATA / "application_test.csv").rows == 199
    tables = tuple(t for t in TABLES if t != "application_test")
    reports = validate_folder(JOINABLE, mode="sample", tables=tables)
    assert reports["previous_application"].absent_columns == ("RATE_INTEREST_PRIMARY", "RATE_INTEREST_PRIVILEGED")
    assert reports["application_train"].rows == 1000


@needs_data
def test_imputed_previous_applications_need_sample_mode() -> None:
    with pytest.raises(SchemaError, match=r"table is missing: none of previous_application\.parquet"):
        find_table_file(JOINABLE, "previous_application")
    path = find_table_file(JOINABLE, "previous_application", mode="sample")
    with pytest.raises(SchemaError, match=r"column RATE_INTEREST_PRIMARY is missing \(and 1 more\)"):
        validate_table(path)
    frame = read_table(path, "previous_application", mode="sample")
    assert frame["RATE_INTEREST_PRIMARY"].isna().all()
    assert list(frame.columns) == TABLES["previous_application"].names


@needs_data
def test_frames_have_the_spec_types_and_full_levels() -> None:
    frame = read_table(UNJOINED, "bureau")
    spec = TABLES["bureau"]
    assert list(frame.columns) == spec.names
    for column in spec.columns:
        dtype = frame[column.name].dtype
        if column.kind is Kind.CATEGORY:
            assert isinstance(dtype, pd.CategoricalDtype)
            assert tuple(dtype.categories) == column.categories
        elif column.kind is Kind.INT and not column.nullable:
            assert dtype == np.int64, column.name
        else:
            assert dtype == np.float64, column.name
    assert "Bad debt" in frame["CREDIT_ACTIVE"].cat.categories  # a Kaggle level absent from the sample


def test_missing_column_is_named(tmp_path: Path, bureau_rows: list[list[str]]) -> None:
    index = bureau_rows[0].index("AMT_ANNUITY")
    rows = [r[:index] + r[index + 1 :] for r in bureau_rows]
    with pytest.raises(SchemaError, match=r"^bureau.csv: column AMT_ANNUITY is missing$"):
        validate_table(_write(tmp_path / "bureau.csv", rows))


def test_extra_column_is_named(tmp_path: Path, bureau_rows: list[list[str]]) -> None:
    rows = [[*r, "x"] for r in bureau_rows]
    rows[0][-1] = "FOO"
    with pytest.raises(SchemaError, match=r"^bureau.csv: unexpected column FOO \(not in the bureau schema\)$"):
        validate_table(_write(tmp_path / "bureau.csv", rows))


def test_text_in_a_number_column_names_row_and_key(tmp_path: Path, bureau_rows: list[list[str]]) -> None:
    key = _set(bureau_rows, 17, "DAYS_CREDIT", "abc")
    path = _write(tmp_path / "bureau.csv", bureau_rows)
    with pytest.raises(SchemaError) as caught:
        validate_table(path)
    assert str(caught.value) == (
        f"bureau.csv: column DAYS_CREDIT must be an integer, got 'abc' (row 17, SK_ID_BUREAU={key})"
    )
    assert (caught.value.column, caught.value.row) == ("DAYS_CREDIT", 17)


def test_fraction_in_an_integer_column_is_a_wrong_type(tmp_path: Path, bureau_rows: list[list[str]]) -> None:
    key = _set(bureau_rows, 5, "CNT_CREDIT_PROLONG", "1.5")
    with pytest.raises(SchemaError) as caught:
        validate_table(_write(tmp_path / "bureau.csv", bureau_rows))
    assert (
        str(caught.value)
        == f"bureau.csv: column CNT_CREDIT_PROLONG must be an integer, got 1.5 (row 5, SK_ID_BUREAU={key})"
    )


def test_unknown_category_names_row_and_key(tmp_path: Path, bureau_rows: list[list[str]]) -> None:
    key = _set(bureau_rows, 17, "CREDIT_ACTIVE", "Foo")
    with pytest.raises(SchemaError) as caught:
        validate_table(_write(tmp_path / "bureau.csv", bureau_rows))
    assert (
        str(caught.value) == f"bureau.csv: column CREDIT_ACTIVE has unknown category 'Foo' (row 17, SK_ID_BUREAU={key})"
    )


def test_missing_required_value_is_refused(tmp_path: Path, bureau_rows: list[list[str]]) -> None:
    _set(bureau_rows, 9, "DAYS_CREDIT", "")
    with pytest.raises(SchemaError, match=r"column DAYS_CREDIT is missing a value .*\(row 9, SK_ID_BUREAU="):
        validate_table(_write(tmp_path / "bureau.csv", bureau_rows))


def test_duplicated_key_names_both_rows(tmp_path: Path, bureau_rows: list[list[str]]) -> None:
    key = bureau_rows[3][1]
    _set(bureau_rows, 17, "SK_ID_BUREAU", key)
    with pytest.raises(SchemaError) as caught:
        validate_table(_write(tmp_path / "bureau.csv", bureau_rows))
    assert str(caught.value) == f"bureau.csv: duplicated key SK_ID_BUREAU={key} (first at row 3) (row 17)"


@needs_data
def test_duplicated_composite_key_is_found_across_batches(tmp_path: Path) -> None:
    frame = pd.read_csv(UNJOINED / "bureau_balance.csv")
    frame.loc[20000, ["SK_ID_BUREAU", "MONTHS_BALANCE"]] = frame.loc[10, ["SK_ID_BUREAU", "MONTHS_BALANCE"]].to_numpy()
    path = tmp_path / "bureau_balance.parquet"
    frame.to_parquet(path, row_group_size=1000)
    bureau, month = frame.loc[10, "SK_ID_BUREAU"], frame.loc[10, "MONTHS_BALANCE"]
    with pytest.raises(SchemaError) as caught:
        validate_table(path, chunk_rows=1000)
    assert str(caught.value) == (
        f"bureau_balance.parquet: duplicated key SK_ID_BUREAU={bureau}, MONTHS_BALANCE={month} "
        "(first at row 11) (row 20001)"
    )


def test_latin1_bytes_are_a_bad_encoding(tmp_path: Path, bureau_rows: list[list[str]]) -> None:
    key = _set(bureau_rows, 12, "CREDIT_TYPE", "Crédit")
    path = _write(tmp_path / "bureau.csv", bureau_rows)
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))
    with pytest.raises(SchemaError) as caught:
        validate_table(path)
    assert str(caught.value) == (
        "bureau.csv: column CREDIT_TYPE is not valid UTF-8 (byte 0xe9; is the file latin-1 encoded?) "
        f"(row 12, SK_ID_BUREAU={key})"
    )


def test_short_line_is_reported(tmp_path: Path, bureau_rows: list[list[str]]) -> None:
    bureau_rows[40] = bureau_rows[40][:5]
    with pytest.raises(SchemaError, match=r"bureau.csv: line has 5 fields, expected 17 \(row 40, SK_ID_BUREAU="):
        validate_table(_write(tmp_path / "bureau.csv", bureau_rows))


def test_missing_table_is_named(tmp_path: Path, bureau_rows: list[list[str]]) -> None:
    _write(tmp_path / "bureau.csv", bureau_rows)
    with pytest.raises(SchemaError, match=r"^bureau_balance: table is missing: none of bureau_balance.parquet"):
        validate_folder(tmp_path, tables=("bureau", "bureau_balance"))


def test_parquet_and_gzipped_csv_read_like_csv(tmp_path: Path, bureau_rows: list[list[str]]) -> None:
    csv_path = _write(tmp_path / "bureau.csv", bureau_rows)
    expected = read_table(csv_path)
    expected.to_parquet(tmp_path / "bureau.parquet")
    pd.testing.assert_frame_equal(read_table(tmp_path / "bureau.parquet"), expected)
    gz = tmp_path / "gz"
    gz.mkdir()
    import gzip

    with csv_path.open("rb") as source, gzip.open(gz / "bureau.csv.gz", "wb") as target:
        shutil.copyfileobj(source, target)
    pd.testing.assert_frame_equal(read_table(gz, "bureau"), expected)


def test_parquet_with_text_in_a_number_column_is_a_wrong_type(tmp_path: Path, bureau_rows: list[list[str]]) -> None:
    frame = pd.read_csv(_write(tmp_path / "bureau.csv", bureau_rows), dtype={"DAYS_CREDIT": str})
    frame.to_parquet(tmp_path / "bureau.parquet")
    with pytest.raises(
        SchemaError, match=r"^bureau.parquet: column DAYS_CREDIT has Parquet type string, expected numbers$"
    ):
        validate_table(tmp_path / "bureau.parquet")


def test_unknown_category_row_counts_across_parquet_batches(tmp_path: Path, bureau_rows: list[list[str]]) -> None:
    frame = pd.read_csv(_write(tmp_path / "bureau.csv", bureau_rows))
    frame.loc[250, "CREDIT_TYPE"] = "Payday loan"
    frame.to_parquet(tmp_path / "bureau.parquet", row_group_size=100)
    with pytest.raises(SchemaError, match=r"unknown category 'Payday loan' \(row 251, SK_ID_BUREAU="):
        list(iter_table(tmp_path / "bureau.parquet", chunk_rows=100))


def test_file_names_map_to_specs() -> None:
    assert spec_for_file("POS_CASH_balance.csv").key == ("SK_ID_PREV", "MONTHS_BALANCE")
    assert spec_for_file("previous_application_IMPUTED.csv").name == "previous_application"
    assert spec_for_file("bureau.parquet").key == ("SK_ID_BUREAU",)
    assert TABLES["application_train"].names[:2] == ["SK_ID_CURR", "TARGET"]
    assert len(TABLES["application_train"].columns) == 122
    assert [len(TABLES[t].columns) for t in SIDE_TABLES] == [17, 3, 37, 8, 8, 23]
    with pytest.raises(KeyError, match="not a Home Credit table file"):
        spec_for_file("loans.csv")


def test_levels_agree_with_the_feature_code() -> None:
    levels = pytest.importorskip("credit_shared.features.spec").TABLE_LEVELS
    for table, columns in levels.items():
        for column, values in columns.items():
            assert TABLES[table].by_name[column].categories == values, (table, column)


def test_csv_is_streamed_in_batches_with_file_row_numbers(tmp_path: Path, bureau_rows: list[list[str]]) -> None:
    key = _set(bureau_rows, 280, "CREDIT_CURRENCY", "currency 9")
    path = _write(tmp_path / "bureau.csv", bureau_rows[:281])
    (tmp_path / "ok").mkdir()
    valid = _write(tmp_path / "ok" / "bureau.csv", bureau_rows[:200])
    batches = list(iter_table(valid, chunk_rows=50))
    assert len(batches) > 1
    assert sum(len(b) for b in batches) == 199
    with pytest.raises(SchemaError) as caught:
        list(iter_table(path, chunk_rows=50))
    assert str(caught.value).endswith(f"unknown category 'currency 9' (row 280, SK_ID_BUREAU={key})")
