"""Starting asynchronous work: record a job, publish its command on Kafka, answer 202 with the job's URL."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, TypeVar

from fastapi import Response
from pydantic import BaseModel, ValidationError

from credit_shared.contracts.envelope import envelope, new_id
from credit_shared.topics import Topic
from gateway_service.deps import Gateway
from gateway_service.jobs import JobView
from gateway_service.problems import ProblemError
from gateway_service.security import Principal

log = logging.getLogger(__name__)

SOURCE = "gateway"


CommandT = TypeVar("CommandT", bound=BaseModel)


def build_command(model: type[CommandT], **values: Any) -> CommandT:
    """Build a command, answering 422 with the contract's own message when it refuses the values.

    Raises:
        ProblemError: 422 naming every problem the contract found.
    """
    try:
        return model(**values)
    except ValidationError as exc:
        errors = [
            {"loc": [str(p) for p in e["loc"]], "msg": str(e["msg"]), "type": str(e["type"])} for e in exc.errors()
        ]
        raise ProblemError(422, "; ".join(str(e["msg"]) for e in exc.errors()), errors=errors) from None


def new_job_id() -> str:
    """A new job id (also the command's request id and the envelope's correlation id)."""
    return new_id()


async def start_job(
    gateway: Gateway,
    response: Response,
    *,
    kind: str,
    topic: Topic,
    command: BaseModel,
    principal: Principal,
    job_id: str,
    key: bytes | None = None,
) -> JobView:
    """Record a queued job and publish its command; sets ``202``-style headers on ``response``.

    Args:
        gateway: the gateway state.
        response: the response whose ``Location`` header is set.
        kind: the command type (``dataset.build`` ...), also the job's kind.
        topic: the command topic.
        command: the command payload; its request id must be ``job_id``.
        principal: who asked.
        job_id: the job id (correlation id of the envelope).
        key: Kafka message key.

    Raises:
        ProblemError: 503 when the command cannot be published (the job is then marked failed).
    """
    request = command.model_dump(mode="json")
    job = await asyncio.to_thread(gateway.jobs.create, kind, request, principal.key_id, job_id)
    message = envelope(command, type_=kind, source=SOURCE, correlation_id=job_id)
    try:
        publishing = gateway.broker.publish(message, topic=topic.name, key=key, correlation_id=job_id)
        await asyncio.wait_for(publishing, gateway.settings.publish_timeout_s)
    except Exception as exc:
        log.warning("could not publish %s for job %s: %s", kind, job_id, exc)
        await asyncio.to_thread(gateway.jobs.fail, job_id, f"the command could not be published: {exc}")
        raise ProblemError(503, "the message broker is not reachable; try again later") from exc
    response.status_code = 202
    response.headers["Location"] = job.url
    return job
