"""Jobs: asynchronous requests made through the gateway, followed through the services' events.

A job is created ``queued`` when its command is published (the command's envelope carries the job id as its
correlation id and the payload's ``request_id``). Events with that correlation id move it on: ``*.progress`` to
``running`` with its stage and percent, ``*.failed`` to ``failed``, any other event type (``dataset.built``,
``model.trained`` ...) to ``succeeded`` with the event's payload as result. A finished job never moves again, so
redelivered or late events are harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import Engine, select

from credit_shared.contracts.envelope import new_id, utc_now
from credit_shared.db import as_utc, make_sessionmaker
from gateway_service.tables import Job

log = logging.getLogger(__name__)

JobStatus = Literal["queued", "running", "succeeded", "failed"]
TERMINAL: Final = frozenset({"succeeded", "failed"})


class JobView(BaseModel):
    """A job as clients see it."""

    job_id: str = Field(description="Id of the job", examples=["3f2a9c0e1b7d4e5f8a6b2c1d0e9f8a7b"])
    kind: str = Field(description="What was asked", examples=["dataset.build"])
    status: JobStatus = Field(description="queued, running, succeeded or failed", examples=["running"])
    stage: str | None = Field(None, description="What is being done now", examples=["bureau aggregates"])
    progress: float = Field(0.0, ge=0, le=100, description="Percent done", examples=[42.0])
    message: str | None = Field(None, description="Last message or error detail")
    request: dict[str, Any] | None = Field(None, description="The command as published")
    result: dict[str, Any] | None = Field(None, description="The final event's payload (when succeeded)")
    result_url: str | None = Field(None, description="Where the result can be read", examples=["/v1/datasets/ds-1"])
    created_by: str | None = Field(None, description="Id of the API key that asked")
    created_at: datetime
    updated_at: datetime
    url: str = Field(description="This job's URL", examples=["/v1/jobs/3f2a9c0e1b7d4e5f8a6b2c1d0e9f8a7b"])
    events_url: str = Field(description="Server-sent events following this job")


class EventEnvelope(BaseModel):
    """The part of an event envelope the gateway reads (the payload stays a mapping)."""

    type: str
    source: str = ""
    correlation_id: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


def result_url(result: dict[str, Any] | None) -> str | None:
    """The resource a finished job produced, from the references its final event carries."""
    result = result or {}
    scoring_id, dataset_id = result.get("scoring_id"), result.get("dataset_id")
    if isinstance(scoring_id, str) and isinstance(dataset_id, str):
        return f"/v1/datasets/{dataset_id}/scorings/{scoring_id}"
    nested = result.get("report")
    report_id = nested.get("report_id") if isinstance(nested, dict) else result.get("report_id")
    links = [
        (report_id, "/v1/monitoring/reports/{}"),
        (result.get("version"), "/v1/registry/versions/{}"),
        (result.get("run_id"), "/v1/runs/{}"),
        (result.get("dataset_id"), "/v1/datasets/{}"),
    ]
    return next((template.format(value) for value, template in links if isinstance(value, str | int)), None)


def to_view(job: Job) -> JobView:
    """The client view of a job row."""
    return JobView(
        job_id=job.job_id,
        kind=job.kind,
        status=job.status,  # type: ignore[arg-type]
        stage=job.stage,
        progress=job.progress,
        message=job.message,
        request=job.request,
        result=job.result,
        result_url=result_url(job.result) if job.status == "succeeded" else None,
        created_by=job.created_by,
        created_at=as_utc(job.created_at),
        updated_at=as_utc(job.updated_at),
        url=f"/v1/jobs/{job.job_id}",
        events_url=f"/v1/jobs/{job.job_id}/events",
    )


class JobStore:
    """Jobs in the ``jobs`` table, with in-process change notification for live followers."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = make_sessionmaker(engine)
        self._changed: dict[str, asyncio.Event] = {}

    def create(self, kind: str, request: dict[str, Any] | None, created_by: str | None, job_id: str = "") -> JobView:
        """Record a new queued job."""
        job = Job(
            job_id=job_id or new_id(),
            kind=kind,
            status="queued",
            progress=0.0,
            request=request,
            created_by=created_by,
        )
        with self._sessions.begin() as session:
            session.add(job)
        return to_view(job)

    def get(self, job_id: str) -> JobView | None:
        """A job, or None when there is none with that id."""
        with self._sessions() as session:
            job = session.get(Job, job_id)
        return None if job is None else to_view(job)

    def recent(self, *, limit: int, status: str | None = None, created_by: str | None = None) -> list[JobView]:
        """The most recent jobs, newest first, optionally by status and by key."""
        query = select(Job).order_by(Job.created_at.desc()).limit(limit)
        if status:
            query = query.where(Job.status == status)
        if created_by:
            query = query.where(Job.created_by == created_by)
        with self._sessions() as session:
            return [to_view(j) for j in session.scalars(query)]

    def fail(self, job_id: str, detail: str) -> None:
        """Mark a job failed (its command could not be published, for instance)."""
        self._update(job_id, status="failed", message=detail)

    def apply(self, raw: dict[str, Any]) -> bool:
        """Apply one service event to the job it belongs to.

        Returns:
            True when a job changed; False for events of no job of ours, of a finished job, or malformed ones.
        """
        try:
            event = EventEnvelope.model_validate(raw)
        except ValidationError as exc:
            log.warning("ignoring a malformed event: %s", exc.errors()[:1])
            return False
        if not event.correlation_id:
            return False
        payload = event.payload
        if event.type.endswith(".progress"):
            return self._update(
                event.correlation_id,
                status="running",
                stage=_text(payload.get("stage"), 128),
                progress=_percent(payload.get("percent")),
                message=_text(payload.get("message"), 2000),
            )
        if event.type.endswith(".failed"):
            reason, detail = payload.get("reason", "failed"), payload.get("detail", "")
            return self._update(event.correlation_id, status="failed", message=_text(f"{reason}: {detail}", 2000))
        return self._update(
            event.correlation_id, status="succeeded", progress=100.0, stage="done", result=payload, message=None
        )

    def _update(self, job_id: str, **values: Any) -> bool:
        with self._sessions.begin() as session:
            job = session.get(Job, job_id, with_for_update=True)
            if job is None or job.status in TERMINAL:
                return False
            if values.get("progress") is None:
                values.pop("progress", None)
            for name, value in values.items():
                setattr(job, name, value)
            job.updated_at = utc_now()
        self.notify(job_id)
        return True

    def notify(self, job_id: str) -> None:
        """Wake the live followers of ``job_id`` (call from the event loop's thread or any thread)."""
        event = self._changed.pop(job_id, None)
        if event is not None:
            loop = getattr(event, "_loop", None)
            if loop is not None and loop.is_running():
                loop.call_soon_threadsafe(event.set)
            else:
                event.set()

    async def wait_change(self, job_id: str, timeout_s: float) -> None:
        """Wait until ``job_id`` changes in this process, or ``timeout_s`` (changes made elsewhere are polled)."""
        event = self._changed.setdefault(job_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout_s)


def _text(value: Any, limit: int) -> str | None:
    return None if value is None else str(value)[:limit]


def _percent(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(min(100.0, max(0.0, value)))
    return None
