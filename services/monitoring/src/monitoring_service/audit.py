"""The database side of monitoring: the features decisions were made on, and the drift report summaries."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, select

from credit_shared.contracts.monitoring import DriftReported
from credit_shared.db import insert_ignore
from credit_shared.db.models import DecisionRecord, DriftReport

log = logging.getLogger(__name__)

CHUNK = 500  # ids per IN (...) query


def fetch_features(engine: Engine, request_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The features of each decision that has them in the audit table, by request id.

    Decisions whose audit row is not written yet, or has no features, are absent from the result.
    """
    ids = list(dict.fromkeys(request_ids))
    found: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            stmt = select(DecisionRecord.request_id, DecisionRecord.features).where(
                DecisionRecord.request_id.in_(chunk)
            )
            for request_id, features in conn.execute(stmt):
                if isinstance(features, dict) and features:
                    found[request_id] = features
    return found


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
