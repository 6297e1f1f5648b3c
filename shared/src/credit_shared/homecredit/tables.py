"""The eight Home Credit tables by name: the application tables' specifications (the side tables' are in
:mod:`credit_shared.homecredit.side_tables`), their keys and Kaggle file names.

Types follow what Kaggle ships (what ``pandas.read_csv`` infers on the full files): a column that is ``int64``
there is an integer column that is never missing (``nullable=False``); an integer-valued column that has missing
values in the full data (``CNT_PAYMENT``, ``DAYS_FIRST_DUE`` ...) is a float column, as in the files. Category
levels are the full Kaggle levels (the samples lack a few, e.g. ``Bad debt`` or ``currency 4``).

Keys (checked for duplicates by the readers):

- ``application_train`` / ``application_test``: ``SK_ID_CURR``;
- ``bureau``: ``SK_ID_BUREAU``; ``bureau_balance``: ``(SK_ID_BUREAU, MONTHS_BALANCE)``;
- ``previous_application``: ``SK_ID_PREV``;
- ``POS_CASH_balance`` and ``credit_card_balance``: ``(SK_ID_PREV, MONTHS_BALANCE)``;
- ``installments_payments``: none. A payment row is not unique on ``(SK_ID_PREV, NUM_INSTALMENT_NUMBER,
  NUM_INSTALMENT_VERSION)``: an instalment paid in several parts has one row per part (the real samples contain
  such repeats), and a row is not unique even with the payment day and amount. So no key is enforced.
"""

from __future__ import annotations

from typing import Final

from credit_shared.homecredit.application import APPLICATION, ID, TARGET
from credit_shared.homecredit.schema import ColumnSpec, Kind, TableSpec
from credit_shared.homecredit.side_tables import (
    BUREAU_BALANCE_SPEC,
    BUREAU_SPEC,
    CREDIT_CARD_SPEC,
    INSTALMENTS_SPEC,
    POS_CASH_SPEC,
    PREVIOUS,
    PREVIOUS_SPEC,
)

SENTINEL: Final = 365243
"""``DAYS_EMPLOYED`` of pensioners and the previous-application ``DAYS_`` columns: "not applicable"."""

APPLICATION_TRAIN: Final = "application_train"
APPLICATION_TEST: Final = "application_test"

_APP_COLUMNS = APPLICATION.columns
APPLICATION_TEST_SPEC: Final = TableSpec(APPLICATION_TEST, (ID,), _APP_COLUMNS)
APPLICATION_TRAIN_SPEC: Final = TableSpec(
    APPLICATION_TRAIN,
    (ID,),
    (_APP_COLUMNS[0], ColumnSpec(TARGET, Kind.INT, nullable=False), *_APP_COLUMNS[1:]),
)

TABLES: Final[dict[str, TableSpec]] = {
    spec.name: spec
    for spec in (
        APPLICATION_TRAIN_SPEC,
        APPLICATION_TEST_SPEC,
        BUREAU_SPEC,
        BUREAU_BALANCE_SPEC,
        PREVIOUS_SPEC,
        POS_CASH_SPEC,
        INSTALMENTS_SPEC,
        CREDIT_CARD_SPEC,
    )
}
"""Every table by its Kaggle name (the file name without ``.csv``), in the order Kaggle lists them."""

FILE_NAMES: Final[dict[str, str]] = {name: f"{name}.csv" for name in TABLES}
"""The Kaggle file of each table (``bureau`` -> ``bureau.csv``, ``POS_CASH_balance`` -> ``POS_CASH_balance.csv``)."""

SAMPLE_FILE_NAMES: Final[dict[str, tuple[str, ...]]] = {PREVIOUS: ("previous_application_IMPUTED.csv",)}
"""Extra file names accepted in ``sample`` mode: the altered course extract of the joinable sample."""

SAMPLE_MISSING_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    PREVIOUS: ("RATE_INTEREST_PRIMARY", "RATE_INTEREST_PRIVILEGED"),
}
"""Columns a ``sample``-mode read tolerates to be absent (they are added as all-missing).

The joinable sample's ``previous_application_IMPUTED.csv`` was altered by a course: its missing values were filled
and these two columns (99.6 % missing in the full data) were dropped. Every other column must be present.
"""


def spec_for_file(file_name: str) -> TableSpec:
    """The table a file name belongs to (``bureau.csv``, ``bureau.parquet``, ``previous_application_IMPUTED.csv``).

    Raises:
        KeyError: when the name is not one of the tables' files.
    """
    stem = file_name
    for suffix in (".csv.gz", ".csv", ".parquet"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    stem = stem.removesuffix("_IMPUTED")
    if stem not in TABLES:
        raise KeyError(f"{file_name} is not a Home Credit table file (known: {', '.join(FILE_NAMES.values())})")
    return TABLES[stem]
