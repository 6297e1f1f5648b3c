"""The one module that speaks Evidently 0.7: a ``DataDriftPreset`` report turned into the project's own types.

Each column is compared with the method and threshold the reference profile chose for it (Evidently's default
choice unless one is configured per column type), passed to Evidently explicitly, so the report and the fast
per-window check in :mod:`monitoring_service.profile` use the same rules. Per-column results are read from the
``ValueDrift`` metrics by metric type and column name, never by position.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pandas as pd

from monitoring_service.domain import ColumnDrift, DriftResult, is_drifted
from monitoring_service.profile import ReferenceProfile

log = logging.getLogger(__name__)

VALUE_DRIFT: Final = "evidently:metric_v2:ValueDrift"


@dataclass(frozen=True)
class EvidentlyReport:
    """A computed Evidently report: our verdicts plus the snapshot that renders the HTML."""

    result: DriftResult
    snapshot: Any

    def save_html(self, path: Path) -> int:
        """Write the interactive HTML report; returns its size in bytes."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.snapshot.save_html(str(path))
        return path.stat().st_size


def _prepared(frame: pd.DataFrame, numerical: list[str], categorical: list[str]) -> pd.DataFrame:
    data = {c: pd.to_numeric(frame[c], errors="coerce").astype("float64") for c in numerical}
    data.update({c: frame[c].astype("object").where(frame[c].notna(), None) for c in categorical})
    return pd.DataFrame(data, index=frame.index).reset_index(drop=True)


def run_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    profile: ReferenceProfile,
    columns: list[str] | None = None,
) -> EvidentlyReport:
    """Run Evidently's ``DataDriftPreset`` on ``current`` against ``reference``.

    Args:
        reference: the reference sample (the rows the profile was built from).
        current: the rows to compare.
        profile: the reference profile, which fixes each column's type, method and threshold.
        columns: the columns to compare (default every profile column). A column without any value in either
            sample is not given to Evidently (it cannot compare it) and gets no score and no drift.

    Returns:
        The verdicts in the profile's column order and the Evidently snapshot.

    Raises:
        ValueError: when a requested column is not in the profile.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    index = {c: j for j, c in enumerate(profile.columns)}
    wanted = columns if columns is not None else profile.columns
    unknown = [c for c in wanted if c not in index]
    if unknown:
        raise ValueError(f"columns not in the model's reference: {unknown[:10]}")
    current = current.reindex(columns=wanted)
    comparable = [c for c in wanted if reference[c].notna().any() and current[c].notna().any()]
    numerical = [c for c in comparable if profile.kinds[index[c]] == "numerical"]
    categorical = [c for c in comparable if profile.kinds[index[c]] == "categorical"]
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    preset = DataDriftPreset(
        columns=comparable,
        per_column_method={c: profile.methods[index[c]] for c in comparable},
        per_column_threshold={c: profile.thresholds[index[c]] for c in comparable},
    )
    log.info(
        "evidently report: %d columns, %d reference rows, %d current rows",
        len(comparable),
        len(reference),
        len(current),
    )
    snapshot = Report([preset]).run(
        reference_data=Dataset.from_pandas(_prepared(reference, numerical, categorical), data_definition=definition),
        current_data=Dataset.from_pandas(_prepared(current, numerical, categorical), data_definition=definition),
    )
    found: dict[str, tuple[str, float, float]] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if config.get("type") == VALUE_DRIFT:
            found[config["column"]] = (str(config["method"]), float(config["threshold"]), float(metric["value"]))
    verdicts = []
    for column in wanted:
        j = index[column]
        method, threshold, score = found.get(column, (profile.methods[j], profile.thresholds[j], None))
        value = score if score is not None and math.isfinite(score) else None
        verdicts.append(
            ColumnDrift(column, profile.kinds[j], method, threshold, value, is_drifted(method, value, threshold))
        )
    return EvidentlyReport(DriftResult(tuple(verdicts), rows=len(current), reference_rows=len(reference)), snapshot)
