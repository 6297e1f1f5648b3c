"""Synthetic application rows: the real marginals (from the profile) tied together by two hidden traits.

Every applicant has a credit quality ``q`` and a payment lateness ``late`` (standard normal, correlated). ``q``
moves the external scores, age and employment length; ``late`` moves the payment history of the side tables.
The default probability is a logistic function of what the tables show (external scores, age, employment,
gender, education, region, social-circle defaults, credit terms) and of ``late``, so models find real signal in
both the application and the history features. The usual couplings of the real data hold: pensioners have
``DAYS_EMPLOYED = 365243``, organisation ``XNA``, no occupation and ``FLAG_EMP_PHONE = 0``; the building columns
(``*_AVG`` / ``*_MODE`` / ``*_MEDI`` and the house descriptors) share one value and are missing together; so do the
credit-bureau request counts and the social-circle counts; ``OWN_CAR_AGE`` is set exactly for car owners.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from credit_local.synthetic.profile import Sampler
from credit_shared.homecredit.application import APPLICATION
from credit_shared.homecredit.schema import Kind
from credit_shared.homecredit.tables import APPLICATION_TRAIN, SENTINEL

Array = np.ndarray[Any, Any]

DEFAULT_RATE: Final = 0.0807
BUILDING: Final = (
    "APARTMENTS",
    "BASEMENTAREA",
    "YEARS_BEGINEXPLUATATION",
    "YEARS_BUILD",
    "COMMONAREA",
    "ELEVATORS",
    "ENTRANCES",
    "FLOORSMAX",
    "FLOORSMIN",
    "LANDAREA",
    "LIVINGAPARTMENTS",
    "LIVINGAREA",
    "NONLIVINGAPARTMENTS",
    "NONLIVINGAREA",
)
HOUSE: Final = ("FONDKAPREMONT_MODE", "HOUSETYPE_MODE", "WALLSMATERIAL_MODE", "EMERGENCYSTATE_MODE")
BUREAU_REQUESTS: Final = tuple(f"AMT_REQ_CREDIT_BUREAU_{p}" for p in ("HOUR", "DAY", "WEEK", "MON", "QRT", "YEAR"))
SOCIAL: Final = ("OBS_30_CNT_SOCIAL_CIRCLE", "DEF_30_CNT_SOCIAL_CIRCLE", "OBS_60_CNT_SOCIAL_CIRCLE")
ADULT_DAYS: Final = 18 * 365


def expit(x: Array) -> Array:
    """The logistic function."""
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def ndtr(x: Array) -> Array:
    """The standard normal CDF, in the logistic approximation (error below 0.01: plenty for synthetic data)."""
    return expit(1.702 * x)


def ndtri(u: Array) -> Array:
    """The inverse of :func:`ndtr`."""
    return np.asarray(np.log(u / (1 - u)) / 1.702)


def _code(column: str, level: str) -> int:
    return APPLICATION.by_name[column].categories.index(level)


def _mix(rng: np.random.Generator, signal: Array, weight: float) -> Array:
    """Uniforms whose normal score is ``weight * signal`` plus independent noise (unit variance overall)."""
    return np.asarray(ndtr(weight * signal + np.sqrt(1 - weight**2) * rng.standard_normal(signal.size)))


def traits(rng: np.random.Generator, n: int) -> tuple[Array, Array]:
    """The hidden credit quality ``q`` and payment lateness ``late`` of ``n`` applicants (correlation -0.5)."""
    q = rng.standard_normal(n)
    late = -0.5 * q + np.sqrt(0.75) * rng.standard_normal(n)
    return q, late


def application_rows(rng: np.random.Generator, ids: Array, q: Array, late: Array) -> tuple[dict[str, Array], Array]:
    """The application columns (spec order; categories as level codes, -1 = missing) and each row's logit part.

    Returns:
        The columns of ``application_test`` and the applicant-level part of the default logit.
    """
    n = ids.size
    s = Sampler(APPLICATION_TRAIN, rng)
    cols: dict[str, Array] = {"SK_ID_CURR": ids.astype(np.int64)}
    for column in APPLICATION.columns[1:]:
        cols[column.name] = s.category(column.name, n) if column.kind is Kind.CATEGORY else s.number(column.name, n)

    ext_scores = []
    for k in (1, 2, 3):
        u = _mix(rng, q, 0.78)
        cols[f"EXT_SOURCE_{k}"] = s.with_missing(f"EXT_SOURCE_{k}", s.inverse(f"EXT_SOURCE_{k}", u))
        ext_scores.append(np.where(np.isnan(cols[f"EXT_SOURCE_{k}"]), np.nan, ndtri(np.clip(u, 1e-6, 1 - 1e-6))))
    stacked = np.vstack(ext_scores)
    seen = (~np.isnan(stacked)).sum(axis=0)
    ext_z = np.where(seen > 0, np.nansum(stacked, axis=0) / np.maximum(seen, 1), 0.0)

    _employment(rng, s, cols, q)
    _amounts(rng, s, cols, q)
    _blocks(rng, s, cols, late)
    children = np.nan_to_num(cols["CNT_CHILDREN"])
    family = cols["NAME_FAMILY_STATUS"]
    couple = (family == _code("NAME_FAMILY_STATUS", "Married")) | (
        family == _code("NAME_FAMILY_STATUS", "Civil marriage")
    )
    cols["CNT_FAM_MEMBERS"] = children + 1 + couple
    cols["OWN_CAR_AGE"] = np.where(
        cols["FLAG_OWN_CAR"] == _code("FLAG_OWN_CAR", "Y"), s.inverse("OWN_CAR_AGE", rng.random(n)), np.nan
    )
    same = rng.random(n) < 0.9
    cols["REGION_RATING_CLIENT_W_CITY"] = np.where(
        same, cols["REGION_RATING_CLIENT"], cols["REGION_RATING_CLIENT_W_CITY"]
    )

    age_years = -cols["DAYS_BIRTH"] / 365.25
    employed = cols["DAYS_EMPLOYED"] != SENTINEL
    years_employed = np.where(employed, -cols["DAYS_EMPLOYED"] / 365.25, 0.0)
    education = cols["NAME_EDUCATION_TYPE"]
    goods = cols["AMT_GOODS_PRICE"]
    logit = (
        -0.9 * ext_z
        - 0.022 * (age_years - 43)
        - 0.05 * np.minimum(years_employed, 15) * employed
        + 0.3 * (cols["CODE_GENDER"] == _code("CODE_GENDER", "M"))
        - 0.35 * (education == _code("NAME_EDUCATION_TYPE", "Higher education"))
        + 0.25 * (education == _code("NAME_EDUCATION_TYPE", "Lower secondary"))
        + 0.2 * (np.nan_to_num(cols["REGION_RATING_CLIENT_W_CITY"], nan=2) - 2)
        + 0.3 * (np.nan_to_num(cols["DEF_30_CNT_SOCIAL_CIRCLE"]) > 0)
        + 4.0 * (cols["AMT_ANNUITY"] / cols["AMT_CREDIT"] - 0.054)
        + 0.9 * (cols["AMT_CREDIT"] / np.where(np.isnan(goods), cols["AMT_CREDIT"], goods) - 1.1)
        + 0.8 * late
    )
    return {c.name: cols[c.name] for c in APPLICATION.columns}, logit


def default_draw(rng: np.random.Generator, logit: Array, rate: float = DEFAULT_RATE) -> Array:
    """``TARGET`` (0/1) with default probability ``sigmoid(b + logit)``, ``b`` set so the mean is ``rate``."""
    low, high = -12.0, 4.0
    for _ in range(50):
        middle = (low + high) / 2
        if float(np.mean(expit(middle + logit))) < rate:
            low = middle
        else:
            high = middle
    return np.asarray(rng.random(logit.size) < expit((low + high) / 2 + logit), dtype=np.int64)


def _employment(rng: np.random.Generator, s: Sampler, cols: dict[str, Array], q: Array) -> None:
    n = q.size
    income_type = cols["NAME_INCOME_TYPE"]
    retired = (income_type == _code("NAME_INCOME_TYPE", "Pensioner")) | (
        income_type == _code("NAME_INCOME_TYPE", "Unemployed")
    )
    u_age = _mix(rng, -q, 0.3)
    cols["DAYS_BIRTH"] = s.inverse("DAYS_BIRTH", np.where(retired, u_age * 0.3, u_age))
    working = s.inverse("DAYS_EMPLOYED", _mix(rng, -q, 0.35))
    working = np.maximum(working, np.minimum(cols["DAYS_BIRTH"] + ADULT_DAYS, -1))
    cols["DAYS_EMPLOYED"] = np.where(retired, float(SENTINEL), working)
    cols["FLAG_EMP_PHONE"] = (~retired).astype(float)
    organisation = APPLICATION.by_name["ORGANIZATION_TYPE"].categories
    shares = np.asarray(s.columns["ORGANIZATION_TYPE"]["p"], dtype=float)
    shares[organisation.index("XNA")] = 0
    drawn = rng.choice(len(organisation), size=n, p=shares / shares.sum()).astype(np.int16)
    cols["ORGANIZATION_TYPE"] = np.where(retired, np.int16(organisation.index("XNA")), drawn)
    occupation = cols["OCCUPATION_TYPE"]
    occupation = np.where(occupation < 0, s.category("OCCUPATION_TYPE", n, missing=False), occupation)
    unknown = rng.random(n) < 0.16
    cols["OCCUPATION_TYPE"] = np.where(retired | unknown, np.int16(-1), occupation).astype(np.int16)
    for column in ("DAYS_REGISTRATION", "DAYS_ID_PUBLISH"):
        cols[column] = np.maximum(cols[column], cols["DAYS_BIRTH"] + ADULT_DAYS)


def _amounts(rng: np.random.Generator, s: Sampler, cols: dict[str, Array], q: Array) -> None:
    n = q.size
    u_income = _mix(rng, q, 0.3)
    cols["AMT_INCOME_TOTAL"] = np.maximum(np.round(s.inverse("AMT_INCOME_TOTAL", u_income) / 2250) * 2250, 2250)
    credit = np.round(s.inverse("AMT_CREDIT", _mix(rng, ndtri(np.clip(u_income, 1e-6, 1 - 1e-6)), 0.5)) * 2) / 2
    cols["AMT_CREDIT"] = credit
    rate = np.clip(0.05 * np.exp(0.3 * rng.standard_normal(n)), 0.022, 0.124)
    cols["AMT_ANNUITY"] = np.round(credit * rate * 2) / 2
    markup = np.where(rng.random(n) < 0.45, 0.0, rng.uniform(0.0, 0.3, n))
    goods = np.round(credit / (1 + markup) / 500) * 500
    cols["AMT_GOODS_PRICE"] = s.with_missing("AMT_GOODS_PRICE", np.maximum(goods, 500.0))


def _blocks(rng: np.random.Generator, s: Sampler, cols: dict[str, Array], late: Array) -> None:
    n = late.size
    v_building = rng.random(n)
    u_apartments = rng.random(n)
    for base in BUILDING:
        u = u_apartments if base == "APARTMENTS" else rng.random(n)
        jitter = np.clip(u + 0.03 * rng.standard_normal(n), 0, 1)
        for suffix, uu in (("AVG", u), ("MEDI", u), ("MODE", jitter)):
            name = f"{base}_{suffix}"
            cols[name] = s.with_missing(name, s.inverse(name, uu), v_building)
    cols["TOTALAREA_MODE"] = s.with_missing("TOTALAREA_MODE", s.inverse("TOTALAREA_MODE", u_apartments), v_building)
    for name in HOUSE:
        codes = s.category(name, n, missing=False)
        cols[name] = np.where(v_building < s.columns[name]["missing"], np.int16(-1), codes).astype(np.int16)
    v_requests = rng.random(n)
    for name in BUREAU_REQUESTS:
        cols[name] = s.with_missing(name, s.inverse(name, rng.random(n)), v_requests)
    v_social = rng.random(n)
    observed = s.inverse("OBS_30_CNT_SOCIAL_CIRCLE", rng.random(n))
    defaulted = np.minimum(s.inverse("DEF_30_CNT_SOCIAL_CIRCLE", _mix(rng, late, 0.4)), observed)
    more = (rng.random(n) < 0.1).astype(float)
    values = {
        "OBS_30_CNT_SOCIAL_CIRCLE": observed,
        "DEF_30_CNT_SOCIAL_CIRCLE": defaulted,
        "OBS_60_CNT_SOCIAL_CIRCLE": observed,
        "DEF_60_CNT_SOCIAL_CIRCLE": np.minimum(defaulted + more * (defaulted == 0), observed),
    }
    for name, value in values.items():
        cols[name] = s.with_missing(name, value, v_social)
