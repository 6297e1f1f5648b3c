"""Application columns in the units people read them in: day counts before the application as years, the
employment sentinel as words, integers as integers, and the widget bounds of each column for a what-if.

The Home Credit tables count time in days before the application (``DAYS_BIRTH = -14579``): people read ages and
lengths of employment in years. Bounds are those of the column's meaning (a count is at least 0, a score lies in
[0, 1], an age between 18 and 100), so a what-if cannot ask for 0.75 children or an age of -3.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Final

DAYS_PER_YEAR: Final = 365.25
NOT_EMPLOYED: Final = 365243  # the Kaggle tables' DAYS_EMPLOYED of pensioners and the unemployed
YEARS_LABELS: Final[dict[str, str]] = {
    "DAYS_BIRTH": "Age (years)",
    "DAYS_EMPLOYED": "Years employed",
    "DAYS_REGISTRATION": "Years since the registration changed",
    "DAYS_ID_PUBLISH": "Years since the identity document changed",
    "DAYS_LAST_PHONE_CHANGE": "Years since the phone changed",
}
YEARS_BOUNDS: Final[dict[str, tuple[float, float]]] = {"DAYS_BIRTH": (18.0, 100.0)}
INT_BOUNDS: Final[dict[str, tuple[int, int | None]]] = {
    "CNT_CHILDREN": (0, 20),
    "CNT_FAM_MEMBERS": (1, 25),
    "OWN_CAR_AGE": (0, 80),
    "HOUR_APPR_PROCESS_START": (0, 23),
    "REGION_RATING_CLIENT": (1, 3),
    "REGION_RATING_CLIENT_W_CITY": (1, 3),
}
FLAG: Final = re.compile(r"^(FLAG_|REG_|LIVE_)")
COUNT: Final = re.compile(r"^(CNT_|OBS_|DEF_|AMT_REQ_|OWN_CAR_AGE)")  # whole numbers, some stored as floats
SHARE: Final = re.compile(r"^(EXT_SOURCE_\d|REGION_POPULATION_RELATIVE|.*_(AVG|MODE|MEDI))$")


def is_days(column: str) -> bool:
    """A count of days before the application (shown as years)."""
    return column.startswith("DAYS_")


def years(column: str, days: Any) -> float | None:
    """A day count before the application as positive years (None when missing or not employed)."""
    if not isinstance(days, int | float) or isinstance(days, bool) or not math.isfinite(days):
        return None
    if column == "DAYS_EMPLOYED" and days == NOT_EMPLOYED:
        return None
    return -float(days) / DAYS_PER_YEAR


def days(value_years: float) -> int:
    """Years before the application as the tables' (negative) whole day count."""
    return -round(value_years * DAYS_PER_YEAR)


def label_for_people(column: str, label: str | None) -> str:
    """The label of a column in the units it is shown in (day counts in years)."""
    if column in YEARS_LABELS:
        return YEARS_LABELS[column]
    text = label or column
    if not is_days(column):  # a history aggregate of days (days past due ...) keeps its unit
        return text
    return re.sub(r"\bdays\b", "years", text.replace(" (days before application)", ""), flags=re.IGNORECASE)


def shown(column: str, value: Any, digits: int = 3) -> str:  # noqa: PLR0911 (one case per unit)
    """A column's value as a person reads it: years for day counts, words for the employment sentinel."""
    if value is None or (column == "DAYS_EMPLOYED" and value == NOT_EMPLOYED):
        return "missing" if value is None else "not employed"
    if is_days(column):
        found = years(column, value)
        return "—" if found is None else f"{found:.1f} years"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if FLAG.match(column) and value in (0, 1):
        return "yes" if value else "no"
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.{digits}g}" if abs(value) < 1 else f"{value:,.2f}"


@dataclass(frozen=True)
class InputSpec:
    """How one application column is edited in a what-if: its widget, bounds and step, in the units shown."""

    column: str
    label: str
    widget: str  # "int" (whole numbers), "float", "years", "flag", "category"
    integer: bool = False  # the schema's type of the column is int (else a float column takes a float)
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    options: tuple[str, ...] = ()

    def to_widget(self, value: Any) -> Any:
        """The column's value as the widget holds it."""
        if value is None:
            return None
        if self.widget == "years":
            return None if (found := years(self.column, value)) is None else round(found, 1)
        if self.widget == "int":
            return round(value)
        if self.widget == "float":
            return float(value)
        return value

    def to_column(self, value: Any) -> Any:
        """The widget's value as the application column takes it (an int for integer columns)."""
        if value is None:
            return None
        if self.widget == "category":
            return value
        number: float = days(float(value)) if self.widget == "years" else float(value)
        return int(number) if self.integer else float(number)


def input_spec(column: str, kind: str, label: str | None, categories: list[str] | None = None) -> InputSpec:
    """The what-if input of a column of the application schema (``kind`` is int, float or category)."""
    people = label_for_people(column, label)
    integer = kind == "int"
    if kind == "category" or (integer and FLAG.match(column)):
        widget = "category" if kind == "category" else "flag"
        return InputSpec(column, people, widget, integer, 0, 1, 1, options=tuple(categories or ()))
    if is_days(column):
        low, high = YEARS_BOUNDS.get(column, (0.0, 80.0))
        return InputSpec(column, people, "years", integer, low, high, 0.5)
    if integer or COUNT.match(column):
        least, most = INT_BOUNDS.get(column, (0, None))
        return InputSpec(column, people, "int", integer, least, most, 1)
    if SHARE.match(column):
        return InputSpec(column, people, "float", integer, 0.0, 1.0, 0.01)
    if column.startswith("AMT_"):
        return InputSpec(column, people, "float", integer, 0.0, None, 1000.0)
    return InputSpec(column, people, "float")
