"""Human-readable labels of the raw columns, from the official glossary and a few hand-written ones.

The official column glossary (``HomeCredit_columns_description.csv``, latin-1) ships with the package as
``glossary.json`` (regenerate it with :func:`write_glossary_json`), so labels need no data file at run time.
Raw columns get a crisp hand-written label when they matter most, else one derived from their description. The
feature set's columns are labelled by :mod:`credit_shared.features.labels`, which builds on these.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any, Final

from credit_shared.homecredit.application import ID, TARGET

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
    # engineered application features (credit_shared.features.application)
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


def humanise(name: str) -> str:
    """A column name made readable (``AMT_CREDIT`` -> "Amt credit"), the last resort of every label."""
    return name.replace("_", " ").capitalize()


def _from_description(table: str, column: str) -> str:
    match = BUILDING.match(column) if table == APPLICATION_TABLE else None
    if match:
        what = BUILDING_PARTS.get(match["what"]) or humanise(match["what"])
        return f"{what} of the client's building ({BUILDING_STATS[match['stat']]})"
    text = description(table, column)
    if not text:
        return humanise(column)
    text = re.split(r" \(|\. |, What", text)[0].strip().rstrip(".")
    if len(text) > 70:
        text = text[:67].rsplit(" ", 1)[0] + "..."
    return text[0].upper() + text[1:]


def raw_label(table: str, column: str) -> str:
    """The label of a raw column of a table (application columns prefer the hand-written labels)."""
    if table == APPLICATION_TABLE and column in LABELS:
        return LABELS[column]
    return _from_description(table, column)
