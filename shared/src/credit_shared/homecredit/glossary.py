"""Human-readable labels for every raw column and every engineered feature.

The official column glossary (``HomeCredit_columns_description.csv``, latin-1) ships with the package as
``glossary.json`` (regenerate it with :func:`write_glossary_json`), so labels need no data file at run time.
Raw columns get a crisp hand-written label when they matter most, else one derived from their description;
engineered features get one from their source column and aggregation, e.g. ``INSTAL_DPD_MAX`` ->
"Max of days past due on previous instalments".
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any, Final

from credit_shared.datasets import FeatureInfo, FeatureType
from credit_shared.features.application import CATEGORICAL, ENGINEERED, RAW_COLUMNS
from credit_shared.features.levels import level_token
from credit_shared.features.spec import AGGREGATES_BY_NAME, ROWS, Aggregate
from credit_shared.homecredit.application import APPLICATION, ID, TARGET
from credit_shared.homecredit.schema import Kind
from credit_shared.homecredit.side_tables import BUREAU, BUREAU_BALANCE

GLOSSARY_JSON: Final = Path(__file__).with_name("glossary.json")
APPLICATION_TABLE: Final = "application"

LABELS: Final[dict[str, str]] = {
    ID: "Client id",
    TARGET: "Payment difficulties (target)",
    "EXT_SOURCE_1": "External credit score 1",
    "EXT_SOURCE_2": "External credit score 2",
    "EXT_SOURCE_3": "External credit score 3",
    "NAME_CONTRACT_TYPE": "Contract type (cash or revolving)",
    "CODE_GENDER": "Gender",
    "FLAG_OWN_CAR": "Owns a car",
    "FLAG_OWN_REALTY": "Owns a house or flat",
    "CNT_CHILDREN": "Number of children",
    "AMT_INCOME_TOTAL": "Income",
    "AMT_CREDIT": "Credit amount",
    "AMT_ANNUITY": "Loan annuity",
    "AMT_GOODS_PRICE": "Price of the goods financed",
    "NAME_TYPE_SUITE": "Accompanied by",
    "NAME_INCOME_TYPE": "Income type",
    "NAME_EDUCATION_TYPE": "Education",
    "NAME_FAMILY_STATUS": "Family status",
    "NAME_HOUSING_TYPE": "Housing situation",
    "REGION_POPULATION_RELATIVE": "Population of the home region (normalised)",
    "DAYS_BIRTH": "Age (days before application)",
    "DAYS_EMPLOYED": "Employment length (days before application)",
    "DAYS_REGISTRATION": "Days since registration change",
    "DAYS_ID_PUBLISH": "Days since identity document change",
    "OWN_CAR_AGE": "Age of own car",
    "OCCUPATION_TYPE": "Occupation",
    "FLAG_MOBIL": "Provided a mobile phone",
    "FLAG_EMP_PHONE": "Provided an employer phone",
    "FLAG_WORK_PHONE": "Provided a work phone",
    "FLAG_CONT_MOBILE": "Mobile phone reachable",
    "FLAG_PHONE": "Provided a home phone",
    "FLAG_EMAIL": "Provided an email",
    "CNT_FAM_MEMBERS": "Number of family members",
    "REGION_RATING_CLIENT": "Region rating",
    "REGION_RATING_CLIENT_W_CITY": "Region rating including city",
    "WEEKDAY_APPR_PROCESS_START": "Weekday of application",
    "HOUR_APPR_PROCESS_START": "Hour of application",
    "ORGANIZATION_TYPE": "Employer's organisation type",
    "DAYS_LAST_PHONE_CHANGE": "Days since phone change",
    "OBS_30_CNT_SOCIAL_CIRCLE": "Social circle observed 30 DPD",
    "DEF_30_CNT_SOCIAL_CIRCLE": "Social circle defaulted 30 DPD",
    "OBS_60_CNT_SOCIAL_CIRCLE": "Social circle observed 60 DPD",
    "DEF_60_CNT_SOCIAL_CIRCLE": "Social circle defaulted 60 DPD",
    "FLAG_DOCUMENT_3": "Provided document 3",
    "AMT_REQ_CREDIT_BUREAU_YEAR": "Credit bureau enquiries in the last year",
    "AMT_REQ_CREDIT_BUREAU_QRT": "Credit bureau enquiries in the last 3 months",
    "AMT_REQ_CREDIT_BUREAU_MON": "Credit bureau enquiries in the last month",
    "REG_REGION_NOT_LIVE_REGION": "Permanent and contact address in different regions",
    "REG_REGION_NOT_WORK_REGION": "Permanent and work address in different regions",
    "LIVE_REGION_NOT_WORK_REGION": "Contact and work address in different regions",
    "REG_CITY_NOT_LIVE_CITY": "Permanent and contact address in different cities",
    "REG_CITY_NOT_WORK_CITY": "Permanent and work address in different cities",
    "LIVE_CITY_NOT_WORK_CITY": "Contact and work address in different cities",
    # engineered application features
    "DAYS_EMPLOYED_PERC": "Employment length / age",
    "INCOME_CREDIT_PERC": "Income / credit amount",
    "INCOME_PER_PERSON": "Income per family member",
    "ANNUITY_INCOME_PERC": "Annuity / income",
    "PAYMENT_RATE": "Annuity / credit amount (payment rate)",
    "CREDIT_TO_GOODS": "Credit amount / goods price",
    "EXT_SOURCES_MEAN": "Mean of the external credit scores",
    "EXT_SOURCES_MIN": "Min of the external credit scores",
    "EXT_SOURCES_MAX": "Max of the external credit scores",
}

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
    "bureau": "bureau credits",
    "previous_application": "previous applications",
    "POS_CASH_balance": "POS and cash loan monthly balances",
    "installments_payments": "previous instalments",
    "credit_card_balance": "credit-card monthly balances",
}
SUBSETS: Final = {"Active": "active", "Closed": "closed", "Approved": "approved", "Refused": "refused"}
FUNC_WORDS: Final = {"min": "Min", "max": "Max", "mean": "Mean", "sum": "Sum", "var": "Variance"}
BUILDING: Final = re.compile(r"^(?P<what>[A-Z_]+?)_(?P<stat>AVG|MODE|MEDI)$")
BUILDING_STATS: Final = {"AVG": "average", "MODE": "mode", "MEDI": "median"}
BUILDING_PARTS: Final = {
    "APARTMENTS": "Apartment size",
    "BASEMENTAREA": "Basement area",
    "YEARS_BEGINEXPLUATATION": "Years since start of use",
    "YEARS_BUILD": "Age",
    "COMMONAREA": "Common area",
    "ELEVATORS": "Elevators",
    "ENTRANCES": "Entrances",
    "FLOORSMAX": "Max floors",
    "FLOORSMIN": "Min floors",
    "LANDAREA": "Land area",
    "LIVINGAPARTMENTS": "Living apartments",
    "LIVINGAREA": "Living area",
    "NONLIVINGAPARTMENTS": "Non-living apartments",
    "NONLIVINGAREA": "Non-living area",
    "TOTALAREA": "Total area",
    "FONDKAPREMONT": "Repair fund",
    "HOUSETYPE": "House type",
    "WALLSMATERIAL": "Wall material",
    "EMERGENCYSTATE": "Emergency state",
}


def read_glossary_csv(path: Path) -> dict[str, dict[str, dict[str, str]]]:
    """The official glossary as ``{table: {column: {"description": ..., "special": ...}}}``.

    Tables are ``application`` (train and test), ``bureau``, ``bureau_balance``, ``previous_application``,
    ``POS_CASH_balance``, ``installments_payments`` and ``credit_card_balance``. The file is latin-1; its stray
    padded names and the ``SK_BUREAU_ID`` misnomer are normalised to the data's column names.
    """
    import pandas as pd

    frame = pd.read_csv(path, encoding="latin-1")
    expected = {"Table", "Row", "Description", "Special"}
    if not expected <= set(frame.columns):
        raise ValueError(f"{path.name}: expected columns {sorted(expected)}, got {list(frame.columns)}")
    out: dict[str, dict[str, dict[str, str]]] = {}
    for row in frame.itertuples(index=False):
        table = str(row.Table).removesuffix(".csv").replace("application_{train|test}", APPLICATION_TABLE)
        column = str(row.Row).strip().replace("SK_BUREAU_ID", "SK_ID_BUREAU")
        entry = {"description": " ".join(str(row.Description).replace("\x85", "...").split())}
        if isinstance(row.Special, str) and row.Special.strip():
            entry["special"] = row.Special.strip()
        out.setdefault(table, {})[column] = entry
    return out


def write_glossary_json(csv_path: Path, json_path: Path = GLOSSARY_JSON) -> None:
    """Regenerate the packaged glossary from the official CSV."""
    json_path.write_text(json.dumps(read_glossary_csv(csv_path), indent=1, ensure_ascii=True) + "\n")


@cache
def glossary() -> dict[str, dict[str, dict[str, str]]]:
    """The packaged glossary (see :func:`read_glossary_csv`)."""
    data: Any = json.loads(GLOSSARY_JSON.read_text())
    return dict(data)


def description(table: str, column: str) -> str | None:
    """The official description of a raw column, or None when the glossary has none."""
    entry = glossary().get(table, {}).get(column)
    return None if entry is None else entry["description"]


def _humanise(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _from_description(table: str, column: str) -> str:
    match = BUILDING.match(column) if table == APPLICATION_TABLE else None
    if match:
        what = BUILDING_PARTS.get(match["what"]) or _humanise(match["what"])
        return f"{what} of the client's building ({BUILDING_STATS[match['stat']]})"
    text = description(table, column)
    if not text:
        return _humanise(column)
    text = re.split(r" \(|\. |, What", text)[0].strip().rstrip(".")
    if len(text) > 70:
        text = text[:67].rsplit(" ", 1)[0] + "..."
    return text[0].upper() + text[1:]


def raw_label(table: str, column: str) -> str:
    """The label of a raw column of a table (application columns prefer the hand-written labels)."""
    if table == APPLICATION_TABLE and column in LABELS:
        return LABELS[column]
    return _from_description(table, column)


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
    return _one_hot_label(feature_name) or _humanise(feature_name)


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
