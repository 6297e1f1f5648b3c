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

# the integers every JSON reader holds exactly (I-JSON, RFC 7493): no count, flag or day count comes near them
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

    def check(self, value: Any) -> Any:
        """Validate and normalise one value of this column.

        Args:
            value: a JSON-decoded value.

        Returns:
            ``None`` for a missing value (null or NaN), else the value as ``int``, ``float`` or ``str``.

        Raises:
            ValueError: with a message naming the column when the value has the wrong type or level.
        """
        if value is None or (isinstance(value, float) and math.isnan(value)):
            if not self.nullable:
                raise ValueError(f"{self.name} is required")
            return None
        if isinstance(value, bool):
            raise ValueError(f"{self.name} must be {self._expected()}, got a boolean")
        if self.kind is Kind.CATEGORY:
            if not isinstance(value, str):
                raise ValueError(f"{self.name} must be one of its category levels (a string), got {value!r}")
            if value not in self.categories:
                raise ValueError(f"{self.name} has unknown category {value!r}; known: {', '.join(self.categories)}")
            return value
        if not isinstance(value, int | float):
            raise ValueError(f"{self.name} must be {self._expected()}, got {type(value).__name__} {value!r}")
        if math.isinf(value):
            raise ValueError(f"{self.name} must be finite, got {value!r}")
        if self.kind is Kind.INT:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"{self.name} must be an integer, got {value!r}")
            if not INT_MIN <= value <= INT_MAX:  # beyond, JSON readers round it and stores overflow
                raise ValueError(f"{self.name} must be an integer within ±{INT_MAX}, got {value!r}")
            return int(value)
        return float(value)

    def _expected(self) -> str:
        return {Kind.INT: "an integer", Kind.FLOAT: "a number", Kind.CATEGORY: "a string"}[self.kind]


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
