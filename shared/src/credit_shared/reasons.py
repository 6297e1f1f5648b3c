"""The reason catalogue: every model input belongs to one factor group with a stable code and a sentence an applicant
understands, and a refusal's reasons are the groups that raised its risk the most.

A lender must state the specific principal reasons of a refusal (US Regulation B, 12 CFR 1002.9(b)(2); at most four
are "helpful"), and they must reflect the factors actually scored. So reasons are not engineered columns
("Sum of days past due on previous instalments") but factor groups ("Late payments on previous instalments"), and
each group's weight is the **sum of the exact contributions of its features** (SHAP values are additive, so the sum
is the contribution of the group as a whole). :func:`group_of` assigns a feature to its group: an application column
by name, a history aggregate by its table and column (:data:`credit_shared.features.spec.AGGREGATES_BY_NAME`),
anything else to ``R99``. Protected attributes have groups of their own that are never stated as a reason.

The catalogue is versioned (:data:`CATALOGUE_VERSION`): codes are never reused for another meaning; a new group gets
a new code and a new version.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Final

import numpy as np
from pydantic import BaseModel, Field

from credit_shared.contracts.loans import Reason
from credit_shared.features.spec import AGGREGATES_BY_NAME
from credit_shared.homecredit.application import APPLICATION, ID
from credit_shared.homecredit.side_tables import BUREAU, CREDIT_CARD, INSTALMENTS, POS_CASH, PREVIOUS

CATALOGUE_VERSION: Final = "2026-12.1"
MAX_REASONS: Final = 4
OTHER: Final = "R99"


class ReasonGroup(BaseModel):
    """One factor group of the catalogue."""

    code: str = Field(description="Stable code", examples=["R01"])
    group: str = Field(description="The factor group", examples=["External credit scores"])
    text: str = Field(description="The reason as an applicant reads it", examples=["External credit scores are low"])
    protected: bool = Field(False, description="A protected attribute: never stated as a reason")
    flagged: bool = Field(False, description="Allowed but under legal review (age)")
    columns: list[str] = Field(
        default_factory=list,
        description="The application columns in this group: what a what-if on this reason can change (empty for a "
        "group drawn from the credit history, which an application does not carry)",
        examples=[["EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3"]],
    )


class ReasonCatalogue(BaseModel):
    """The versioned reason catalogue."""

    version: str = Field(description="Catalogue version", examples=[CATALOGUE_VERSION])
    max_reasons: int = Field(description="Most reasons stated for one refusal", examples=[MAX_REASONS])
    groups: list[ReasonGroup]


def _g(code: str, group: str, text: str, *, protected: bool = False, flagged: bool = False) -> ReasonGroup:
    return ReasonGroup(code=code, group=group, text=text, protected=protected, flagged=flagged)


GROUPS: Final[tuple[ReasonGroup, ...]] = (
    _g("R01", "External credit scores", "External credit scores are low"),
    _g("R02", "Overdue credits at the credit bureau", "Overdue amounts or late payments on credits at other lenders"),
    _g("R03", "Late payments on previous instalments", "Late or missed payments on previous loans with us"),
    _g("R04", "Current debt", "Level of current debt or use of credit limits"),
    _g("R05", "Credit history at the credit bureau", "Length, number or recency of credits at other lenders"),
    _g("R06", "Recent credit enquiries", "Number of recent enquiries to the credit bureau"),
    _g("R07", "Previous applications", "History of previous applications with us (refusals, amounts, terms)"),
    _g("R08", "Amount and terms of the credit", "Amount of credit or repayments asked for"),
    _g("R09", "Income", "Income too low for the amount of credit requested"),
    _g("R10", "Employment", "Length or type of employment"),
    _g("R11", "Age", "Age of the applicant", flagged=True),
    _g("R12", "Residence", "Stability or type of residence"),
    _g("R13", "Household", "Number of dependants in the household"),
    _g("R14", "Contact details and documents", "Contact details or documents provided with the application"),
    _g("R15", "Assets", "Assets owned (car, property)"),
    _g("R16", "Education", "Level of education"),
    _g("R17", "Payment difficulties in the social circle", "Payment difficulties among the applicant's contacts"),
    _g("R18", "Circumstances of the application", "Circumstances of the application (time, companion)"),
    _g("R19", "Use of credit cards", "Use of credit cards (balances, drawings, limits)"),
    _g("R20", "Previous point-of-sale and cash loans", "Repayment progress of previous point-of-sale or cash loans"),
    _g("R21", "Repayments of previous instalments", "Amounts and timing of repayments of previous loans with us"),
    _g(OTHER, "Other information", "Other information in the application"),
    _g("P01", "Sex (protected)", "Never stated: a protected attribute", protected=True),
    _g("P02", "Marital status (protected)", "Never stated: a protected attribute", protected=True),
)
BY_CODE: Final[dict[str, ReasonGroup]] = {g.code: g for g in GROUPS}

_MEMBERS: Final[dict[str, tuple[str, ...]]] = {
    "R01": ("EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3", "EXT_SOURCES_MEAN", "EXT_SOURCES_MIN", "EXT_SOURCES_MAX"),
    "R06": tuple(f"AMT_REQ_CREDIT_BUREAU_{p}" for p in ("HOUR", "DAY", "WEEK", "MON", "QRT", "YEAR")),
    "R08": ("AMT_CREDIT", "AMT_ANNUITY", "AMT_GOODS_PRICE", "PAYMENT_RATE", "CREDIT_TO_GOODS", "NAME_CONTRACT_TYPE"),
    "R09": ("AMT_INCOME_TOTAL", "INCOME_CREDIT_PERC", "INCOME_PER_PERSON", "ANNUITY_INCOME_PERC", "NAME_INCOME_TYPE"),
    "R10": ("DAYS_EMPLOYED", "DAYS_EMPLOYED_PERC", "OCCUPATION_TYPE", "ORGANIZATION_TYPE", "FLAG_EMP_PHONE"),
    "R11": ("DAYS_BIRTH",),
    "R12": (
        "NAME_HOUSING_TYPE",
        "DAYS_REGISTRATION",
        "REGION_POPULATION_RELATIVE",
        "REGION_RATING_CLIENT",
        "REGION_RATING_CLIENT_W_CITY",
        "REG_REGION_NOT_LIVE_REGION",
        "REG_REGION_NOT_WORK_REGION",
        "LIVE_REGION_NOT_WORK_REGION",
        "REG_CITY_NOT_LIVE_CITY",
        "REG_CITY_NOT_WORK_CITY",
        "LIVE_CITY_NOT_WORK_CITY",
    ),
    "R13": ("CNT_CHILDREN", "CNT_FAM_MEMBERS"),
    "R14": (
        "FLAG_MOBIL",
        "FLAG_WORK_PHONE",
        "FLAG_CONT_MOBILE",
        "FLAG_PHONE",
        "FLAG_EMAIL",
        "DAYS_ID_PUBLISH",
        "DAYS_LAST_PHONE_CHANGE",
    ),
    "R15": ("FLAG_OWN_CAR", "OWN_CAR_AGE", "FLAG_OWN_REALTY"),
    "R16": ("NAME_EDUCATION_TYPE",),
    "R17": (
        "OBS_30_CNT_SOCIAL_CIRCLE",
        "DEF_30_CNT_SOCIAL_CIRCLE",
        "OBS_60_CNT_SOCIAL_CIRCLE",
        "DEF_60_CNT_SOCIAL_CIRCLE",
    ),
    "R18": ("WEEKDAY_APPR_PROCESS_START", "HOUR_APPR_PROCESS_START", "NAME_TYPE_SUITE"),
    "P01": ("CODE_GENDER",),
    "P02": ("NAME_FAMILY_STATUS",),
}
_APPLICATION: Final[dict[str, str]] = {name: code for code, names in _MEMBERS.items() for name in names}
_BUILDING: Final = re.compile(r"^[A-Z_]+_(AVG|MODE|MEDI)$")  # the client's building: residence
_DOCUMENT: Final = re.compile(r"^FLAG_DOCUMENT_\d+$")
_BUREAU_OVERDUE: Final = frozenset(
    {"CREDIT_DAY_OVERDUE", "AMT_CREDIT_MAX_OVERDUE", "AMT_CREDIT_SUM_OVERDUE", "CNT_CREDIT_PROLONG", "STATUS"}
)
_BUREAU_DEBT: Final = frozenset({"AMT_CREDIT_SUM", "AMT_CREDIT_SUM_DEBT", "AMT_CREDIT_SUM_LIMIT", "AMT_ANNUITY"})
_LATE: Final = frozenset({"DPD", "DBD", "PAYMENT_PERC", "PAYMENT_DIFF", "SK_DPD", "SK_DPD_DEF"})
_CARD_DEBT: Final = frozenset({"AMT_BALANCE", "AMT_TOTAL_RECEIVABLE", "AMT_RECIVABLE", "AMT_RECEIVABLE_PRINCIPAL"})
_TABLES: Final = {BUREAU: "R05", PREVIOUS: "R07", POS_CASH: "R20", INSTALMENTS: "R21", CREDIT_CARD: "R19"}


def group_of(feature: str) -> str:
    """The code of the factor group a model input belongs to (``R99`` when the catalogue does not know it).

    A one-hot indicator of an application category (``NAME_INCOME_TYPE_Working``) belongs to its column's group.
    """
    if feature in _APPLICATION:
        return _APPLICATION[feature]
    if _BUILDING.match(feature) or _DOCUMENT.match(feature):
        return "R12" if _BUILDING.match(feature) else "R14"
    agg = AGGREGATES_BY_NAME.get(feature)
    if agg is None:
        owner = max((c for c in _APPLICATION if feature.startswith(f"{c}_")), key=len, default=None)
        return _APPLICATION[owner] if owner else OTHER
    return _history_group(agg.table, agg.dummy[0] if agg.dummy else agg.column)


def _history_group(table: str, column: str) -> str:
    """The group of a history aggregate of ``column`` of the side table ``table``."""
    if table == "bureau":
        return "R02" if column in _BUREAU_OVERDUE else "R04" if column in _BUREAU_DEBT else "R05"
    if column in _LATE:
        return "R03"
    if table == "credit_card_balance" and column in _CARD_DEBT:
        return "R04"
    return _TABLES[table]


@lru_cache(maxsize=1)
def catalogue() -> ReasonCatalogue:
    """The catalogue as served by the gateway, each group with the application columns it holds."""
    columns: dict[str, list[str]] = {}
    for name in APPLICATION.names:
        if name != ID:
            columns.setdefault(group_of(name), []).append(name)
    groups = [g.model_copy(update={"columns": columns.get(g.code, [])}) for g in GROUPS]
    return ReasonCatalogue(version=CATALOGUE_VERSION, max_reasons=MAX_REASONS, groups=groups)


class ReasonIndex:
    """The groups of one model's inputs, for summing each row's contributions by group in one pass."""

    def __init__(self, feature_names: Sequence[str]) -> None:
        codes = [group_of(f) for f in feature_names]
        self.codes = sorted(set(codes))
        at = {c: k for k, c in enumerate(self.codes)}
        self.group = np.array([at[c] for c in codes], dtype="int64")
        self.stated = np.array([not BY_CODE[c].protected for c in self.codes], dtype=bool)
        self.members = [np.flatnonzero(self.group == k) for k in range(len(self.codes))]

    def reasons(
        self,
        values: np.ndarray,
        *,
        label: Callable[[int], str],
        value: Callable[[int], float | str | None],
        names: Sequence[str],
    ) -> list[Reason]:
        """The at most :data:`MAX_REASONS` groups whose summed contributions raised this row's risk the most.

        Args:
            values: the row's contribution of each model input (log-odds).
            label: the label of input ``j``.
            value: the applicant's value of input ``j``.
            names: the model's input names.
        """
        sums = np.bincount(self.group, weights=values, minlength=len(self.codes))
        sums[~self.stated] = 0.0  # a protected attribute is never stated
        out: list[Reason] = []
        for k in np.argsort(-sums, kind="stable")[:MAX_REASONS]:
            if sums[k] <= 0:
                break
            members = self.members[k]
            j = int(members[np.argmax(values[members])])  # the group's most telling input
            entry = BY_CODE[self.codes[k]]
            out.append(Reason(code=entry.code, group=entry.group, text=entry.text, feature=names[j], label=label(j),
                              value=value(j), contribution=float(sums[k])))  # fmt: skip
        return out


@lru_cache(maxsize=16)
def reason_index(feature_names: tuple[str, ...]) -> ReasonIndex:
    """The (cached) :class:`ReasonIndex` of a model's inputs."""
    return ReasonIndex(feature_names)
