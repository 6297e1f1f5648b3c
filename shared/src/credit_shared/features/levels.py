"""Category levels of the side-table columns the features one-hot encode, and the names of their dummies.

The levels are those of the table schemas (:mod:`credit_shared.homecredit.tables`), the full Kaggle levels, so
the dummy columns (and therefore the feature set) are fixed and do not depend on which levels a given extract
happens to contain. A value outside the levels counts as missing (the
``_nan`` dummy); the raw-data readers reject such values before features are built.
"""

from __future__ import annotations

import re
from typing import Final

from credit_shared.homecredit.schema import Kind
from credit_shared.homecredit.side_tables import BUREAU, BUREAU_BALANCE, CREDIT_CARD, POS_CASH, PREVIOUS
from credit_shared.homecredit.tables import TABLES


def _levels(table: str) -> dict[str, tuple[str, ...]]:
    return {c.name: c.categories for c in TABLES[table].columns if c.kind is Kind.CATEGORY}


BUREAU_LEVELS: Final = _levels(BUREAU)
BUREAU_BALANCE_LEVELS: Final = _levels(BUREAU_BALANCE)
POS_CASH_LEVELS: Final = _levels(POS_CASH)
CREDIT_CARD_LEVELS: Final = _levels(CREDIT_CARD)
PREVIOUS_LEVELS: Final = _levels(PREVIOUS)

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
