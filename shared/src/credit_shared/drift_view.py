"""The drift-report view: the one reader of monitoring's stored drift reports for everyone else.

Monitoring owns the ``drift_reports`` table (it writes one row per report; the HTML and the full JSON are files under
the platform's home). The gateway lists and opens reports only through :func:`list_drift_reports` and
:func:`find_drift_report`, which return :class:`StoredDriftReport` values, never rows of monitoring's own table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, select

from credit_shared.db import as_utc, make_sessionmaker
from credit_shared.db.models import DriftReport


class DriftReportFacts(BaseModel):
    """What a stored drift report compared and its verdict (times in UTC); the gateway lists reports with these."""

    model_config = ConfigDict(frozen=True)

    report_id: str = Field(examples=["w-3-20261124T1000-1a2b"])
    kind: str = Field(examples=["window"])  # window, on_demand
    model_version: str | None = Field(examples=["3"])
    dataset_id: str | None
    window_start: datetime | None
    window_end: datetime | None
    rows: int
    columns: int
    drifted: int
    severity: str = Field(examples=["orange"])  # green, orange, red
    created_at: datetime


class StoredDriftReport(DriftReportFacts):
    """One stored drift report: its facts and its JSON summary."""

    summary: dict[str, Any]


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)


def _stored(row: DriftReport) -> StoredDriftReport:
    return StoredDriftReport(
        report_id=row.report_id, kind=row.kind, model_version=row.model_version, dataset_id=row.dataset_id,
        window_start=_utc(row.window_start), window_end=_utc(row.window_end), rows=row.rows, columns=row.columns,
        drifted=row.drifted, severity=row.severity, summary=dict(row.summary or {}), created_at=as_utc(row.created_at),
    )  # fmt: skip


def find_drift_report(engine: Engine, report_id: str) -> StoredDriftReport | None:
    """The report ``report_id``, or None when there is none."""
    with make_sessionmaker(engine)() as session:
        row = session.get(DriftReport, report_id)
        return None if row is None else _stored(row)


def list_drift_reports(
    engine: Engine, *, limit: int, severities: tuple[str, ...] | None = None, kind: str | None = None
) -> list[StoredDriftReport]:
    """The newest ``limit`` reports, newest first, of the given severities and kind (all when None)."""
    query = select(DriftReport).order_by(DriftReport.created_at.desc()).limit(limit)
    if severities:
        query = query.where(DriftReport.severity.in_(severities))
    if kind:
        query = query.where(DriftReport.kind == kind)
    with make_sessionmaker(engine)() as session:
        return [_stored(r) for r in session.scalars(query)]
