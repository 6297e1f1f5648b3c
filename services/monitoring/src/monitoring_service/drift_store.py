"""The database side of monitoring: the features decisions were made on, and the drift report summaries."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine

from credit_shared.contracts.monitoring import DriftReported
from credit_shared.db import insert_ignore
from credit_shared.db.models import DriftReport
from credit_shared.decisions_view import read_model_inputs

log = logging.getLogger(__name__)


def fetch_features(engine: Engine, request_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The features of each decision that has them in the audit table, by request id.

    Decisions whose audit row is not written yet, or whose model input cannot be rebuilt exactly, are absent from the
    result (read through the decisions view, the audit's one reader: :mod:`credit_shared.decisions_view`).
    """
    return read_model_inputs(engine, request_ids)


def save_report(engine: Engine, report: DriftReported, summary: dict[str, Any]) -> bool:
    """Insert the summary row of a report (idempotent by report id); True when it was new."""
    row = {
        "report_id": report.report_id,
        "kind": report.kind,
        "model_version": report.model_version,
        "dataset_id": report.dataset_id,
        "window_start": report.window_start,
        "window_end": report.window_end,
        "rows": report.rows,
        "columns": report.columns,
        "drifted": report.drifted,
        "severity": report.severity,
        "summary": summary,
    }
    return insert_ignore(engine, DriftReport, [row], keys=["report_id"]) == 1
