"""``/v1/jobs``: the status of asynchronous requests, and a live stream of their progress."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from sse_starlette import EventSourceResponse

from gateway_service.deps import GatewayDep, Viewer
from gateway_service.jobs import TERMINAL, JobStatus, JobView
from gateway_service.problems import not_found, responses

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=responses(401, 403, 422))

JobId = Annotated[str, Path(description="Job id", pattern=r"^[A-Za-z0-9_-]{1,64}$")]
POLL_S = 1.0  # changes made by another gateway replica are seen within this delay


@router.get("", summary="Recent jobs, newest first")
def list_jobs(
    gateway: GatewayDep,
    principal: Viewer,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status")] = None,
    mine: Annotated[bool, Query(description="Only jobs started with this key")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[JobView]:
    return gateway.jobs.recent(limit=limit, status=status, created_by=principal.key_id if mine else None)


@router.get("/{job_id}", summary="One job: status, progress and result link", responses=responses(404))
def get_job(gateway: GatewayDep, _: Viewer, job_id: JobId) -> JobView:
    job = gateway.jobs.get(job_id)
    if job is None:
        raise not_found(f"job {job_id!r} does not exist")
    return job


@router.get(
    "/{job_id}/events",
    summary="Follow a job live (server-sent events)",
    description="One `job` event with the job's state now and after every change; the stream ends when the job "
    "has succeeded or failed.",
    response_class=EventSourceResponse,
    responses={**responses(404), 200: {"content": {"text/event-stream": {}}, "description": "Job events"}},
)
async def follow_job(gateway: GatewayDep, _: Viewer, job_id: JobId) -> EventSourceResponse:
    first = await asyncio.to_thread(gateway.jobs.get, job_id)
    if first is None:
        raise not_found(f"job {job_id!r} does not exist")

    async def events() -> AsyncIterator[dict[str, Any]]:
        job: JobView | None = first
        last: str | None = None
        sequence = 0
        while job is not None:
            state = job.model_dump_json()
            if state != last:
                sequence += 1
                yield {"event": "job", "id": str(sequence), "data": state}
                last = state
            if job.status in TERMINAL:
                return
            await gateway.jobs.wait_change(job_id, POLL_S)
            job = await asyncio.to_thread(gateway.jobs.get, job_id)
        yield {"event": "error", "data": json.dumps({"detail": f"job {job_id!r} disappeared"})}

    return EventSourceResponse(events(), ping=15)
