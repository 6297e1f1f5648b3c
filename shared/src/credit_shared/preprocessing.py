"""The fitted ``preprocess`` step of a pipeline, compiled to a few NumPy operations for small scoring batches.

scikit-learn's ``ColumnTransformer`` checks and converts every column on every call: about 11 ms for a single row
of ~600 features, when LightGBM predicts that row with 500 trees in 0.04 ms. Scoring decides batches of a few
rows, so that fixed cost was most of a decision's latency. :func:`compile_preprocess` turns the fitted step into
plain array operations when it is made only of what training builds (``passthrough``, median
``SimpleImputer``, ``StandardScaler``, ``OneHotEncoder`` with unknown levels ignored) and returns None for anything
else, which then goes through scikit-learn as before.

The operations are the ones scikit-learn performs (the imputer's ``statistics_`` where a value is missing,
``(x - mean_) / scale_``, one indicator per level of ``categories_``), so the output is bit-identical; and
:func:`compile_preprocess` proves it on a probe before it is used: each level of each categorical column, a missing
and an unseen level, numbers with missing values. If the two differ, the step is not compiled.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

NumericStep = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class _OneHot:
    """One categorical column's indicators: the level -> position table, and where a missing value goes."""

    column: int  # position among the categorical inputs
    table: dict[Any, int]
    none: int | None  # index of the ``None`` level (missing after ``model_inputs.categorical_block``), if fitted
    width: int


@dataclass(frozen=True)
class CompiledPreprocess:
    """The ``ColumnTransformer``'s output, computed from the numeric and the categorical blocks of the inputs."""

    blocks: tuple[tuple[np.ndarray, NumericStep], ...]  # (positions among the numeric inputs, operation)
    one_hots: tuple[_OneHot, ...]
    width: int

    def transform(self, numbers: np.ndarray, categories: np.ndarray) -> np.ndarray:
        """The transformed rows (float64), columns in the ``ColumnTransformer``'s output order.

        Args:
            numbers: the numeric inputs, ``(rows, numeric columns)`` float64, NaN for missing.
            categories: the categorical inputs, ``(rows, categorical columns)`` object, None for missing.
        """
        rows = len(numbers)
        out = np.zeros((rows, self.width), dtype="float64")
        at = 0
        for positions, operation in self.blocks:
            block = operation(numbers[:, positions])
            out[:, at : at + block.shape[1]] = block
            at += block.shape[1]
        for one_hot in self.one_hots:
            table, none = one_hot.table, one_hot.none
            hits = [
                (row, at + k)
                for row, value in enumerate(categories[:, one_hot.column].tolist())
                if (k := none if value is None else table.get(value)) is not None
            ]
            if hits:
                out[tuple(np.array(hits, dtype="int64").T)] = 1.0
            at += one_hot.width
        return out


def compile_preprocess(
    preprocess: Any, numeric: Sequence[str], categorical: Sequence[str]
) -> CompiledPreprocess | None:
    """The fitted ``ColumnTransformer`` as a :class:`CompiledPreprocess`, or None when it holds anything else.

    Args:
        preprocess: the pipeline's fitted ``preprocess`` step.
        numeric: the model's numeric input columns, in the order of the numeric block given to ``transform``.
        categorical: the categorical input columns, in the order of the categorical block.
    """
    numeric_at = {c: k for k, c in enumerate(numeric)}
    categorical_at = {c: k for k, c in enumerate(categorical)}
    blocks: list[tuple[np.ndarray, NumericStep]] = []
    one_hots: list[_OneHot] = []
    width = 0
    for _, transformer, columns in getattr(preprocess, "transformers_", []):
        names = [str(c) for c in columns] if not isinstance(columns, slice) else None
        if transformer == "drop" or (names is not None and not names):
            continue
        if names is None:
            return None
        if all(c in numeric_at for c in names):
            operation = _numeric_operation(transformer, len(names))
            if operation is None:
                return None
            blocks.append((np.array([numeric_at[c] for c in names], dtype="int64"), operation))
            width += len(names)
        elif all(c in categorical_at for c in names):
            encoded = _one_hots(transformer, [categorical_at[c] for c in names])
            if encoded is None:
                return None
            one_hots.extend(encoded)
            width += sum(e.width for e in encoded)
        else:
            return None
    if not blocks and not one_hots:
        return None
    return CompiledPreprocess(tuple(blocks), tuple(one_hots), width)


def _numeric_operation(transformer: Any, width: int) -> NumericStep | None:
    """``passthrough`` or a ``Pipeline`` of a median/mean ``SimpleImputer`` and a ``StandardScaler``, as arrays."""
    if isinstance(transformer, str):
        return (lambda x: x) if transformer == "passthrough" else None
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    steps = [step for _, step in transformer.steps] if isinstance(transformer, Pipeline) else [transformer]
    operations: list[NumericStep] = []
    for step in steps:
        if (isinstance(step, str) and step == "passthrough") or step is None:
            continue
        if type(step) is FunctionTransformer and step.func is None:  # how a fitted ``passthrough`` is kept
            continue
        if type(step) is SimpleImputer:
            statistics = np.asarray(step.statistics_, dtype="float64")
            missing = step.missing_values
            if step.add_indicator or not (isinstance(missing, float) and math.isnan(missing)):
                return None
            if len(statistics) != width or np.isnan(statistics).any():
                return None  # a dropped empty feature changes the width: scikit-learn's own path handles it
            operations.append(_impute(statistics))
        elif type(step) is StandardScaler:
            operations.append(_scale(step))
        else:
            return None

    def run(x: np.ndarray) -> np.ndarray:
        for operation in operations:
            x = operation(x)
        return x

    return run


def _impute(statistics: np.ndarray) -> NumericStep:
    def impute(x: np.ndarray) -> np.ndarray:
        missing = np.isnan(x)
        if missing.any():
            x = np.where(missing, statistics, x)
        return x

    return impute


def _scale(scaler: Any) -> NumericStep:
    mean = None if scaler.mean_ is None or not scaler.with_mean else np.asarray(scaler.mean_, dtype="float64")
    scale = None if scaler.scale_ is None or not scaler.with_std else np.asarray(scaler.scale_, dtype="float64")

    def standardise(x: np.ndarray) -> np.ndarray:
        x = np.array(x, dtype="float64", copy=True)
        if mean is not None:
            x -= mean
        if scale is not None:
            x /= scale
        return x

    return standardise


def _one_hots(encoder: Any, columns: list[int]) -> list[_OneHot] | None:
    from sklearn.preprocessing import OneHotEncoder

    if type(encoder) is not OneHotEncoder or encoder.handle_unknown != "ignore" or encoder.drop is not None:
        return None
    if getattr(encoder, "_infrequent_enabled", False):
        return None
    out = []
    for column, levels in zip(columns, encoder.categories_, strict=True):
        table: dict[Any, int] = {}
        none = None
        for k, level in enumerate(levels):
            if level is None:
                none = k
            elif not (isinstance(level, float) and math.isnan(level)):  # NaN never matches: inputs carry None
                table[level] = k
        out.append(_OneHot(column, table, none, len(levels)))
    return out


def probe(numeric: Sequence[str], categorical: Sequence[str], preprocess: Any, rows: int = 64) -> pd.DataFrame:
    """Rows that exercise every branch of the step: each fitted level of each categorical column, a missing and an
    unseen one; numbers of every sign and size, a quarter of them missing (seeded)."""
    rng = np.random.default_rng(0)
    levels: dict[str, list[Any]] = {}
    for _, transformer, columns in getattr(preprocess, "transformers_", []):
        for column, fitted in zip(columns, getattr(transformer, "categories_", []), strict=False):
            levels[str(column)] = [*list(fitted), None, "__unseen__"]
    rows = max([rows, *(len(v) for v in levels.values())])
    data: dict[str, Any] = {}
    for column in numeric:
        values = rng.normal(0, 1, rows) * 10.0 ** rng.integers(-3, 6, rows)
        values[rng.random(rows) < 0.25] = np.nan  # a quarter missing
        data[column] = values
    for column in categorical:
        choices = levels.get(column, [None, "__unseen__"])
        data[column] = np.array([choices[k % len(choices)] for k in range(rows)], dtype=object)
    return pd.DataFrame(data)
