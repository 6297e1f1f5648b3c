"""``/v1/performance``: realized performance of every served version (champion and shadow challenger), per vintage
and grade, and its alerts, as monitoring last computed them (read through :mod:`credit_shared.performance_view`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from credit_shared.contracts.performance import (
    Comparison,
    GradePerformance,
    PerformanceAlert,
    PerformanceReport,
    Role,
    VersionPerformance,
    VintagePerformance,
)
from credit_shared.performance_view import read_performance
from gateway_service.deps import Gateway, GatewayDep, Viewer
from gateway_service.problems import responses

router = APIRouter(prefix="/performance", tags=["performance"], responses=responses(401, 403, 422))
Version = Annotated[str | None, Query(description="Only this model version", pattern=r"^[1-9][0-9]{0,8}$")]
Alias = Annotated[Role | None, Query(description="Only the champion (decided) or the challenger (shadow)")]


class PerformanceSummary(BaseModel):
    """Every version's realized figures over all its decisions with an outcome (vintages and grades apart)."""

    computed_at: datetime | None = Field(description="When monitoring computed it (null: not yet)")
    outcomes_received: int
    outcomes_held: int = Field(description="Outcomes whose decision is not recorded yet (joined when it lands)")
    population: str
    versions: list[VersionPerformance]
    comparisons: list[Comparison]
    alerts: list[PerformanceAlert]


async def _report(gateway: Gateway) -> PerformanceReport:
    found = await asyncio.to_thread(read_performance, gateway.engine)
    return found or PerformanceReport(computed_at=datetime.now(UTC), outcomes_received=0, outcomes_held=0)


@router.get(
    "",
    summary="Realized performance per model version",
    description="Decisions, outcomes, observed against expected default rate, realized AUC and business cost per "
    "applicant (with 95 % intervals), calibration by PD decile, for the champion and the challenger shadow-scored "
    "on the same applicants; the figures known before outcomes (mean PD, expected cost, CBPE estimate) beside them.",
)
async def get_performance(gateway: GatewayDep, _: Viewer) -> PerformanceSummary:
    report = await _report(gateway)
    return PerformanceSummary(
        computed_at=report.computed_at if report.versions or report.outcomes_received else None,
        **report.model_dump(include={"outcomes_received", "outcomes_held", "population"}),
        versions=report.versions,
        comparisons=report.comparisons,
        alerts=report.alerts,
    )


@router.get("/vintages", summary="Realized performance per model version and vintage (month of decision)")
async def get_vintages(
    gateway: GatewayDep, _: Viewer, version: Version = None, alias: Alias = None
) -> list[VintagePerformance]:
    rows = (await _report(gateway)).vintages
    return [r for r in rows if (version is None or r.version == version) and (alias is None or r.alias == alias)]


@router.get("/grades", summary="Realized performance per model version and risk grade")
async def get_grades(
    gateway: GatewayDep, _: Viewer, version: Version = None, alias: Alias = None
) -> list[GradePerformance]:
    rows = (await _report(gateway)).grades
    return [r for r in rows if (version is None or r.version == version) and (alias is None or r.alias == alias)]


@router.get("/alerts", summary="What the realized figures say needs doing, with the command")
async def get_alerts(gateway: GatewayDep, _: Viewer) -> list[PerformanceAlert]:
    return (await _report(gateway)).alerts
