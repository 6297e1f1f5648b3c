"""The performance view: where monitoring stores its latest realized-performance report, and the one reader of it.

Monitoring owns the outcome and performance tables; the gateway (and anyone else) reads the report only through
:func:`read_performance`, which returns the contract (:class:`~credit_shared.contracts.performance.PerformanceReport`),
never a table of monitoring's own.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Engine, delete, insert, select

from credit_shared.contracts.performance import PerformanceReport
from credit_shared.db.models import PerformanceSnapshot

LATEST: Final = "latest"


def write_performance(engine: Engine, report: PerformanceReport) -> None:
    """Replace the stored report with ``report`` (monitoring only)."""
    row = {"report_id": LATEST, "computed_at": report.computed_at, "report": report.model_dump(mode="json")}
    with engine.begin() as conn:
        conn.execute(delete(PerformanceSnapshot).where(PerformanceSnapshot.report_id == LATEST))
        conn.execute(insert(PerformanceSnapshot).values(**row))


def read_performance(engine: Engine) -> PerformanceReport | None:
    """The latest realized-performance report, or None before monitoring computed one."""
    with engine.connect() as conn:
        found = conn.execute(
            select(PerformanceSnapshot.report).where(PerformanceSnapshot.report_id == LATEST)
        ).scalar_one_or_none()
    return None if found is None else PerformanceReport.model_validate(found)
