"""Synthetic monthly balances and payments of the loans granted in ``previous_application``.

Approved cash and consumer loans get one ``POS_CASH_balance`` row per month from the decision until they end or
the history stops (96 months), and one ``installments_payments`` row per due date passed (split payments add a
second row for the same instalment, as in the real data). The applicant's credit card (an approved revolving
previous application) gets monthly ``credit_card_balance`` rows and its own payment rows (version 0). Lateness
raises days past due and late or partial payments.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from credit_local.synthetic.history import MONTH, _chance, _code, _expand
from credit_local.synthetic.profile import Sampler
from credit_shared.homecredit.side_tables import CREDIT_CARD, INSTALMENTS, POS_CASH, PREVIOUS
from credit_shared.homecredit.tables import SENTINEL

Array = np.ndarray[Any, Any]
Columns = dict[str, Array]

HISTORY_MONTHS: Final = 96
SPLIT_SHARE: Final = 0.1


def _elapsed(decision: Array) -> Array:
    return np.maximum(np.floor(-decision / MONTH), 1).astype(np.int64)


def pos_and_instalments(rng: np.random.Generator, prev: Columns, late: Array) -> tuple[Columns, Columns]:
    """``POS_CASH_balance`` and the loans' ``installments_payments`` rows (``late``: per previous application)."""
    approved = prev["NAME_CONTRACT_STATUS"] == _code(PREVIOUS, "NAME_CONTRACT_STATUS", "Approved")
    instalment_loan = np.isin(
        prev["NAME_CONTRACT_TYPE"],
        [_code(PREVIOUS, "NAME_CONTRACT_TYPE", "Cash loans"), _code(PREVIOUS, "NAME_CONTRACT_TYPE", "Consumer loans")],
    )
    loans = np.flatnonzero(approved & instalment_loan & (prev["DAYS_FIRST_DUE"] != SENTINEL))
    terms = np.nan_to_num(prev["CNT_PAYMENT"][loans], nan=12).astype(np.int64)
    elapsed = _elapsed(prev["DAYS_DECISION"][loans])
    after = rng.poisson(1.2, loans.size)  # months reported after the last instalment
    months = np.minimum(np.minimum(terms + 1 + after, elapsed), HISTORY_MONTHS)
    owner, k = _expand(months)
    r = owner.size
    lat = late[loans][owner]
    s = Sampler(POS_CASH, rng)
    term = terms[owner].astype(float)
    future = np.maximum(term - k, 0)
    status = np.full(r, _code(POS_CASH, "NAME_CONTRACT_STATUS", "Active"), dtype=np.int16)
    status[future == 0] = _code(POS_CASH, "NAME_CONTRACT_STATUS", "Completed")
    status[(k == 0) & (rng.random(r) < 0.04)] = _code(POS_CASH, "NAME_CONTRACT_STATUS", "Signed")
    bad = _chance(rng, 0.03, late[loans], 1.1)
    start = rng.integers(0, np.maximum(months, 1))
    overdue = bad[owner] & (k >= start[owner])
    dpd = np.where(overdue, (k - start[owner]) * 30 + rng.integers(1, 30, r), 0)
    status[overdue & (dpd > 90) & (rng.random(r) < 0.1)] = _code(POS_CASH, "NAME_CONTRACT_STATUS", "Demand")
    v = rng.random(r)
    pos: Columns = {
        "SK_ID_PREV": prev["SK_ID_PREV"][loans][owner],
        "SK_ID_CURR": prev["SK_ID_CURR"][loans][owner],
        "MONTHS_BALANCE": -elapsed[owner] + k,
        "CNT_INSTALMENT": s.with_missing("CNT_INSTALMENT", term, v),
        "CNT_INSTALMENT_FUTURE": s.with_missing("CNT_INSTALMENT_FUTURE", future, v),
        "NAME_CONTRACT_STATUS": status,
        "SK_DPD": dpd,
        "SK_DPD_DEF": np.where(dpd > 0, np.where(rng.random(r) < 0.3 * np.clip(lat + 1, 0, 3), dpd, 0), 0),
    }
    paid = np.minimum(months - 1, terms)
    due = prev["DAYS_FIRST_DUE"][loans]
    instalments = _payments(rng, prev, loans, paid=paid, first_due=due, late=late[loans], version=1.0)
    return pos, instalments


def _payments(
    rng: np.random.Generator, prev: Columns, loans: Array, *, paid: Array, first_due: Array, late: Array, version: float
) -> Columns:
    owner, k = _expand(np.maximum(paid, 0))
    r = owner.size
    s = Sampler(INSTALMENTS, rng)
    due = np.minimum(np.round(first_due[owner] + MONTH * k), -1)
    lat = late[owner]
    is_late = _chance(rng, 0.05, lat, 1.1)
    delay = np.where(
        is_late, np.round(rng.exponential(12 * np.exp(0.4 * np.clip(lat, -2, 3)))) + 1, -rng.integers(0, 25, r)
    )
    entry = np.minimum(due + delay, -1)
    annuity = prev["AMT_ANNUITY"][loans]
    amount = np.where(np.isnan(annuity[owner]), s.inverse("AMT_INSTALMENT", rng.random(r)), np.round(annuity[owner], 3))
    short = _chance(rng, 0.03, lat, 1.0, 0.5)
    payment = np.where(short, np.round(amount * rng.uniform(0.1, 0.95, r), 3), amount)
    versions = np.where((version > 0) & (rng.random(r) < 0.05), 2.0, version)
    cols: Columns = {
        "SK_ID_PREV": prev["SK_ID_PREV"][loans][owner],
        "SK_ID_CURR": prev["SK_ID_CURR"][loans][owner],
        "NUM_INSTALMENT_VERSION": versions,
        "NUM_INSTALMENT_NUMBER": k + 1,
        "DAYS_INSTALMENT": due,
        "DAYS_ENTRY_PAYMENT": entry,
        "AMT_INSTALMENT": amount,
        "AMT_PAYMENT": payment,
    }
    split = np.flatnonzero(rng.random(r) < SPLIT_SHARE)
    if split.size:
        first_part = np.round(cols["AMT_PAYMENT"][split] * rng.uniform(0.2, 0.8, split.size), 3)
        second = {name: values[split].copy() for name, values in cols.items()}
        second["AMT_PAYMENT"] = np.round(cols["AMT_PAYMENT"][split] - first_part, 3)
        second["DAYS_ENTRY_PAYMENT"] = np.minimum(
            cols["DAYS_ENTRY_PAYMENT"][split] + rng.integers(1, 20, split.size), -1
        )
        cols["AMT_PAYMENT"][split] = first_part
        cols = {name: np.concatenate([values, second[name]]) for name, values in cols.items()}
    return cols


def credit_cards(rng: np.random.Generator, prev: Columns, card: Array, late: Array) -> tuple[Columns, Columns]:
    """``credit_card_balance`` rows of the applicants' cards and the cards' payment rows."""
    cards = np.flatnonzero(card)
    elapsed = _elapsed(prev["DAYS_DECISION"][cards])
    months = np.minimum(elapsed, HISTORY_MONTHS)
    owner, k = _expand(months)
    r = owner.size
    n = cards.size
    s = Sampler(CREDIT_CARD, rng)
    lat_card = late[cards]
    limit = np.round(s.inverse("AMT_CREDIT_LIMIT_ACTUAL", rng.random(n)) / 4500) * 4500
    use = np.clip(rng.beta(0.6, 1.2, n) * np.exp(0.3 * lat_card), 0, 1.05)
    balance = np.round(limit[owner] * np.clip(use[owner] + 0.08 * rng.standard_normal(r), 0, 1.1), 3)
    drawing = np.where(rng.random(r) < 0.3, np.round(limit[owner] * rng.uniform(0, 0.2, r), 2), 0.0)
    atm_share = np.where(rng.random(r) < 0.5, 1.0, 0.0)
    minimum = np.round(balance * 0.05, 3)
    bad = _chance(rng, 0.04, lat_card, 1.1)
    start = rng.integers(0, np.maximum(months, 1))
    overdue = bad[owner] & (k >= start[owner])
    dpd = np.where(overdue, (k - start[owner]) * 30 + rng.integers(1, 30, r), 0)
    payment = np.where(overdue, 0.0, np.round(np.maximum(minimum, balance * rng.uniform(0, 0.3, r)), 3))
    v_draw = rng.random(r)
    v_regular = rng.random(r)
    atm_count = np.where(drawing * atm_share > 0, rng.integers(1, 4, r), 0).astype(float)
    pos_count = np.where(drawing * (1 - atm_share) > 0, rng.integers(1, 6, r), 0).astype(float)
    completed = (k == months[owner] - 1) & (rng.random(r) < 0.15)
    status = np.where(completed, _code(CREDIT_CARD, "NAME_CONTRACT_STATUS", "Completed"), 0).astype(np.int16)
    cols: Columns = {
        "SK_ID_PREV": prev["SK_ID_PREV"][cards][owner],
        "SK_ID_CURR": prev["SK_ID_CURR"][cards][owner],
        "MONTHS_BALANCE": -1 - k,
        "AMT_BALANCE": balance,
        "AMT_CREDIT_LIMIT_ACTUAL": limit[owner],
        "AMT_DRAWINGS_ATM_CURRENT": s.with_missing("AMT_DRAWINGS_ATM_CURRENT", drawing * atm_share, v_draw),
        "AMT_DRAWINGS_CURRENT": drawing,
        "AMT_DRAWINGS_OTHER_CURRENT": s.with_missing("AMT_DRAWINGS_OTHER_CURRENT", np.zeros(r), v_draw),
        "AMT_DRAWINGS_POS_CURRENT": s.with_missing("AMT_DRAWINGS_POS_CURRENT", drawing * (1 - atm_share), v_draw),
        "AMT_INST_MIN_REGULARITY": s.with_missing("AMT_INST_MIN_REGULARITY", minimum, v_regular),
        "AMT_PAYMENT_CURRENT": s.with_missing("AMT_PAYMENT_CURRENT", payment),
        "AMT_PAYMENT_TOTAL_CURRENT": payment,
        "AMT_RECEIVABLE_PRINCIPAL": np.round(balance * 0.95, 3),
        "AMT_RECIVABLE": balance,
        "AMT_TOTAL_RECEIVABLE": balance,
        "CNT_DRAWINGS_ATM_CURRENT": s.with_missing("CNT_DRAWINGS_ATM_CURRENT", atm_count, v_draw),
        "CNT_DRAWINGS_CURRENT": atm_count + pos_count,
        "CNT_DRAWINGS_OTHER_CURRENT": s.with_missing("CNT_DRAWINGS_OTHER_CURRENT", np.zeros(r), v_draw),
        "CNT_DRAWINGS_POS_CURRENT": s.with_missing("CNT_DRAWINGS_POS_CURRENT", pos_count, v_draw),
        "CNT_INSTALMENT_MATURE_CUM": s.with_missing(
            "CNT_INSTALMENT_MATURE_CUM", (months[owner] - 1 - k).astype(float), v_regular
        ),
        "NAME_CONTRACT_STATUS": status,
        "SK_DPD": dpd,
        "SK_DPD_DEF": np.where((dpd > 0) & (rng.random(r) < 0.2), np.minimum(dpd, 30), 0),
    }
    paid = np.maximum(months - 1, 0)
    first_due = np.minimum(prev["DAYS_DECISION"][cards] + 30, -1).astype(float)
    return cols, _payments(rng, prev, cards, paid=paid, first_due=first_due, late=lat_card, version=0.0)
