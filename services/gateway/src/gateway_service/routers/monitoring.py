"""``/v1/monitoring``: drift reports (request on demand, list, JSON summary, HTML) and alerts."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Annotated, Any, Final

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import HTMLResponse
from pydantic import create_model

from credit_shared.contracts import monitoring as contract
from credit_shared.drift_view import DriftReportFacts, StoredDriftReport, find_drift_report, list_drift_reports
from credit_shared.topics import MONITORING_COMMANDS
from gateway_service.deps import Gateway, GatewayDep, LimitedAnalyst, Viewer
from gateway_service.job_start import build_command, new_job_id, start_job
from gateway_service.jobs import JobView
from gateway_service.problems import ProblemError, not_found, responses
from gateway_service.routers.datasets import dataset_manifest
from gateway_service.routers.registry import find_version, read_registry

router = APIRouter(prefix="/monitoring", tags=["monitoring"], responses=responses(401, 403, 422))

REPORT_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ReportId = Annotated[str, Path(description="Report id", pattern=REPORT_ID.pattern)]
Severity = contract.Severity

if TYPE_CHECKING:
    DriftRequest = contract.RequestDriftReport
else:
    DriftRequest = create_model(
        "DriftReportRequest",
        __doc__="What to compare: a dataset part (or one column of it) with a model version's training reference.",
        **{n: (f.annotation, f) for n, f in contract.RequestDriftReport.model_fields.items() if n != "request_id"},
    )


class ReportSummary(DriftReportFacts):
    """A drift report in a list."""

    url: str
    html_url: str


class ReportDetail(ReportSummary):
    """A drift report with its full JSON summary (every column's verdict, prediction drift)."""

    summary: dict[str, Any]


def _summary(row: StoredDriftReport) -> ReportSummary:
    url = f"/v1/monitoring/reports/{row.report_id}"
    return ReportSummary(**row.model_dump(exclude={"summary"}), url=url, html_url=f"{url}/html")


def _find(gateway: Gateway, report_id: str) -> StoredDriftReport:
    row = find_drift_report(gateway.engine, report_id)
    if row is None:
        raise not_found(f"drift report {report_id!r} does not exist")
    return row


def _list(gateway: Gateway, *, limit: int, severities: tuple[str, ...] | None, kind: str | None) -> list[ReportSummary]:
    return [_summary(r) for r in list_drift_reports(gateway.engine, limit=limit, severities=severities, kind=kind)]


async def check_drift_request(gateway: Gateway, body: contract.RequestDriftReport) -> None:
    """Refuse, before any job starts, a report naming a model, version, alias, dataset or column that does not
    exist (404), or a dataset part without rows (409)."""
    registry = await read_registry(gateway)
    name = body.model_name or gateway.settings.mlflow.model_name
    if name != registry.name:
        raise not_found(f"model {name!r} is not registered; the registry holds {registry.name!r}")
    if body.model_version is None and body.alias not in registry.aliases:
        raise not_found(f"no version of {name!r} is {body.alias!r}; name a version or another alias")
    version = find_version(registry, body.model_version or registry.aliases[body.alias])
    dataset_id = body.dataset_id or version.dataset_id
    if dataset_id is None:
        return  # a version registered without its dataset: the monitoring service says what it can compare
    manifest = await asyncio.to_thread(dataset_manifest, gateway, dataset_id)
    if manifest.sizes.get(body.part) == 0:
        raise ProblemError(409, f"the {body.part} part of dataset {dataset_id!r} has no rows")
    if body.column is not None and body.column not in {f.name for f in manifest.features}:
        raise not_found(f"dataset {dataset_id!r} has no feature column {body.column!r}")


@router.post(
    "/reports",
    status_code=202,
    summary="Request a drift report (asynchronous)",
    description="The model, version or alias, dataset and column are checked first: 404 when one does not exist, "
    "409 when the part has no rows; then the job compares the part with the version's training reference.",
    responses=responses(404, 409, 429, 503),
)
async def request_report(
    gateway: GatewayDep, principal: LimitedAnalyst, body: DriftRequest, response: Response
) -> JobView:
    await check_drift_request(gateway, body)
    job_id = new_job_id()
    command = build_command(contract.RequestDriftReport, request_id=job_id, **body.model_dump())
    return await start_job(
        gateway,
        response,
        kind=contract.REPORT,
        topic=MONITORING_COMMANDS,
        command=command,
        principal=principal,
        job_id=job_id,
    )


@router.get("/reports", summary="Drift reports, newest first")
def list_reports(
    gateway: GatewayDep,
    _: Viewer,
    severity: Annotated[Severity | None, Query(description="Only this severity")] = None,
    kind: Annotated[contract.ReportKind | None, Query(description="window or on_demand")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ReportSummary]:
    return _list(gateway, limit=limit, severities=(severity,) if severity else None, kind=kind)


@router.get("/reports/{report_id}", summary="One drift report as JSON", responses=responses(404))
def get_report(gateway: GatewayDep, _: Viewer, report_id: ReportId) -> ReportDetail:
    row = _find(gateway, report_id)
    return ReportDetail(**_summary(row).model_dump(), summary=row.summary)


@router.get(
    "/reports/{report_id}/html",
    summary="One drift report as Evidently HTML",
    response_class=HTMLResponse,
    responses={**responses(404), 200: {"content": {"text/html": {}}, "description": "The HTML report"}},
)
def get_report_html(gateway: GatewayDep, _: Viewer, report_id: ReportId) -> HTMLResponse:
    row = _find(gateway, report_id)  # known reports only: the id is never trusted as a path on its own
    path = gateway.settings.platform.home / "reports" / row.report_id / "report.html"
    if not REPORT_ID.fullmatch(row.report_id) or not path.is_file():
        raise not_found(f"drift report {report_id!r} has no HTML report")
    return HTMLResponse(path.read_text(encoding="utf-8"))


@router.get("/alerts", summary="Reports whose severity is orange or red, newest first")
def list_alerts(
    gateway: GatewayDep,
    _: Viewer,
    severity: Annotated[Severity | None, Query(description="Only this severity")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ReportSummary]:
    severities = (severity,) if severity and severity != "green" else ("orange", "red")
    return _list(gateway, limit=limit, severities=severities, kind=None)
