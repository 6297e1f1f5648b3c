"""Synthetic side tables for one chunk of applicants: every row joins, sizes and coverage as in the full data.

Per applicant: bureau credits (86 % of applicants, about 5.6 each) with monthly bureau balances for a part of
them; previous applications (95 %, about 4.9 each); for approved cash and consumer loans their monthly POS
balances and instalment payments; for 29 % of applicants a credit card (one of their previous applications,
revolving and approved) with its monthly balances and payments. Lateness (the applicant's hidden ``late`` trait)
raises bureau overdue days, refusals, days past due in POS, card and bureau-balance statuses and late or partial
instalment payments. Month and day offsets are consistent (balances start at the credit's opening, instalments
follow the first due date, closed credits turn to status ``C``), and ``365243`` marks the previous-application
``DAYS_`` values that do not apply.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from credit_local.synthetic.profile import Sampler
from credit_shared.homecredit.side_tables import BUREAU, BUREAU_BALANCE, PREVIOUS
from credit_shared.homecredit.tables import SENTINEL, TABLES

Array = np.ndarray[Any, Any]
Columns = dict[str, Array]

BUREAU_COVERAGE: Final = 0.86
BUREAU_MEAN: Final = 5.6  # credits per applicant who has any
BUREAU_BALANCE_SHARE: Final = 0.416  # credits with monthly balances
PREVIOUS_COVERAGE: Final = 0.95
PREVIOUS_MEAN: Final = 4.93
CARD_COVERAGE: Final = 0.29
MONTH: Final = 30.4375


def _code(table: str, column: str, level: str) -> int:
    return TABLES[table].by_name[column].categories.index(level)


def _counts(rng: np.random.Generator, n: int, coverage: float, mean: float) -> Array:
    """Rows per applicant: none for ``1 - coverage`` of them, else ``1 +`` negative binomial (mean ``mean``)."""
    r = 1.3
    extra = rng.negative_binomial(r, r / (r + mean - 1), n)
    return np.where(rng.random(n) < coverage, 1 + extra, 0).astype(np.int64)


def _expand(counts: Array) -> tuple[Array, Array]:
    """For rows repeated ``counts`` times: each new row's owner index and its position within the owner."""
    owner = np.repeat(np.arange(counts.size), counts)
    starts = np.cumsum(counts) - counts
    return owner, np.arange(owner.size) - starts[owner]


def _chance(rng: np.random.Generator, base: float, late: Array, slope: float, cap: float = 0.9) -> Array:
    return rng.random(late.size) < np.clip(base * np.exp(slope * late), 0, cap)


def bureau_tables(rng: np.random.Generator, ids: Array, late: Array, first_id: int) -> tuple[Columns, Columns]:
    """``bureau`` and ``bureau_balance`` rows of a chunk; bureau ids start at ``first_id``."""
    s = Sampler(BUREAU, rng)
    owner, _ = _expand(_counts(rng, ids.size, BUREAU_COVERAGE, BUREAU_MEAN))
    m = owner.size
    lat = late[owner]
    cols: Columns = {"SK_ID_CURR": ids[owner], "SK_ID_BUREAU": first_id + np.arange(m, dtype=np.int64)}
    status = s.category("CREDIT_ACTIVE", m)
    active = status == _code(BUREAU, "CREDIT_ACTIVE", "Active")
    cols["CREDIT_ACTIVE"] = status
    cols["CREDIT_CURRENCY"] = s.category("CREDIT_CURRENCY", m)
    opened = np.minimum(s.inverse("DAYS_CREDIT", rng.random(m)), -1)
    cols["DAYS_CREDIT"] = opened
    overdue = active & _chance(rng, 0.006, lat, 1.3)
    cols["CREDIT_DAY_OVERDUE"] = np.where(overdue, np.round(np.exp(rng.normal(3.0, 1.2, m))) + 1, 0)
    duration = np.round(np.exp(rng.normal(6.4, 0.8, m)))
    cols["DAYS_CREDIT_ENDDATE"] = s.with_missing("DAYS_CREDIT_ENDDATE", opened + duration)
    ended = np.round(opened * rng.uniform(0.0, 0.95, m))
    cols["DAYS_ENDDATE_FACT"] = np.where(active, np.nan, ended)
    cols["AMT_CREDIT_MAX_OVERDUE"] = s.with_missing(
        "AMT_CREDIT_MAX_OVERDUE",
        np.where(_chance(rng, 0.12, lat, 0.9), np.round(np.exp(rng.normal(8.0, 1.8, m)), 2), 0.0),
    )
    cols["CNT_CREDIT_PROLONG"] = s.inverse("CNT_CREDIT_PROLONG", rng.random(m))
    amount = np.round(s.inverse("AMT_CREDIT_SUM", rng.random(m)), 2)
    cols["AMT_CREDIT_SUM"] = amount
    debt = np.where(active, np.round(amount * rng.random(m), 2), 0.0)
    cols["AMT_CREDIT_SUM_DEBT"] = s.with_missing("AMT_CREDIT_SUM_DEBT", debt)
    kind = s.category("CREDIT_TYPE", m)
    card = kind == _code(BUREAU, "CREDIT_TYPE", "Credit card")
    limit = np.where(card & active, np.round(amount * rng.random(m), 2), 0.0)
    cols["AMT_CREDIT_SUM_LIMIT"] = s.with_missing("AMT_CREDIT_SUM_LIMIT", limit)
    cols["AMT_CREDIT_SUM_OVERDUE"] = np.where(overdue, np.round(amount * rng.uniform(0.01, 0.2, m), 2), 0.0)
    cols["CREDIT_TYPE"] = kind
    update = np.where(active, -np.round(rng.exponential(20, m)), ended + np.round(rng.exponential(30, m)))
    cols["DAYS_CREDIT_UPDATE"] = np.clip(update, opened, 0)
    cols["AMT_ANNUITY"] = s.number("AMT_ANNUITY", m)
    return cols, _bureau_balance(rng, cols, lat)


def _bureau_balance(rng: np.random.Generator, bureau: Columns, lat: Array) -> Columns:
    m = bureau["SK_ID_BUREAU"].size
    months = np.minimum(np.floor(-bureau["DAYS_CREDIT"] / MONTH) + 1, 97).astype(np.int64)
    months = np.where(rng.random(m) < BUREAU_BALANCE_SHARE, months, 0)
    owner, position = _expand(months)
    r = owner.size
    end = bureau["DAYS_ENDDATE_FACT"][owner]
    closed = ~np.isnan(end) & (-position * MONTH > end)
    u = rng.random(r)
    hazard = np.clip(0.012 * np.exp(1.3 * lat[owner]), 0, 0.6)
    level = np.full(r, _code(BUREAU_BALANCE, "STATUS", "0"), dtype=np.int16)
    level[u < 0.22] = _code(BUREAU_BALANCE, "STATUS", "X")
    late_rows = (u >= 0.22) & (u < 0.22 + hazard)
    severity = np.minimum(rng.geometric(0.7, r), 5)
    level[late_rows] = severity[late_rows].astype(np.int16)  # levels "1".."5" have codes 1..5
    level[closed] = _code(BUREAU_BALANCE, "STATUS", "C")
    return {"SK_ID_BUREAU": bureau["SK_ID_BUREAU"][owner], "MONTHS_BALANCE": -position, "STATUS": level}


def _prev(column: str, level: str) -> int:
    return _code(PREVIOUS, column, level)


def _restricted(rng: np.random.Generator, s: Sampler, column: str, allowed: list[int], size: int) -> Array:
    shares = np.asarray(s.columns[column]["p"], dtype=float)
    weights = shares[allowed] / shares[allowed].sum()
    return np.asarray(allowed, dtype=np.int16)[rng.choice(len(allowed), size=size, p=weights)]


def previous_table(rng: np.random.Generator, ids: Array, late: Array, first_id: int) -> tuple[Columns, Array, Array]:
    """``previous_application`` rows of a chunk (ids from ``first_id``).

    Returns:
        The columns, the owner (applicant index) of each row, and whether the row is the applicant's credit card.
    """
    s = Sampler(PREVIOUS, rng)
    counts = _counts(rng, ids.size, PREVIOUS_COVERAGE, PREVIOUS_MEAN)
    owner, position = _expand(counts)
    p = owner.size
    lat = late[owner]
    has_card = rng.random(ids.size) < CARD_COVERAGE / PREVIOUS_COVERAGE
    card = has_card[owner] & (position == 0)
    cols: Columns = {"SK_ID_PREV": first_id + np.arange(p, dtype=np.int64), "SK_ID_CURR": ids[owner]}
    contract = s.category("NAME_CONTRACT_TYPE", p)
    contract[card] = _prev("NAME_CONTRACT_TYPE", "Revolving loans")
    revolving = contract == _prev("NAME_CONTRACT_TYPE", "Revolving loans")
    status = s.category("NAME_CONTRACT_STATUS", p)
    status[_chance(rng, 0.05, lat, 0.8, 0.5)] = _prev("NAME_CONTRACT_STATUS", "Refused")
    status[(revolving & ~card) & (status == _prev("NAME_CONTRACT_STATUS", "Approved"))] = _prev(
        "NAME_CONTRACT_STATUS", "Canceled"
    )
    status[contract == _prev("NAME_CONTRACT_TYPE", "XNA")] = _prev("NAME_CONTRACT_STATUS", "Canceled")
    status[card] = _prev("NAME_CONTRACT_STATUS", "Approved")
    approved = status == _prev("NAME_CONTRACT_STATUS", "Approved")
    refused = status == _prev("NAME_CONTRACT_STATUS", "Refused")
    cols["NAME_CONTRACT_TYPE"] = contract

    terms, unpriced = _previous_amounts(rng, s, cols, revolving, approved)
    cash = contract == _prev("NAME_CONTRACT_TYPE", "Cash loans")
    purpose = np.where(
        rng.random(p) < 0.8, np.int16(_prev("NAME_CASH_LOAN_PURPOSE", "XNA")), s.category("NAME_CASH_LOAN_PURPOSE", p)
    )
    cols["NAME_CASH_LOAN_PURPOSE"] = np.where(cash, purpose, np.int16(_prev("NAME_CASH_LOAN_PURPOSE", "XAP")))
    cols["NAME_CONTRACT_STATUS"] = status
    # cards are older than the average application: their monthly history is longer (about 37 months)
    decision = np.minimum(s.inverse("DAYS_DECISION", rng.random(p) * np.where(card, 0.75, 1.0)), -1)
    cols["DAYS_DECISION"] = decision
    cols["NAME_PAYMENT_TYPE"] = s.category("NAME_PAYMENT_TYPE", p)
    reasons = TABLES[PREVIOUS].by_name["CODE_REJECT_REASON"].categories
    rejected = _restricted(rng, s, "CODE_REJECT_REASON", [i for i, r in enumerate(reasons) if r != "XAP"], p)
    cols["CODE_REJECT_REASON"] = np.where(refused, rejected, np.int16(_prev("CODE_REJECT_REASON", "XAP")))
    for name in ("NAME_TYPE_SUITE", "NAME_CLIENT_TYPE", "NAME_GOODS_CATEGORY"):
        cols[name] = s.category(name, p)
    cols["NAME_PORTFOLIO"] = _portfolio(contract, approved)
    cols["NAME_PRODUCT_TYPE"] = s.category("NAME_PRODUCT_TYPE", p)
    cols["CHANNEL_TYPE"] = s.category("CHANNEL_TYPE", p)
    cols["SELLERPLACE_AREA"] = s.inverse("SELLERPLACE_AREA", rng.random(p))
    cols["NAME_SELLER_INDUSTRY"] = s.category("NAME_SELLER_INDUSTRY", p)
    cols["CNT_PAYMENT"] = np.where(unpriced, np.nan, terms)
    cols["NAME_YIELD_GROUP"] = s.category("NAME_YIELD_GROUP", p)
    cols["PRODUCT_COMBINATION"] = _product(rng, s, contract)
    cols.update(_previous_days(rng, decision, terms, approved, revolving))
    cols["NFLAG_INSURED_ON_APPROVAL"] = np.where(approved, (rng.random(p) < 0.28).astype(float), np.nan)
    return cols, owner, card


def _portfolio(contract: Array, approved: Array) -> Array:
    table = {"Cash loans": "Cash", "Consumer loans": "POS", "Revolving loans": "Cards", "XNA": "XNA"}
    levels = TABLES[PREVIOUS].by_name["NAME_CONTRACT_TYPE"].categories
    mapping = np.asarray([_code(PREVIOUS, "NAME_PORTFOLIO", table[level]) for level in levels], dtype=np.int16)
    return np.where(approved, mapping[contract], np.int16(_code(PREVIOUS, "NAME_PORTFOLIO", "XNA")))


def _product(rng: np.random.Generator, s: Sampler, contract: Array) -> Array:
    products = TABLES[PREVIOUS].by_name["PRODUCT_COMBINATION"].categories
    prefixes = {"Cash loans": "Cash", "Consumer loans": "POS", "Revolving loans": "Card", "XNA": "Cash"}
    out = np.full(contract.size, -1, dtype=np.int16)
    for index, level in enumerate(TABLES[PREVIOUS].by_name["NAME_CONTRACT_TYPE"].categories):
        rows = contract == index
        allowed = [i for i, name in enumerate(products) if name.startswith(prefixes[level])]
        out[rows] = _restricted(rng, s, "PRODUCT_COMBINATION", allowed, int(rows.sum()))
    out[rng.random(contract.size) < 0.0002] = -1
    return out


def _previous_days(
    rng: np.random.Generator, decision: Array, terms: Array, approved: Array, revolving: Array
) -> Columns:
    p = decision.size
    first_due = np.minimum(decision + rng.integers(10, 60, p), -1).astype(float)
    first_due[revolving] = SENTINEL
    drawing = np.where(rng.random(p) < 0.95, float(SENTINEL), np.minimum(decision + rng.integers(0, 30, p), -1))
    last_planned = np.where(revolving, float(SENTINEL), first_due + MONTH * np.round(np.maximum(terms, 1) - 1))
    last_planned = np.round(last_planned)
    finished = ~revolving & (last_planned < -1) & (rng.random(p) < 0.92)
    last_due = np.where(finished, last_planned, float(SENTINEL))
    termination = np.where(finished, np.minimum(last_planned + rng.integers(0, 10, p), -1), float(SENTINEL))
    out = {
        "DAYS_FIRST_DRAWING": drawing,
        "DAYS_FIRST_DUE": first_due,
        "DAYS_LAST_DUE_1ST_VERSION": last_planned,
        "DAYS_LAST_DUE": last_due,
        "DAYS_TERMINATION": termination,
    }
    return {name: np.where(approved, values, np.nan) for name, values in out.items()}


def _previous_amounts(
    rng: np.random.Generator, s: Sampler, cols: Columns, revolving: Array, approved: Array
) -> tuple[Array, Array]:
    """Fill the amount and rate columns; return the number of instalments and which rows have no price."""
    p = revolving.size
    u = rng.random(p)
    application = np.round(s.inverse("AMT_APPLICATION", u), 2)
    credit = np.round(s.inverse("AMT_CREDIT", u), 2)
    terms = np.where(revolving, 0.0, np.maximum(s.inverse("CNT_PAYMENT", rng.random(p)), 3))
    unpriced = ~approved & (rng.random(p) < 0.53)
    cols["AMT_ANNUITY"] = np.where(
        unpriced, np.nan, np.round(np.maximum(credit, 4500) / np.maximum(terms, 12) * rng.uniform(1.05, 1.4, p), 3)
    )
    cols["AMT_APPLICATION"] = application
    cols["AMT_CREDIT"] = credit
    v_down = rng.random(p)
    cols["AMT_DOWN_PAYMENT"] = s.with_missing("AMT_DOWN_PAYMENT", s.inverse("AMT_DOWN_PAYMENT", rng.random(p)), v_down)
    cols["AMT_GOODS_PRICE"] = s.with_missing("AMT_GOODS_PRICE", application)
    cols["WEEKDAY_APPR_PROCESS_START"] = s.category("WEEKDAY_APPR_PROCESS_START", p)
    cols["HOUR_APPR_PROCESS_START"] = s.inverse("HOUR_APPR_PROCESS_START", rng.random(p))
    cols["FLAG_LAST_APPL_PER_CONTRACT"] = s.category("FLAG_LAST_APPL_PER_CONTRACT", p)
    cols["NFLAG_LAST_APPL_IN_DAY"] = s.inverse("NFLAG_LAST_APPL_IN_DAY", rng.random(p))
    cols["RATE_DOWN_PAYMENT"] = s.with_missing(
        "RATE_DOWN_PAYMENT", s.inverse("RATE_DOWN_PAYMENT", rng.random(p)), v_down
    )
    v_rate = rng.random(p)
    for name in ("RATE_INTEREST_PRIMARY", "RATE_INTEREST_PRIVILEGED"):
        cols[name] = s.with_missing(name, s.inverse(name, rng.random(p)), v_rate)
    return terms, unpriced
