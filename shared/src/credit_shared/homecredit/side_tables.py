"""The six side tables of a client's history (bureau credits, previous applications and their monthly balances and
payments): their Kaggle names and specifications (see :mod:`credit_shared.homecredit.tables` for the typing rules).
"""

from __future__ import annotations

from typing import Final

from credit_shared.homecredit.application import APPLICATION
from credit_shared.homecredit.schema import ColumnSpec, TableSpec, cat_col, float_col, int_col

BUREAU: Final = "bureau"
BUREAU_BALANCE: Final = "bureau_balance"
PREVIOUS: Final = "previous_application"
POS_CASH: Final = "POS_CASH_balance"
INSTALMENTS: Final = "installments_payments"
CREDIT_CARD: Final = "credit_card_balance"
SIDE_TABLES: Final = (BUREAU, BUREAU_BALANCE, PREVIOUS, POS_CASH, INSTALMENTS, CREDIT_CARD)

# a previous application has the levels of the application table's weekday and companion
WEEKDAYS: Final = APPLICATION.by_name["WEEKDAY_APPR_PROCESS_START"].categories
SUITES: Final = APPLICATION.by_name["NAME_TYPE_SUITE"].categories


def _ints(*names: str) -> tuple[ColumnSpec, ...]:
    """Integer columns that are never missing (the keys among them)."""
    return tuple(int_col(n, nullable=False) for n in names)


def _floats(*names: str) -> tuple[ColumnSpec, ...]:
    return tuple(float_col(n) for n in names)


BUREAU_SPEC: Final = TableSpec(
    BUREAU,
    ("SK_ID_BUREAU",),
    (
        *_ints("SK_ID_CURR", "SK_ID_BUREAU"),
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
        *_ints("SK_ID_BUREAU", "MONTHS_BALANCE"),
        cat_col("STATUS", ("0", "1", "2", "3", "4", "5", "C", "X")),
    ),
)

PREVIOUS_SPEC: Final = TableSpec(
    PREVIOUS,
    ("SK_ID_PREV",),
    (
        *_ints("SK_ID_PREV", "SK_ID_CURR"),
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
        *_ints("SK_ID_PREV", "SK_ID_CURR", "MONTHS_BALANCE"),
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
        *_ints("SK_ID_PREV", "SK_ID_CURR"),
        float_col("NUM_INSTALMENT_VERSION"),
        int_col("NUM_INSTALMENT_NUMBER", nullable=False),
        *_floats("DAYS_INSTALMENT", "DAYS_ENTRY_PAYMENT", "AMT_INSTALMENT", "AMT_PAYMENT"),
    ),
)

CREDIT_CARD_SPEC: Final = TableSpec(
    CREDIT_CARD,
    ("SK_ID_PREV", "MONTHS_BALANCE"),
    (
        *_ints("SK_ID_PREV", "SK_ID_CURR", "MONTHS_BALANCE"),
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
