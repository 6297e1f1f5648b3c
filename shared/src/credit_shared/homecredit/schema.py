"""Column specifications of the Home Credit tables: the one definition validation uses everywhere.

A column is an integer, a float or a category (with its full set of Kaggle levels). The application table
(``application_test``'s 121 columns; ``application_train`` adds ``TARGET``) is defined in
:mod:`credit_shared.homecredit.application`; the side tables next to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

# The integers every store (SQLite INTEGER, PostgreSQL BIGINT, int64 and float64 arrays) and every JSON reader
# (I-JSON, RFC 7493) hold exactly: no count, flag, day count or identifier comes near them.
INT_MAX: Final = 2**53 - 1
INT_MIN: Final = -INT_MAX


class Kind(StrEnum):
    """Logical type of a column."""

    INT = "int"
    FLOAT = "float"
    CATEGORY = "category"


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column: its Kaggle name, logical type, whether it may be missing, and its category levels."""

    name: str
    kind: Kind
    nullable: bool = True
    categories: tuple[str, ...] = ()
    levels: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", frozenset(self.categories))

    def check(self, value: Any) -> Any:
        """Validate and normalise one value of this column.

        Args:
            value: a JSON-decoded value.

        Returns:
            ``None`` for a missing value (null or NaN), else the value as ``int``, ``float`` or ``str``.

        Raises:
            ValueError: with a message naming the column when the value has the wrong type or level.
        """
        # the common cases first, exactly as the full checks below would decide them (every application of the stream
        # passes here about 120 times)
        kind, kind_of = self.kind, type(value)
        if kind_of is float and kind is Kind.FLOAT and value - value == 0.0:  # finite: inf - inf and NaN give NaN
            return value
        if kind_of is int and kind is Kind.INT and INT_MIN <= value <= INT_MAX:
            return value
        if kind_of is str and kind is Kind.CATEGORY and value in self.levels:
            return value
        if value is None and self.nullable:
            return None
        return self._check(value)

    def _check(self, value: Any) -> Any:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            if not self.nullable:
                raise ValueError(f"{self.name} is required")
            return None
        if isinstance(value, bool):
            raise ValueError(f"{self.name} must be {self._expected()}, got a boolean")
        if self.kind is Kind.CATEGORY:
            if not isinstance(value, str):
                raise ValueError(f"{self.name} must be one of its category levels (a string), got {_short(value)}")
            if value not in self.categories:
                known = ", ".join(self.categories)
                raise ValueError(f"{self.name} has unknown category {_short(value)}; known: {known}")
            return value
        if not isinstance(value, int | float):
            raise ValueError(f"{self.name} must be {self._expected()}, got {type(value).__name__} {_short(value)}")
        if isinstance(value, float) and math.isinf(value):
            raise ValueError(f"{self.name} must be finite, got {value!r}")
        if self.kind is Kind.INT:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"{self.name} must be an integer, got {value!r}")
            number = int(value)
            if not INT_MIN <= number <= INT_MAX:  # beyond, JSON readers round it and float features lose it
                raise ValueError(f"{self.name} must be an integer within ±{INT_MAX}, got {_short(number)}")
            return number
        try:
            return float(value)
        except OverflowError:  # an integer literal beyond any float: never a value to store
            raise ValueError(f"{self.name} must be a finite number, got {_short(value)}") from None

    def _expected(self) -> str:
        return {Kind.INT: "an integer", Kind.FLOAT: "a number", Kind.CATEGORY: "a string"}[self.kind]


def _short(value: Any) -> str:
    """A value as an error message shows it: an integer of hundreds of digits by its size (printing it is slow, and
    beyond 4,300 digits Python refuses), anything else by its repr cut to 80 characters."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


@dataclass(frozen=True, slots=True)
class TableSpec:
    """One table: its name, primary key columns and column specifications in file order."""

    name: str
    key: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]
    by_name: dict[str, ColumnSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {c.name: c for c in self.columns})

    @property
    def names(self) -> list[str]:
        """Column names in file order."""
        return [c.name for c in self.columns]


def int_col(name: str, *, nullable: bool = True) -> ColumnSpec:
    """An integer column."""
    return ColumnSpec(name, Kind.INT, nullable)


def float_col(name: str, *, nullable: bool = True) -> ColumnSpec:
    """A float column."""
    return ColumnSpec(name, Kind.FLOAT, nullable)


def cat_col(name: str, levels: tuple[str, ...], *, nullable: bool = True) -> ColumnSpec:
    """A categorical column with its full set of levels."""
    return ColumnSpec(name, Kind.CATEGORY, nullable, levels)
