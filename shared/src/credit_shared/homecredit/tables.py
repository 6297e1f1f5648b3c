"""The eight Home Credit tables: their specifications, keys and Kaggle file names.

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
from credit_shared.homecredit.schema import ColumnSpec, Kind, TableSpec, cat_col, float_col, int_col

SENTINEL: Final = 365243
"""``DAYS_EMPLOYED`` of pensioners and the previous-application ``DAYS_`` columns: "not applicable"."""

APPLICATION_TRAIN: Final = "application_train"
APPLICATION_TEST: Final = "application_test"
BUREAU: Final = "bureau"
BUREAU_BALANCE: Final = "bureau_balance"
PREVIOUS: Final = "previous_application"
POS_CASH: Final = "POS_CASH_balance"
INSTALMENTS: Final = "installments_payments"
CREDIT_CARD: Final = "credit_card_balance"

WEEKDAYS: Final = ("FRIDAY", "MONDAY", "SATURDAY", "SUNDAY", "THURSDAY", "TUESDAY", "WEDNESDAY")
SUITES: Final = ("Children", "Family", "Group of people", "Other_A", "Other_B", "Spouse, partner", "Unaccompanied")


def _ids(*names: str) -> tuple[ColumnSpec, ...]:
    return tuple(int_col(n, nullable=False) for n in names)


def _floats(*names: str) -> tuple[ColumnSpec, ...]:
    return tuple(float_col(n) for n in names)


def _ints(*names: str) -> tuple[ColumnSpec, ...]:
    return tuple(int_col(n, nullable=False) for n in names)


_APP_COLUMNS = APPLICATION.columns
APPLICATION_TEST_SPEC: Final = TableSpec(APPLICATION_TEST, (ID,), _APP_COLUMNS)
APPLICATION_TRAIN_SPEC: Final = TableSpec(
    APPLICATION_TRAIN,
    (ID,),
    (_APP_COLUMNS[0], ColumnSpec(TARGET, Kind.INT, nullable=False), *_APP_COLUMNS[1:]),
)

BUREAU_SPEC: Final = TableSpec(
    BUREAU,
    ("SK_ID_BUREAU",),
    (
        *_ids("SK_ID_CURR", "SK_ID_BUREAU"),
        cat_col("CREDIT_ACTIVE", ("Active", "Bad debt", "Closed", "Sold")),
        cat_col("CREDIT_CURRENCY", ("currency 1", "currency 2", "currency 3", "currency 4")),
        *_ints("DAYS_CREDIT", "CREDIT_DAY_OVERDUE"),
        *_floats("DAYS_CREDIT_ENDDATE", "DAYS_ENDDATE_FACT", "AMT_CREDIT_MAX_OVERDUE"),
        int_col("CNT_CREDIT_PROLONG", nullable=False),
        *_floats("AMT_CREDIT_SUM", "AMT_CREDIT_SUM_DEBT", "AMT_CREDIT_SUM_LIMIT", "AMT_CREDIT_SUM_OVERDUE"),
        cat_col(
            "CREDIT_TYPE",
            (
                "Another type of loan",
                "Car loan",
                "Cash loan (non-earmarked)",
                "Consumer credit",
                "Credit card",
                "Interbank credit",
                "Loan for business development",
                "Loan for purchase of shares (margin lending)",
                "Loan for the purchase of equipment",
                "Loan for working capital replenishment",
                "Microloan",
                "Mobile operator loan",
                "Mortgage",
                "Real estate loan",
                "Unknown type of loan",
            ),
        ),
        int_col("DAYS_CREDIT_UPDATE", nullable=False),
        float_col("AMT_ANNUITY"),
    ),
)

BUREAU_BALANCE_SPEC: Final = TableSpec(
    BUREAU_BALANCE,
    ("SK_ID_BUREAU", "MONTHS_BALANCE"),
    (
        *_ids("SK_ID_BUREAU", "MONTHS_BALANCE"),
        cat_col("STATUS", ("0", "1", "2", "3", "4", "5", "C", "X")),
    ),
)

PREVIOUS_SPEC: Final = TableSpec(
    PREVIOUS,
    ("SK_ID_PREV",),
    (
        *_ids("SK_ID_PREV", "SK_ID_CURR"),
        cat_col("NAME_CONTRACT_TYPE", ("Cash loans", "Consumer loans", "Revolving loans", "XNA")),
        *_floats("AMT_ANNUITY", "AMT_APPLICATION", "AMT_CREDIT", "AMT_DOWN_PAYMENT", "AMT_GOODS_PRICE"),
        cat_col("WEEKDAY_APPR_PROCESS_START", WEEKDAYS),
        int_col("HOUR_APPR_PROCESS_START", nullable=False),
        cat_col("FLAG_LAST_APPL_PER_CONTRACT", ("N", "Y")),
        int_col("NFLAG_LAST_APPL_IN_DAY", nullable=False),
        *_floats("RATE_DOWN_PAYMENT", "RATE_INTEREST_PRIMARY", "RATE_INTEREST_PRIVILEGED"),
        cat_col(
            "NAME_CASH_LOAN_PURPOSE",
            (
                "Building a house or an annex",
                "Business development",
                "Buying a garage",
                "Buying a holiday home / land",
                "Buying a home",
                "Buying a new car",
                "Buying a used car",
                "Car repairs",
                "Education",
                "Everyday expenses",
                "Furniture",
                "Gasification / water supply",
                "Hobby",
                "Journey",
                "Medicine",
                "Money for a third person",
                "Other",
                "Payments on other loans",
                "Purchase of electronic equipment",
                "Refusal to name the goal",
                "Repairs",
                "Urgent needs",
                "Wedding / gift / holiday",
                "XAP",
                "XNA",
            ),
        ),
        cat_col("NAME_CONTRACT_STATUS", ("Approved", "Canceled", "Refused", "Unused offer")),
        int_col("DAYS_DECISION", nullable=False),
        cat_col(
            "NAME_PAYMENT_TYPE",
            ("Cash through the bank", "Cashless from the account of the employer", "Non-cash from your account", "XNA"),
        ),
        cat_col("CODE_REJECT_REASON", ("CLIENT", "HC", "LIMIT", "SCO", "SCOFR", "SYSTEM", "VERIF", "XAP", "XNA")),
        cat_col("NAME_TYPE_SUITE", SUITES),
        cat_col("NAME_CLIENT_TYPE", ("New", "Refreshed", "Repeater", "XNA")),
        cat_col(
            "NAME_GOODS_CATEGORY",
            (
                "Additional Service",
                "Animals",
                "Audio/Video",
                "Auto Accessories",
                "Clothing and Accessories",
                "Computers",
                "Construction Materials",
                "Consumer Electronics",
                "Direct Sales",
                "Education",
                "Fitness",
                "Furniture",
                "Gardening",
                "Homewares",
                "House Construction",
                "Insurance",
                "Jewelry",
                "Medical Supplies",
                "Medicine",
                "Mobile",
                "Office Appliances",
                "Other",
                "Photo / Cinema Equipment",
                "Sport and Leisure",
                "Tourism",
                "Vehicles",
                "Weapon",
                "XNA",
            ),
        ),
        cat_col("NAME_PORTFOLIO", ("Cards", "Cars", "Cash", "POS", "XNA")),
        cat_col("NAME_PRODUCT_TYPE", ("XNA", "walk-in", "x-sell")),
        cat_col(
            "CHANNEL_TYPE",
            (
                "AP+ (Cash loan)",
                "Car dealer",
                "Channel of corporate sales",
                "Contact center",
                "Country-wide",
                "Credit and cash offices",
                "Regional / Local",
                "Stone",
            ),
        ),
        int_col("SELLERPLACE_AREA", nullable=False),
        cat_col(
            "NAME_SELLER_INDUSTRY",
            (
                "Auto technology",
                "Clothing",
                "Connectivity",
                "Construction",
                "Consumer electronics",
                "Furniture",
                "Industry",
                "Jewelry",
                "MLM partners",
                "Tourism",
                "XNA",
            ),
        ),
        float_col("CNT_PAYMENT"),
        cat_col("NAME_YIELD_GROUP", ("XNA", "high", "low_action", "low_normal", "middle")),
        cat_col(
            "PRODUCT_COMBINATION",
            (
                "Card Street",
                "Card X-Sell",
                "Cash",
                "Cash Street: high",
                "Cash Street: low",
                "Cash Street: middle",
                "Cash X-Sell: high",
                "Cash X-Sell: low",
                "Cash X-Sell: middle",
                "POS household with interest",
                "POS household without interest",
                "POS industry with interest",
                "POS industry without interest",
                "POS mobile with interest",
                "POS mobile without interest",
                "POS other with interest",
                "POS others without interest",
            ),
        ),
        *_floats(
            "DAYS_FIRST_DRAWING",
            "DAYS_FIRST_DUE",
            "DAYS_LAST_DUE_1ST_VERSION",
            "DAYS_LAST_DUE",
            "DAYS_TERMINATION",
            "NFLAG_INSURED_ON_APPROVAL",
        ),
    ),
)

POS_CASH_SPEC: Final = TableSpec(
    POS_CASH,
    ("SK_ID_PREV", "MONTHS_BALANCE"),
    (
        *_ids("SK_ID_PREV", "SK_ID_CURR", "MONTHS_BALANCE"),
        *_floats("CNT_INSTALMENT", "CNT_INSTALMENT_FUTURE"),
        cat_col(
            "NAME_CONTRACT_STATUS",
            (
                "Active",
                "Amortized debt",
                "Approved",
                "Canceled",
                "Completed",
                "Demand",
                "Returned to the store",
                "Signed",
                "XNA",
            ),
        ),
        *_ints("SK_DPD", "SK_DPD_DEF"),
    ),
)

INSTALMENTS_SPEC: Final = TableSpec(
    INSTALMENTS,
    (),
    (
        *_ids("SK_ID_PREV", "SK_ID_CURR"),
        float_col("NUM_INSTALMENT_VERSION"),
        int_col("NUM_INSTALMENT_NUMBER", nullable=False),
        *_floats("DAYS_INSTALMENT", "DAYS_ENTRY_PAYMENT", "AMT_INSTALMENT", "AMT_PAYMENT"),
    ),
)

CREDIT_CARD_SPEC: Final = TableSpec(
    CREDIT_CARD,
    ("SK_ID_PREV", "MONTHS_BALANCE"),
    (
        *_ids("SK_ID_PREV", "SK_ID_CURR", "MONTHS_BALANCE"),
        float_col("AMT_BALANCE"),
        int_col("AMT_CREDIT_LIMIT_ACTUAL", nullable=False),
        *_floats(
            "AMT_DRAWINGS_ATM_CURRENT",
            "AMT_DRAWINGS_CURRENT",
            "AMT_DRAWINGS_OTHER_CURRENT",
            "AMT_DRAWINGS_POS_CURRENT",
            "AMT_INST_MIN_REGULARITY",
            "AMT_PAYMENT_CURRENT",
            "AMT_PAYMENT_TOTAL_CURRENT",
            "AMT_RECEIVABLE_PRINCIPAL",
            "AMT_RECIVABLE",
            "AMT_TOTAL_RECEIVABLE",
            "CNT_DRAWINGS_ATM_CURRENT",
        ),
        int_col("CNT_DRAWINGS_CURRENT", nullable=False),
        *_floats("CNT_DRAWINGS_OTHER_CURRENT", "CNT_DRAWINGS_POS_CURRENT", "CNT_INSTALMENT_MATURE_CUM"),
        cat_col(
            "NAME_CONTRACT_STATUS",
            ("Active", "Approved", "Completed", "Demand", "Refused", "Sent proposal", "Signed"),
        ),
        *_ints("SK_DPD", "SK_DPD_DEF"),
    ),
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

SIDE_TABLES: Final = (BUREAU, BUREAU_BALANCE, PREVIOUS, POS_CASH, INSTALMENTS, CREDIT_CARD)

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
