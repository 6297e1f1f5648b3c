"""The features of applications at request time, by name: what scoring decides on and the decisions view rebuilds.

The application-level features come from the shared feature code (:func:`credit_shared.features.application_parts`),
the clients' history features from the online feature table (given as a frame), so a decision's model input can be
computed again, exactly, from the application and the client's history snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from credit_shared.features.application import ApplicationParts
from credit_shared.homecredit.application import APPLICATION, ID

NUMERIC: Final = [spec.name for spec in APPLICATION.columns if spec.kind.value != "category"]
CATEGORIES: Final = {spec.name: list(spec.categories) for spec in APPLICATION.columns if spec.kind.value == "category"}

FeatureBuilder = Callable[[Mapping[str, np.ndarray]], ApplicationParts]


def request_columns(rows: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Validated applications as columns: numbers as float64 (None becomes NaN), categories as objects.

    The numbers are converted as one block: a column at a time costs more than scoring a small batch.
    """
    try:
        numbers = np.array([[row.get(c) for c in NUMERIC] for row in rows], dtype="float64").reshape(len(rows), -1)
    except (TypeError, ValueError):  # not all numbers: convert column by column, naming the one at fault
        numbers = np.column_stack(
            [pd.to_numeric(pd.Series([row.get(c) for row in rows]), errors="raise").astype("float64") for c in NUMERIC]
        )  # fmt: skip
    columns = {c: numbers[:, k] for k, c in enumerate(NUMERIC)}
    for name in CATEGORIES:
        columns[name] = np.array([row.get(name) for row in rows], dtype=object)
    return columns


def serving_features(
    rows: Sequence[Mapping[str, Any]], history: pd.DataFrame, build: FeatureBuilder
) -> dict[str, np.ndarray]:
    """The features of a batch of validated applications by name.

    Args:
        rows: the validated applications (``SK_ID_CURR`` and the schema's columns).
        history: the clients' history features, one row per application in the same order (``SK_ID_CURR`` may be
            a column; it is not a feature), NaN for a client without history.
        build: the shared application-level feature code (``application_parts``).
    """
    _, numbers, categories = build(request_columns(rows))
    past = history.drop(columns=[ID], errors="ignore")
    matrix = past.to_numpy(dtype="float64")
    out: dict[str, np.ndarray] = {str(c): matrix[:, k] for k, c in enumerate(past.columns)}
    out.update(numbers)
    out.update({name: np.asarray(values, dtype=object) for name, values in categories.items()})
    return out
