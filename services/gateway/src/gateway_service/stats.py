"""Distributions as chart data: histograms of numeric columns, counts of categories, correlation spreads."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

MAX_CATEGORIES = 50


class Bin(BaseModel):
    """One histogram bin, ``[left, right)`` (the last one closed)."""

    left: float
    right: float
    count: int


class CategoryCount(BaseModel):
    """How often a category occurs."""

    value: str
    count: int


class Distribution(BaseModel):
    """The distribution of one column, as data for a chart."""

    column: str = Field(description="Column name", examples=["AMT_INCOME_TOTAL"])
    kind: Literal["numeric", "categorical"] = Field(description="How it is summarised")
    count: int = Field(description="Non-missing values")
    missing: int = Field(description="Missing values")
    bins: list[Bin] | None = Field(None, description="Histogram (numeric columns)")
    categories: list[CategoryCount] | None = Field(
        None, description=f"Counts, most frequent first (categorical columns; at most {MAX_CATEGORIES})"
    )
    other: int | None = Field(None, description="Values of the categories not listed")
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    quantiles: dict[str, float] | None = Field(None, description="5, 25, 50, 75 and 95th percentiles")


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def distribution(name: str, series: pd.Series, bins: int = 30) -> Distribution:
    """Summarise one column: a histogram for numbers, counts for anything else.

    Args:
        name: the column name.
        series: its values (missing as NaN or None).
        bins: number of histogram bins.
    """
    missing = int(series.isna().sum())
    values = series.dropna()
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        counts = values.astype(str).value_counts()
        listed = counts.iloc[:MAX_CATEGORIES]
        return Distribution(
            column=name,
            kind="categorical",
            count=int(values.size),
            missing=missing,
            categories=[CategoryCount(value=str(k), count=int(v)) for k, v in listed.items()],
            other=int(counts.iloc[MAX_CATEGORIES:].sum()),
        )
    numbers = values.to_numpy(dtype="float64")
    numbers = numbers[np.isfinite(numbers)]
    if numbers.size == 0:
        return Distribution(column=name, kind="numeric", count=0, missing=missing, bins=[])
    counts_, edges = np.histogram(numbers, bins=bins)
    quantiles = np.percentile(numbers, [5, 25, 50, 75, 95])
    return Distribution(
        column=name,
        kind="numeric",
        count=int(numbers.size),
        missing=missing,
        bins=[Bin(left=float(edges[i]), right=float(edges[i + 1]), count=int(c)) for i, c in enumerate(counts_)],
        mean=_finite(numbers.mean()),
        std=_finite(numbers.std(ddof=1)) if numbers.size > 1 else None,
        min=float(numbers.min()),
        max=float(numbers.max()),
        quantiles={f"p{p}": float(q) for p, q in zip((5, 25, 50, 75, 95), quantiles, strict=True)},
    )


class CorrelationPair(BaseModel):
    """Two columns and their Pearson correlation."""

    a: str
    b: str
    r: float


class CorrelationSpread(BaseModel):
    """How the pairwise Pearson correlations of a table's numeric columns are spread."""

    columns: int = Field(description="Numeric columns compared")
    pairs: int = Field(description="Pairs with a defined correlation")
    rows: int = Field(description="Rows used (a sample of large tables)")
    bins: list[Bin] = Field(description="Histogram of |r| over [0, 1]")
    top: list[CorrelationPair] = Field(description="The most correlated pairs, strongest first")


def correlation_spread(frame: pd.DataFrame, *, bins: int = 20, top: int = 20) -> CorrelationSpread:
    """The distribution of the absolute pairwise Pearson correlations of the numeric columns of ``frame``."""
    numeric = frame.select_dtypes(include="number")
    numeric = numeric.loc[:, numeric.nunique(dropna=True) > 1]
    matrix = numeric.corr().to_numpy() if numeric.shape[1] > 1 else np.zeros((numeric.shape[1],) * 2)
    upper = np.triu_indices(matrix.shape[0], k=1)
    values = matrix[upper]
    defined = np.isfinite(values)
    absolute = np.abs(values[defined])
    counts, edges = np.histogram(absolute, bins=bins, range=(0.0, 1.0))
    order = np.argsort(-absolute)[:top]
    rows_i, cols_i = upper[0][defined], upper[1][defined]
    names = list(numeric.columns)
    return CorrelationSpread(
        columns=len(names),
        pairs=int(absolute.size),
        rows=len(frame),
        bins=[Bin(left=float(edges[i]), right=float(edges[i + 1]), count=int(c)) for i, c in enumerate(counts)],
        top=[CorrelationPair(a=names[rows_i[k]], b=names[cols_i[k]], r=float(values[defined][k])) for k in order],
    )
