"""The history features, declared once: every side-table aggregate with its source table, column, function and subset.

The engine (:mod:`credit_shared.features.history`) turns this list into SQL, :mod:`credit_shared.features.labels`
into labels, and the column order of the feature set is its order. The families follow the well-known "LightGBM
with simple features" kernel for this competition:

- ``BURO_``: all bureau credits (numeric aggregates, category shares, and per-credit bureau-balance aggregates);
  ``ACTIVE_`` / ``CLOSED_``: the numeric aggregates over active / closed credits only;
- ``PREV_``: all previous applications; ``APPROVED_`` / ``REFUSED_``: numeric aggregates over approved / refused ones;
- ``POS_``: POS and cash-loan monthly balances; ``INSTAL_``: instalment payments; ``CC_``: credit-card balances.

Category columns are one-hot encoded with the full Kaggle levels plus a missing-value dummy before aggregating, so
the mean of a dummy is a share and the feature set never depends on the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from credit_shared.features.levels import (
    BUREAU_BALANCE_LEVELS,
    BUREAU_LEVELS,
    CREDIT_CARD_LEVELS,
    POS_CASH_LEVELS,
    PREVIOUS_LEVELS,
    dummies,
)
from credit_shared.homecredit.schema import Kind
from credit_shared.homecredit.side_tables import (
    BUREAU,
    BUREAU_BALANCE,
    CREDIT_CARD,
    CREDIT_CARD_SPEC,
    INSTALMENTS,
    POS_CASH,
    PREVIOUS,
)

TABLE_LEVELS: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    BUREAU: BUREAU_LEVELS,
    BUREAU_BALANCE: BUREAU_BALANCE_LEVELS,
    PREVIOUS: PREVIOUS_LEVELS,
    POS_CASH: POS_CASH_LEVELS,
    INSTALMENTS: {},
    CREDIT_CARD: CREDIT_CARD_LEVELS,
}

ROWS: Final = "*"  # the "column" of a row count

Func = str  # one of FUNCS
FUNCS: Final = ("min", "max", "mean", "sum", "var", "size", "nunique")


@dataclass(frozen=True, slots=True)
class Aggregate:
    """One history feature: ``func`` of ``column`` over the client's rows of ``table`` (within ``subset``).

    Attributes:
        name: the feature column, e.g. ``INSTAL_DPD_MAX``.
        table: the Kaggle table the rows come from.
        column: the aggregated column: a raw column, a derived one (``PAYMENT_PERC``), a dummy
            (``CREDIT_TYPE_Microloan``), a per-credit bureau-balance aggregate (``MONTHS_BALANCE_SIZE``), or ``*``.
        func: ``min``, ``max``, ``mean``, ``sum`` (0 when every value is missing), ``var`` (sample variance),
            ``size`` (row count) or ``nunique`` (distinct non-missing values).
        subset: ``None`` for every row, else the value of the status column the rows are restricted to
            (``Active``/``Closed`` of ``CREDIT_ACTIVE``, ``Approved``/``Refused`` of ``NAME_CONTRACT_STATUS``).
        dummy: for an indicator column, ``(raw column, level)``; level ``None`` = the value is missing.
    """

    name: str
    table: str
    column: str
    func: Func
    subset: str | None = None
    dummy: tuple[str, str | None] | None = None


# Per-credit aggregates of bureau_balance, joined to bureau before the client-level aggregation.
BUREAU_BALANCE_NUM: Final[dict[str, tuple[Func, ...]]] = {"MONTHS_BALANCE": ("min", "max", "size")}
BUREAU_BALANCE_DUMMIES: Final = dummies(BUREAU_BALANCE_LEVELS)

BUREAU_NUM: Final[dict[str, tuple[Func, ...]]] = {
    "DAYS_CREDIT": ("min", "max", "mean", "var"),
    "DAYS_CREDIT_ENDDATE": ("min", "max", "mean"),
    "DAYS_CREDIT_UPDATE": ("mean",),
    "CREDIT_DAY_OVERDUE": ("max", "mean"),
    "AMT_CREDIT_MAX_OVERDUE": ("mean",),
    "AMT_CREDIT_SUM": ("max", "mean", "sum"),
    "AMT_CREDIT_SUM_DEBT": ("max", "mean", "sum"),
    "AMT_CREDIT_SUM_OVERDUE": ("mean",),
    "AMT_CREDIT_SUM_LIMIT": ("mean", "sum"),
    "AMT_ANNUITY": ("max", "mean"),
    "CNT_CREDIT_PROLONG": ("sum",),
    "MONTHS_BALANCE_MIN": ("min",),
    "MONTHS_BALANCE_MAX": ("max",),
    "MONTHS_BALANCE_SIZE": ("mean", "sum"),
}
BUREAU_DUMMIES: Final = dummies(BUREAU_LEVELS)

PREVIOUS_DAYS: Final = (
    "DAYS_FIRST_DRAWING",
    "DAYS_FIRST_DUE",
    "DAYS_LAST_DUE_1ST_VERSION",
    "DAYS_LAST_DUE",
    "DAYS_TERMINATION",
)
PREVIOUS_NUM: Final[dict[str, tuple[Func, ...]]] = {
    "AMT_ANNUITY": ("min", "max", "mean"),
    "AMT_APPLICATION": ("min", "max", "mean"),
    "AMT_CREDIT": ("min", "max", "mean"),
    "APP_CREDIT_PERC": ("min", "max", "mean", "var"),
    "AMT_DOWN_PAYMENT": ("min", "max", "mean"),
    "AMT_GOODS_PRICE": ("min", "max", "mean"),
    "HOUR_APPR_PROCESS_START": ("min", "max", "mean"),
    "RATE_DOWN_PAYMENT": ("min", "max", "mean"),
    "DAYS_DECISION": ("min", "max", "mean"),
    "CNT_PAYMENT": ("mean", "sum"),
    # Not aggregated by the kernel (which only cleaned them); added so the 365243 fix matters.
    **dict.fromkeys(PREVIOUS_DAYS, ("max", "mean")),
}
PREVIOUS_DUMMIES: Final = dummies(PREVIOUS_LEVELS)

POS_NUM: Final[dict[str, tuple[Func, ...]]] = {
    "MONTHS_BALANCE": ("max", "mean", "size"),
    "SK_DPD": ("max", "mean"),
    "SK_DPD_DEF": ("max", "mean"),
}
POS_DUMMIES: Final = dummies(POS_CASH_LEVELS)

INSTALMENTS_NUM: Final[dict[str, tuple[Func, ...]]] = {
    "NUM_INSTALMENT_VERSION": ("nunique",),
    "DPD": ("max", "mean", "sum"),
    "DBD": ("max", "mean", "sum"),
    "PAYMENT_PERC": ("max", "mean", "sum", "var"),
    "PAYMENT_DIFF": ("max", "mean", "sum", "var"),
    "AMT_INSTALMENT": ("max", "mean", "sum"),
    "AMT_PAYMENT": ("min", "max", "mean", "sum"),
    "DAYS_ENTRY_PAYMENT": ("max", "mean", "sum"),
}

# every number of the monthly card balances (all its columns but the two ids and the contract status), from its schema
CREDIT_CARD_NUMERIC: Final = tuple(
    c.name for c in CREDIT_CARD_SPEC.columns if c.kind is not Kind.CATEGORY and not c.name.startswith("SK_ID_")
)
CREDIT_CARD_FUNCS: Final = ("min", "max", "mean", "sum", "var")
CREDIT_CARD_DUMMIES: Final = dummies(CREDIT_CARD_LEVELS)


def _numeric(
    prefix: str, table: str, aggs: Mapping[str, tuple[Func, ...]], subset: str | None = None
) -> list[Aggregate]:
    return [
        Aggregate(f"{prefix}_{col}_{func.upper()}", table, col, func, subset)
        for col, funcs in aggs.items()
        for func in funcs
    ]


def _shares(
    prefix: str, table: str, items: list[tuple[str, str, str | None]], funcs: tuple[Func, ...] = ("mean",)
) -> list[Aggregate]:
    return [
        Aggregate(f"{prefix}_{name}_{func.upper()}", table, name, func, None, (column, level))
        for name, column, level in items
        for func in funcs
    ]


def _bureau() -> list[Aggregate]:
    balance_shares = [
        Aggregate(f"BURO_{name}_MEAN_MEAN", BUREAU, f"{name}_MEAN", "mean", None, (column, level))
        for name, column, level in BUREAU_BALANCE_DUMMIES
    ]
    return [
        *_numeric("BURO", BUREAU, BUREAU_NUM),
        *_shares("BURO", BUREAU, BUREAU_DUMMIES),
        *balance_shares,
        *_numeric("ACTIVE", BUREAU, BUREAU_NUM, "Active"),
        *_numeric("CLOSED", BUREAU, BUREAU_NUM, "Closed"),
    ]


def _previous() -> list[Aggregate]:
    return [
        *_numeric("PREV", PREVIOUS, PREVIOUS_NUM),
        *_shares("PREV", PREVIOUS, PREVIOUS_DUMMIES),
        *_numeric("APPROVED", PREVIOUS, PREVIOUS_NUM, "Approved"),
        *_numeric("REFUSED", PREVIOUS, PREVIOUS_NUM, "Refused"),
    ]


def _pos() -> list[Aggregate]:
    return [
        *_numeric("POS", POS_CASH, POS_NUM),
        *_shares("POS", POS_CASH, POS_DUMMIES),
        Aggregate("POS_COUNT", POS_CASH, ROWS, "size"),
    ]


def _instalments() -> list[Aggregate]:
    return [*_numeric("INSTAL", INSTALMENTS, INSTALMENTS_NUM), Aggregate("INSTAL_COUNT", INSTALMENTS, ROWS, "size")]


def _credit_card() -> list[Aggregate]:
    # The kernel aggregates every column, numbers and dummies alike, with the same five functions.
    numeric = dict.fromkeys(CREDIT_CARD_NUMERIC, CREDIT_CARD_FUNCS)
    return [
        *_numeric("CC", CREDIT_CARD, numeric),
        *_shares("CC", CREDIT_CARD, CREDIT_CARD_DUMMIES, CREDIT_CARD_FUNCS),
        Aggregate("CC_COUNT", CREDIT_CARD, ROWS, "size"),
    ]


HISTORY_AGGREGATES: Final[tuple[Aggregate, ...]] = (*_bureau(), *_previous(), *_pos(), *_instalments(), *_credit_card())
HISTORY_COLUMNS: Final[tuple[str, ...]] = tuple(a.name for a in HISTORY_AGGREGATES)
AGGREGATES_BY_NAME: Final[dict[str, Aggregate]] = {a.name: a for a in HISTORY_AGGREGATES}

if len(AGGREGATES_BY_NAME) != len(HISTORY_AGGREGATES):  # pragma: no cover - guards an edit of the lists above
    raise ValueError("history feature names are not unique")
