"""Application-level features: computed from the application row alone, the same way in batch and at request time.

Every operation is element-wise (no statistic over rows), so one row gives exactly the values it gets inside a
300,000-row frame. Output columns, in this order: ``SK_ID_CURR``, every column of the application table (without
``TARGET``) with ``DAYS_EMPLOYED`` cleaned, then the engineered ratios of :data:`ENGINEERED`.

Categorical columns stay categorical (``pandas.CategoricalDtype`` with the full Kaggle levels) instead of the
kernel's one-hot encoding: the model pipeline encodes them (one-hot for linear models, native categories for
gradient boosting), which keeps the feature set small and the encoding a modelling choice. Numbers are float64.
A ratio whose denominator is zero is missing (the kernel gave ``inf``, which most estimators reject).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import pandas as pd

from credit_shared.homecredit.application import APPLICATION, ID
from credit_shared.homecredit.schema import Kind
from credit_shared.homecredit.tables import SENTINEL

RAW_COLUMNS: Final[tuple[str, ...]] = tuple(c.name for c in APPLICATION.columns if c.name != ID)
CATEGORICAL: Final[dict[str, pd.CategoricalDtype]] = {
    c.name: pd.CategoricalDtype(list(c.categories)) for c in APPLICATION.columns if c.kind is Kind.CATEGORY
}
EXT_SOURCES: Final = ("EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3")

# Engineered column -> (numerator, denominator) for the ratios, or a description of the others.
RATIOS: Final[dict[str, tuple[str, str]]] = {
    "DAYS_EMPLOYED_PERC": ("DAYS_EMPLOYED", "DAYS_BIRTH"),
    "INCOME_CREDIT_PERC": ("AMT_INCOME_TOTAL", "AMT_CREDIT"),
    "INCOME_PER_PERSON": ("AMT_INCOME_TOTAL", "CNT_FAM_MEMBERS"),
    "ANNUITY_INCOME_PERC": ("AMT_ANNUITY", "AMT_INCOME_TOTAL"),
    "PAYMENT_RATE": ("AMT_ANNUITY", "AMT_CREDIT"),
    "CREDIT_TO_GOODS": ("AMT_CREDIT", "AMT_GOODS_PRICE"),
}
EXT_SOURCE_STATS: Final = ("EXT_SOURCES_MEAN", "EXT_SOURCES_MIN", "EXT_SOURCES_MAX")
ENGINEERED: Final[tuple[str, ...]] = (*RATIOS, *EXT_SOURCE_STATS)
APPLICATION_COLUMNS: Final[tuple[str, ...]] = (*RAW_COLUMNS, *ENGINEERED)
NUMERIC_COLUMNS: Final[tuple[str, ...]] = tuple(c for c in APPLICATION_COLUMNS if c not in CATEGORICAL)


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Element-wise ``numerator / denominator``, missing where the denominator is zero or missing."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out: np.ndarray = numerator / denominator
    out[denominator == 0] = np.nan
    return out


ApplicationParts = tuple[np.ndarray, dict[str, np.ndarray], dict[str, pd.Categorical]]
Rows = pd.DataFrame | Mapping[str, Any]


def _numbers(df: Rows, column: str, rows: int) -> np.ndarray:
    if column not in df:
        return np.full(rows, np.nan)
    values = df[column]
    if not (isinstance(values, np.ndarray) and values.dtype.kind == "f"):  # floats already (scoring's columns)
        values = pd.to_numeric(values, errors="raise")
    out: np.ndarray = np.array(values, dtype="float64")
    return out


def _categories(df: Rows, column: str, dtype: pd.CategoricalDtype, rows: int) -> pd.Categorical:
    if column not in df:
        return pd.Categorical([None] * rows, dtype=dtype)
    return pd.Categorical(df[column], dtype=dtype)


def application_parts(df: Rows) -> ApplicationParts:
    """The application features as arrays: ids, numeric columns (float64) and categorical columns.

    See :func:`application_features` for the arguments and errors; ``df`` may also be columns by name (1-D arrays
    of equal length), which is how scoring gives a batch of requests. This form lets a batch build place the
    numbers straight into its feature matrix.
    """
    if ID not in df:
        raise KeyError(f"application rows need {ID}")
    ids = np.asarray(pd.to_numeric(df[ID], errors="raise"), dtype="int64")
    rows = len(ids)
    numbers: dict[str, np.ndarray] = {}
    categories: dict[str, pd.Categorical] = {}
    for column in RAW_COLUMNS:
        dtype = CATEGORICAL.get(column)
        if dtype is None:
            numbers[column] = _numbers(df, column, rows)
        else:
            categories[column] = _categories(df, column, dtype, rows)
    employed = numbers["DAYS_EMPLOYED"]
    employed[employed == SENTINEL] = np.nan  # 365243 days = "not employed" (pensioners, unemployed)
    for name, (num, den) in RATIOS.items():
        numbers[name] = ratio(numbers[num], numbers[den])
    scores = np.column_stack([numbers[c] for c in EXT_SOURCES])
    known = ~np.isnan(scores)
    count = known.sum(axis=1)
    total = np.where(known, scores, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore"):
        numbers["EXT_SOURCES_MEAN"] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    numbers["EXT_SOURCES_MIN"] = np.where(count > 0, np.where(known, scores, np.inf).min(axis=1), np.nan)
    numbers["EXT_SOURCES_MAX"] = np.where(count > 0, np.where(known, scores, -np.inf).max(axis=1), np.nan)
    return ids, numbers, categories


def application_features(df: pd.DataFrame) -> pd.DataFrame:
    """Application-level features of each row of an application frame.

    Args:
        df: application rows with ``SK_ID_CURR`` and any subset of the other Kaggle application columns (a missing
            column is treated as missing values; ``TARGET`` and unknown columns are ignored). Category values
            outside the Kaggle levels become missing: validate rows first (the schema rejects them).

    Returns:
        One row per input row, same index, columns ``SK_ID_CURR`` then :data:`APPLICATION_COLUMNS`.

    Raises:
        KeyError: when ``SK_ID_CURR`` is absent.
        ValueError: when a numeric column holds a non-numeric value.
    """
    ids, numbers, categories = application_parts(df)
    data: dict[str, object] = {ID: ids, **numbers, **categories}
    return pd.DataFrame(data, index=df.index, columns=[ID, *APPLICATION_COLUMNS])
