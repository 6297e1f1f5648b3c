"""The whole feature set of a batch of applications: application features joined with history aggregates."""

from __future__ import annotations

import logging
from typing import Unpack

import pandas as pd

from credit_shared.features import FEATURE_COLUMNS
from credit_shared.features.application import APPLICATION_COLUMNS, NUMERIC_COLUMNS, application_parts
from credit_shared.features.history import FeatureMatrix, HistoryOptions, fill_history
from credit_shared.features.sources import Source
from credit_shared.features.spec import HISTORY_COLUMNS
from credit_shared.homecredit.application import ID, TARGET

log = logging.getLogger(__name__)


def build_features(applications: pd.DataFrame, source: Source, **options: Unpack[HistoryOptions]) -> pd.DataFrame:
    """Every feature of every application: one row per application row, in the same order.

    Args:
        applications: application rows (``application_train`` and/or ``application_test`` columns).
        source: where the side tables are (see :func:`~credit_shared.features.history.history_features`).
        **options: how the history aggregation runs (DuckDB memory limit, threads, spill folder, progress), as
            :func:`~credit_shared.features.history.history_features`; ``progress(stage, share_done)`` is called after
            each stage (``application`` comes last).

    Returns:
        ``SK_ID_CURR``, then :data:`FEATURE_COLUMNS`, then ``TARGET`` when the input has it. The index is a
        fresh ``RangeIndex``. A client without history has NaN history features.

    Raises:
        ValueError: when ``SK_ID_CURR`` is duplicated.
    """
    duplicated = applications[ID].duplicated()
    if duplicated.any():
        first = applications.loc[duplicated, ID].iloc[0]
        raise ValueError(f"application rows: {ID} {first} appears more than once")
    ids, numbers, categories = application_parts(applications)
    # One float matrix for every numeric feature: the frame's single float block, never copied.
    matrix = FeatureMatrix(ids, [*NUMERIC_COLUMNS, *HISTORY_COLUMNS])
    matrix.add(ids, numbers)
    del numbers
    fill_history(matrix, source, **options)
    out = matrix.frame()
    for column, values in categories.items():  # in column order, so each lands at its final position
        out.insert(1 + APPLICATION_COLUMNS.index(column), column, pd.Series(values, copy=False))
    if TARGET in applications.columns:
        out[TARGET] = applications[TARGET].to_numpy()
    if (progress := options.get("progress")) is not None:
        progress("application", 1.0)
    log.info("features: %d applications x %d columns", len(out), len(FEATURE_COLUMNS))
    return out
