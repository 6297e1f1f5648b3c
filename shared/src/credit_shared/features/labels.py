"""Labels and manifest entries of the feature set's columns.

History aggregates read as a sentence made from their source column and aggregation, e.g. ``INSTAL_DPD_MAX`` ->
"Max of days past due on previous instalments"; application columns, engineered features and the one-hot columns a
model makes of an application category take the glossary's labels (:mod:`credit_shared.homecredit.glossary`).
"""

from __future__ import annotations

from typing import Final

from credit_shared.datasets import FeatureInfo, FeatureType
from credit_shared.features.application import CATEGORICAL, ENGINEERED, RAW_COLUMNS
from credit_shared.features.levels import level_token
from credit_shared.features.spec import AGGREGATES_BY_NAME, ROWS, Aggregate
from credit_shared.homecredit.application import APPLICATION
from credit_shared.homecredit.glossary import APPLICATION_TABLE, LABELS, humanise, raw_label
from credit_shared.homecredit.schema import Kind
from credit_shared.homecredit.side_tables import BUREAU, BUREAU_BALANCE, CREDIT_CARD, INSTALMENTS, POS_CASH, PREVIOUS

# Short phrases of the aggregated side-table columns, as they read inside "<Func> of <phrase> <rows>".
PHRASES: Final[dict[str, str]] = {
    "DAYS_CREDIT": "days since the bureau credit was granted",
    "DAYS_CREDIT_ENDDATE": "days to the credit's end date",
    "DAYS_CREDIT_UPDATE": "days since the last credit update",
    "CREDIT_DAY_OVERDUE": "days overdue",
    "AMT_CREDIT_MAX_OVERDUE": "max amount overdue",
    "AMT_CREDIT_SUM": "credit amount",
    "AMT_CREDIT_SUM_DEBT": "current debt",
    "AMT_CREDIT_SUM_OVERDUE": "amount overdue",
    "AMT_CREDIT_SUM_LIMIT": "credit-card limit",
    "AMT_ANNUITY": "annuity",
    "CNT_CREDIT_PROLONG": "prolongations",
    "MONTHS_BALANCE_MIN": "earliest month of bureau balance",
    "MONTHS_BALANCE_MAX": "latest month of bureau balance",
    "MONTHS_BALANCE_SIZE": "months of bureau balance",
    "AMT_APPLICATION": "amount asked",
    "AMT_CREDIT": "credit amount",
    "APP_CREDIT_PERC": "amount asked / amount granted",
    "AMT_DOWN_PAYMENT": "down payment",
    "AMT_GOODS_PRICE": "goods price",
    "HOUR_APPR_PROCESS_START": "hour of application",
    "RATE_DOWN_PAYMENT": "down payment rate",
    "DAYS_DECISION": "days since the decision",
    "CNT_PAYMENT": "term (number of payments)",
    "DAYS_FIRST_DRAWING": "days since the first drawing",
    "DAYS_FIRST_DUE": "days since the first due date",
    "DAYS_LAST_DUE_1ST_VERSION": "days since the first planned last due date",
    "DAYS_LAST_DUE": "days since the last due date",
    "DAYS_TERMINATION": "days since the expected termination",
    "MONTHS_BALANCE": "month of balance",
    "SK_DPD": "days past due",
    "SK_DPD_DEF": "days past due (low debts ignored)",
    "NUM_INSTALMENT_VERSION": "instalment calendar versions",
    "DPD": "days past due",
    "DBD": "days paid before due",
    "PAYMENT_PERC": "share of the instalment paid",
    "PAYMENT_DIFF": "amount left unpaid",
    "AMT_INSTALMENT": "instalment amount",
    "AMT_PAYMENT": "amount paid",
    "DAYS_ENTRY_PAYMENT": "days since payment",
    "AMT_BALANCE": "balance",
    "AMT_CREDIT_LIMIT_ACTUAL": "credit limit",
    "AMT_DRAWINGS_ATM_CURRENT": "ATM drawings",
    "AMT_DRAWINGS_CURRENT": "drawings",
    "AMT_DRAWINGS_OTHER_CURRENT": "other drawings",
    "AMT_DRAWINGS_POS_CURRENT": "drawings for goods",
    "AMT_INST_MIN_REGULARITY": "minimal instalment",
    "AMT_PAYMENT_CURRENT": "amount paid in the month",
    "AMT_PAYMENT_TOTAL_CURRENT": "total amount paid in the month",
    "AMT_RECEIVABLE_PRINCIPAL": "principal receivable",
    "AMT_RECIVABLE": "amount receivable",
    "AMT_TOTAL_RECEIVABLE": "total amount receivable",
    "CNT_DRAWINGS_ATM_CURRENT": "number of ATM drawings",
    "CNT_DRAWINGS_CURRENT": "number of drawings",
    "CNT_DRAWINGS_OTHER_CURRENT": "number of other drawings",
    "CNT_DRAWINGS_POS_CURRENT": "number of drawings for goods",
    "CNT_INSTALMENT_MATURE_CUM": "number of paid instalments",
    # category columns, as they read inside "with <phrase> '<level>'"
    "CREDIT_ACTIVE": "status",
    "CREDIT_CURRENCY": "currency",
    "CREDIT_TYPE": "credit type",
    "STATUS": "status",
    "NAME_CONTRACT_TYPE": "contract type",
    "WEEKDAY_APPR_PROCESS_START": "weekday",
    "FLAG_LAST_APPL_PER_CONTRACT": "last-application-per-contract flag",
    "NAME_CASH_LOAN_PURPOSE": "cash loan purpose",
    "NAME_CONTRACT_STATUS": "contract status",
    "NAME_PAYMENT_TYPE": "payment method",
    "CODE_REJECT_REASON": "reject reason",
    "NAME_TYPE_SUITE": "companion",
    "NAME_CLIENT_TYPE": "client type",
    "NAME_GOODS_CATEGORY": "goods category",
    "NAME_PORTFOLIO": "portfolio",
    "NAME_PRODUCT_TYPE": "product type",
    "CHANNEL_TYPE": "channel",
    "NAME_SELLER_INDUSTRY": "seller industry",
    "NAME_YIELD_GROUP": "interest rate group",
    "PRODUCT_COMBINATION": "product combination",
}
STATUS_LEVELS: Final = {
    "0": "no days past due",
    "1": "1-30 days past due",
    "2": "31-60 days past due",
    "3": "61-90 days past due",
    "4": "91-120 days past due",
    "5": "120+ days past due or written off",
    "C": "closed",
    "X": "unknown",
}
ROWS_OF: Final = {
    BUREAU: "bureau credits",
    PREVIOUS: "previous applications",
    POS_CASH: "POS and cash loan monthly balances",
    INSTALMENTS: "previous instalments",
    CREDIT_CARD: "credit-card monthly balances",
}
SUBSETS: Final = {"Active": "active", "Closed": "closed", "Approved": "approved", "Refused": "refused"}
FUNC_WORDS: Final = {"min": "Min", "max": "Max", "mean": "Mean", "sum": "Sum", "var": "Variance"}


def _phrase(column: str, table: str) -> str:
    return PHRASES.get(column) or raw_label(table, column).lower()


def _level_text(column: str, level: str | None) -> str:
    if level is None:
        return f"{PHRASES.get(column, column.lower())} missing"
    shown = STATUS_LEVELS.get(level, level) if column == "STATUS" else level
    return f"{PHRASES.get(column, column.lower())} '{shown}'"


def aggregate_label(agg: Aggregate) -> str:
    """The label of one history aggregate."""
    rows = ROWS_OF[agg.table]
    if agg.subset is not None:
        rows = f"{SUBSETS[agg.subset]} {rows}"
    over = "on" if agg.table == "installments_payments" else "over"
    if agg.func == "size":  # the kernel counts rows twice (MONTHS_BALANCE size and COUNT): keep labels apart
        return f"Count of {rows}" if agg.column == ROWS else f"Number of {rows}"
    if agg.dummy is not None:
        column, level = agg.dummy
        if column == "STATUS":  # a per-credit share of bureau-balance months, averaged over credits
            return f"Mean over {rows} of the share of months with {_level_text(column, level)}"
        if agg.func == "mean":
            return f"Share of {rows} with {_level_text(column, level)}"
        return f"{FUNC_WORDS[agg.func]} of indicator {_level_text(column, level)} {over} {rows}"
    if agg.func == "nunique":
        return f"Number of distinct {_phrase(agg.column, agg.table)} {over} {rows}"
    return f"{FUNC_WORDS[agg.func]} of {_phrase(agg.column, agg.table)} {over} {rows}"


def _one_hot_label(name: str) -> str | None:
    """Label of a one-hot column a model pipeline may create from an application category (``NAME_X_level``)."""
    for column, dtype in CATEGORICAL.items():
        if name.startswith(column + "_"):
            token = name[len(column) + 1 :]
            for level in [*dtype.categories, None]:
                if level_token(level) == token or (level is not None and level == token):
                    return f"{raw_label(APPLICATION_TABLE, column)}: {level if level is not None else 'missing'}"
    return None


def label(feature_name: str) -> str:
    """A short human-readable label for any feature or raw column name.

    Args:
        feature_name: an application column, an engineered application feature, a history aggregate
            (``INSTAL_DPD_MAX``), or a one-hot column of an application category (``NAME_INCOME_TYPE_Working``).

    Returns:
        The label; for an unknown name, the name made readable (never raises, so reason codes always have text).
    """
    if feature_name in LABELS:
        return LABELS[feature_name]
    if feature_name in AGGREGATES_BY_NAME:
        return aggregate_label(AGGREGATES_BY_NAME[feature_name])
    if feature_name in RAW_COLUMNS:
        return raw_label(APPLICATION_TABLE, feature_name)
    return _one_hot_label(feature_name) or humanise(feature_name)


def _source(agg: Aggregate) -> str:
    from_balance = agg.table == BUREAU and (agg.column.startswith("MONTHS_BALANCE") or agg.column.startswith("STATUS"))
    return BUREAU_BALANCE if from_balance else agg.table


def feature_info(feature_name: str) -> FeatureInfo:
    """Everything a dataset manifest records about one feature of :data:`credit_shared.features.FEATURE_COLUMNS`.

    Raises:
        KeyError: when the name is not a feature of the feature set.
    """
    if feature_name in AGGREGATES_BY_NAME:
        agg = AGGREGATES_BY_NAME[feature_name]
        kind: FeatureType = "int" if agg.func in ("size", "nunique") or agg.column == ROWS else "float"
        return FeatureInfo(
            name=feature_name, type=kind, label=label(feature_name), source=_source(agg), online="history"
        )
    if feature_name in ENGINEERED:
        return FeatureInfo(
            name=feature_name, type="float", label=label(feature_name), source=APPLICATION_TABLE, online="request"
        )
    if feature_name in RAW_COLUMNS:
        spec_kind = APPLICATION.by_name[feature_name].kind
        kinds: dict[Kind, FeatureType] = {Kind.INT: "int", Kind.FLOAT: "float", Kind.CATEGORY: "category"}
        return FeatureInfo(
            name=feature_name,
            type=kinds[spec_kind],
            label=label(feature_name),
            source=APPLICATION_TABLE,
            online="request",
        )
    raise KeyError(f"{feature_name!r} is not a feature of the feature set")


def feature_infos(feature_names: list[str] | tuple[str, ...]) -> list[FeatureInfo]:
    """:func:`feature_info` of each name, in order."""
    return [feature_info(n) for n in feature_names]
