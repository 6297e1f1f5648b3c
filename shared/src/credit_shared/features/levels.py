"""Category levels of the side-table columns the features one-hot encode, and the names of their dummies.

The levels are the full Kaggle levels, so the dummy columns (and therefore the feature set) are fixed and do not
depend on which levels a given extract happens to contain. A value outside the levels counts as missing (the
``_nan`` dummy); the raw-data readers reject such values before features are built.
"""

from __future__ import annotations

import re
from typing import Final

WEEKDAYS: Final = ("FRIDAY", "MONDAY", "SATURDAY", "SUNDAY", "THURSDAY", "TUESDAY", "WEDNESDAY")

BUREAU_LEVELS: Final[dict[str, tuple[str, ...]]] = {
    "CREDIT_ACTIVE": ("Active", "Bad debt", "Closed", "Sold"),
    "CREDIT_CURRENCY": ("currency 1", "currency 2", "currency 3", "currency 4"),
    "CREDIT_TYPE": (
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
}

BUREAU_BALANCE_LEVELS: Final[dict[str, tuple[str, ...]]] = {"STATUS": ("0", "1", "2", "3", "4", "5", "C", "X")}

POS_CASH_LEVELS: Final[dict[str, tuple[str, ...]]] = {
    "NAME_CONTRACT_STATUS": (
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
}

CREDIT_CARD_LEVELS: Final[dict[str, tuple[str, ...]]] = {
    "NAME_CONTRACT_STATUS": ("Active", "Approved", "Completed", "Demand", "Refused", "Sent proposal", "Signed"),
}

PREVIOUS_LEVELS: Final[dict[str, tuple[str, ...]]] = {
    "NAME_CONTRACT_TYPE": ("Cash loans", "Consumer loans", "Revolving loans", "XNA"),
    "WEEKDAY_APPR_PROCESS_START": WEEKDAYS,
    "FLAG_LAST_APPL_PER_CONTRACT": ("N", "Y"),
    "NAME_CASH_LOAN_PURPOSE": (
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
    "NAME_CONTRACT_STATUS": ("Approved", "Canceled", "Refused", "Unused offer"),
    "NAME_PAYMENT_TYPE": (
        "Cash through the bank",
        "Cashless from the account of the employer",
        "Non-cash from your account",
        "XNA",
    ),
    "CODE_REJECT_REASON": ("CLIENT", "HC", "LIMIT", "SCO", "SCOFR", "SYSTEM", "VERIF", "XAP", "XNA"),
    "NAME_TYPE_SUITE": (
        "Children",
        "Family",
        "Group of people",
        "Other_A",
        "Other_B",
        "Spouse, partner",
        "Unaccompanied",
    ),
    "NAME_CLIENT_TYPE": ("New", "Refreshed", "Repeater", "XNA"),
    "NAME_GOODS_CATEGORY": (
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
    "NAME_PORTFOLIO": ("Cards", "Cars", "Cash", "POS", "XNA"),
    "NAME_PRODUCT_TYPE": ("XNA", "walk-in", "x-sell"),
    "CHANNEL_TYPE": (
        "AP+ (Cash loan)",
        "Car dealer",
        "Channel of corporate sales",
        "Contact center",
        "Country-wide",
        "Credit and cash offices",
        "Regional / Local",
        "Stone",
    ),
    "NAME_SELLER_INDUSTRY": (
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
    "NAME_YIELD_GROUP": ("XNA", "high", "low_action", "low_normal", "middle"),
    "PRODUCT_COMBINATION": (
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
}

MISSING_LEVEL: Final = "nan"


def level_token(level: str | None) -> str:
    """The part of a dummy column name that stands for a level: runs of non-alphanumerics become ``_``.

    LightGBM refuses feature names with JSON special characters (``Spouse, partner``), so names are kept to
    ``[0-9A-Za-z_]``. ``None`` (the missing-value dummy) is ``nan``, as in ``pandas.get_dummies(dummy_na=True)``.
    """
    if level is None:
        return MISSING_LEVEL
    return re.sub(r"[^0-9A-Za-z]+", "_", level).strip("_")


def dummy_name(column: str, level: str | None) -> str:
    """Name of the 0/1 indicator of ``column == level`` (``level=None``: the value is missing)."""
    return f"{column}_{level_token(level)}"


def dummies(levels: dict[str, tuple[str, ...]]) -> list[tuple[str, str, str | None]]:
    """Every dummy of a table as ``(dummy name, column, level or None)``, levels in order, missing last."""
    out: list[tuple[str, str, str | None]] = []
    for column, values in levels.items():
        out.extend((dummy_name(column, v), column, v) for v in values)
        out.append((dummy_name(column, None), column, None))
    names = [d[0] for d in out]
    if len(set(names)) != len(names):  # pragma: no cover - guards an edit of the level lists
        raise ValueError(f"dummy names collide: {names}")
    return out
