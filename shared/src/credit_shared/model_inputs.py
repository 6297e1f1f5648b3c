"""A model's input rows as the pipeline splits them: a float block of the numeric features and an object block of
the categorical ones, prepared once for predicting and explaining (see :mod:`credit_shared.loaded_model`).

Numeric features map 1:1 to the model's inputs. A categorical column becomes one indicator per level
(``<COLUMN>_<level>``, :func:`one_hot_name`); :func:`source_columns` maps each indicator back to its column.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

_UNSAFE = re.compile(r"[^0-9A-Za-z_-]")


def numeric_block(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """``columns`` of ``frame`` as one float64 array: NumPy number columns in one block, anything else coerced
    (a value that is not a number becomes NaN), as the pipeline's input frame has them."""
    dtypes = frame.dtypes
    plain = all(isinstance(dtypes[c], np.dtype) and dtypes[c].kind in "biuf" for c in columns)
    if plain:
        return frame[list(columns)].to_numpy(dtype="float64")
    return np.column_stack(
        [pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype="float64", na_value=np.nan) for c in columns]
    ) if len(columns) else np.empty((len(frame), 0))  # fmt: skip


def categorical_block(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """``columns`` of ``frame`` as one object array with None for every missing value (NaN, None, ``pd.NA``)."""
    block = frame[list(columns)].to_numpy(dtype=object)
    block[pd.isna(block)] = None
    return block


def one_hot_name(feature: str, category: Any) -> str:
    """Name of a one-hot indicator: ``<feature>_<level>`` with every character but letters, digits, ``_`` and ``-``
    replaced by ``_`` (LightGBM refuses JSON special characters in feature names)."""
    return f"{feature}_{_UNSAFE.sub('_', str(category))}"


def source_columns(preprocess: Any) -> dict[str, str]:
    """Map each output column of the fitted ``preprocess`` ColumnTransformer to the input column it comes from."""
    mapping: dict[str, str] = {}
    for _, transformer, columns in preprocess.transformers_:
        if transformer == "drop" or not len(columns):
            continue
        cols = [str(c) for c in columns]
        outputs = [str(n) for n in transformer.get_feature_names_out(cols)] if transformer != "passthrough" else cols
        by_length = sorted(cols, key=len, reverse=True)
        for out in outputs:
            mapping[out] = out if out in cols else next((c for c in by_length if out.startswith(f"{c}_")), out)
    return mapping


Columns = Mapping[str, np.ndarray]


class InputLayout:
    """A model's input features split as the pipeline splits them: a float block of the numeric ones and an object
    block of the categorical ones, each in the model's order."""

    def __init__(self, feature_names: Sequence[str], numeric: Sequence[str], categorical: Sequence[str]) -> None:
        self.feature_names = list(feature_names)
        self.numeric = list(numeric)
        self.categorical = list(categorical)
        self.index = pd.Index(self.feature_names)
        at_numeric = {c: k for k, c in enumerate(self.numeric)}
        at_categorical = {c: k for k, c in enumerate(self.categorical)}
        self.numeric_positions = np.array([self.feature_names.index(c) for c in self.numeric], dtype="int64")
        self.categorical_positions = np.array([self.feature_names.index(c) for c in self.categorical], dtype="int64")
        self.where = [(True, at_numeric[c]) if c in at_numeric else (False, at_categorical[c]) for c in feature_names]

    def blocks(self, X: pd.DataFrame | Columns) -> tuple[np.ndarray, np.ndarray, pd.Index | None]:  # noqa: N803
        """The numeric block (float64, NaN missing), the categorical block (object, None missing) and the row labels
        of a frame with the input columns, or of columns of equal length by name (an absent one is missing)."""
        if isinstance(X, pd.DataFrame):
            df = X if X.columns.equals(self.index) else X.reindex(columns=self.feature_names)
            return numeric_block(df, self.numeric), categorical_block(df, self.categorical), df.index
        rows = len(next(iter(X.values())))
        missing = np.full(rows, np.nan)
        numbers = np.empty((rows, len(self.numeric)))
        for k, name in enumerate(self.numeric):
            numbers[:, k] = X.get(name, missing)
        categories = np.empty((rows, len(self.categorical)), dtype=object)
        for k, name in enumerate(self.categorical):
            categories[:, k] = X.get(name, missing)
        categories[pd.isna(categories)] = None
        return numbers, categories, None

    def frame(self, numbers: np.ndarray, categories: np.ndarray, index: pd.Index | None = None) -> pd.DataFrame:
        """The blocks as the DataFrame the pipeline takes (columns in the model's order)."""
        parts = [
            pd.DataFrame(numbers, columns=self.numeric, index=index),
            pd.DataFrame(categories, columns=self.categorical, index=index),
        ]
        return pd.concat(parts, axis=1)[self.feature_names]


@dataclass(frozen=True)
class ModelInput:
    """Rows prepared once for both predicting and explaining them: the input blocks (see :class:`InputLayout`) and
    the classifier's input matrix."""

    numbers: np.ndarray
    categories: np.ndarray
    x: np.ndarray
    layout: InputLayout
    index: pd.Index | None = None

    @property
    def frame(self) -> pd.DataFrame:
        """The rows as the pipeline's input frame."""
        return self.layout.frame(self.numbers, self.categories, self.index)

    def take(self, rows: np.ndarray | Sequence[int]) -> ModelInput:
        """The given rows (positions in this input)."""
        picked = np.asarray(rows, dtype="int64")
        index = None if self.index is None else self.index[picked]
        return ModelInput(self.numbers[picked], self.categories[picked], self.x[picked], self.layout, index)

    def value(self, row: int, feature: int) -> float | str | None:
        """Input feature ``feature`` (a position in the model's feature names) of ``row``: a float, a category, or
        None when missing."""
        numeric, k = self.layout.where[feature]
        if numeric:
            number = float(self.numbers[row, k])
            return None if math.isnan(number) else number
        level = self.categories[row, k]
        return None if level is None else str(level)

    def records(self) -> list[dict[str, float | str | None]]:
        """Each row as ``{feature: value}`` in the model's order (None for a missing value), built as one object
        array: about 800 features make a value-by-value conversion a hot spot of every batch."""
        table = np.empty((len(self.numbers), len(self.layout.feature_names)), dtype=object)
        block = self.numbers.astype(object)
        block[np.isnan(self.numbers)] = None
        table[:, self.layout.numeric_positions] = block
        table[:, self.layout.categorical_positions] = self.categories
        names = self.layout.feature_names
        return [dict(zip(names, row, strict=True)) for row in table.tolist()]

    def __len__(self) -> int:
        return len(self.x)
