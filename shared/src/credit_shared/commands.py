"""Running long commands: once per request id, off the event loop, with progress events people can follow.

A handler reads the command (:func:`read_command`) and hands it to the service's :class:`CommandRunner`, which
records it in the ledger (``processed_commands``): a redelivered or republished command with the same request id is
not run again, and one that succeeded has its result event published again. The heavy work runs in a thread so the
consumer keeps its group membership; it reports progress through a :class:`ProgressReporter`, which publishes from
the event loop, throttled, with an estimate of the time left. A :class:`CommandRefused` (a machine-readable reason
and a message in words) becomes the service's failed event; any other error too, as ``internal_error``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine, select, update

from credit_shared.contracts.common import Failed, Progress
from credit_shared.contracts.envelope import Envelope, utc_now
from credit_shared.db import insert_ignore, make_sessionmaker
from credit_shared.db.models import ProcessedCommand
from credit_shared.dead_lettering import errors_in_words
from credit_shared.kafka import Publish

log = logging.getLogger(__name__)

Status = Literal["running", "succeeded", "failed"]


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a request id: ``new`` means this caller must run it."""

    new: bool
    status: Status
    result: dict[str, Any] | None


class CommandLedger:
    """Which commands a service has run, by request id (idempotency across restarts and instances)."""

    def __init__(self, engine: Engine, service: str) -> None:
        self.engine = engine
        self.service = service
        self._sessions = make_sessionmaker(engine)

    def claim(self, request_id: str, kind: str) -> Claim:
        """Record the command as running unless it was already claimed.

        A command left ``running`` by a worker that died is claimed again: the caller must make the work safe to
        repeat (nothing half-written becomes visible).
        """
        row = {"service": self.service, "request_id": request_id, "kind": kind, "status": "running"}
        if insert_ignore(self.engine, ProcessedCommand, [row], keys=["service", "request_id"]):
            return Claim(True, "running", None)
        with self._sessions() as session:
            found = session.scalar(
                select(ProcessedCommand).where(
                    ProcessedCommand.service == self.service, ProcessedCommand.request_id == request_id
                )
            )
        if found is None:  # deleted between the two statements: claim again
            return self.claim(request_id, kind)
        status: Status = found.status  # type: ignore[assignment]
        return Claim(status == "running", status, found.result)

    def finish(self, request_id: str, status: Status, result: dict[str, Any] | None = None) -> None:
        """Record the outcome of a command."""
        with self._sessions.begin() as session:
            session.execute(
                update(ProcessedCommand)
                .where(ProcessedCommand.service == self.service, ProcessedCommand.request_id == request_id)
                .values(status=status, result=result, updated_at=utc_now())
            )


class ProgressReporter:
    """A thread-safe progress callback that publishes :class:`Progress` events from the event loop.

    Call it from the worker thread as ``report(stage, percent, message)``. Events are throttled to one per
    ``min_interval_s`` except stage changes and 100 %; the estimate of the time left is linear in the percent done.
    """

    def __init__(
        self,
        request_id: str,
        publish: Callable[[Progress], Coroutine[Any, Any, None]],
        loop: asyncio.AbstractEventLoop,
        *,
        min_interval_s: float = 0.5,
    ) -> None:
        self.request_id = request_id
        self._publish = publish
        self._loop = loop
        self._min_interval_s = min_interval_s
        self._started = time.monotonic()
        self._last_sent = 0.0
        self._last_stage: str | None = None
        self._lock = threading.Lock()

    def __call__(self, stage: str, percent: float, message: str | None = None) -> None:
        percent = max(0.0, min(100.0, percent))
        now = time.monotonic()
        with self._lock:
            if stage == self._last_stage and percent < 100 and now - self._last_sent < self._min_interval_s:
                return
            self._last_sent, self._last_stage = now, stage
        elapsed = now - self._started
        eta = elapsed * (100 - percent) / percent if percent >= 1 else None
        event = Progress(request_id=self.request_id, stage=stage, percent=round(percent, 2), eta_s=eta, message=message)
        future = asyncio.run_coroutine_threadsafe(self._publish(event), self._loop)
        future.add_done_callback(_log_failure)


def _log_failure(future: Any) -> None:
    if future.exception() is not None:
        log.warning("could not publish progress: %s", future.exception())


class CommandRefused(Exception):
    """A command that cannot be carried out: ``reason`` is machine-readable, the message says why in words.

    Raised before any work (:func:`read_command`, with the ids read from the message so its failure can still be
    published) or by the work itself; services subclass it for their own refusals.
    """

    def __init__(
        self, reason: str, detail: str, *, request_id: str = "unknown", correlation_id: str = "unknown"
    ) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.request_id = request_id
        self.correlation_id = correlation_id


C = TypeVar("C", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class Accepted(Generic[C]):
    """A command envelope, validated: its type, request id, correlation id and payload."""

    type: str
    request_id: str
    correlation_id: str
    command: C

    @classmethod
    def of(cls, message: Envelope[C]) -> Accepted[C]:
        """The command of a validated envelope (the correlation id defaults to the request id)."""
        request_id = str(getattr(message.payload, "request_id"))  # noqa: B009 - every command payload has one
        return cls(message.type, request_id, message.correlation_id or request_id, message.payload)


def read_command(body: bytes | dict[str, Any], models: Mapping[str, type[C]]) -> Accepted[C]:
    """Validate a command envelope (JSON bytes or decoded) of one of the types of ``models``.

    Raises:
        CommandRefused: ``invalid_command`` (not JSON, or a payload the contract refuses, every problem named) or
            ``unknown_command``, with the request and correlation ids as far as the message gives them.
    """
    try:
        data: Any = json.loads(body.decode("utf-8")) if isinstance(body, bytes) else body
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandRefused("invalid_command", f"not a JSON command: {exc}") from None
    data = data if isinstance(data, dict) else {}
    payload = data.get("payload") if isinstance(data.get("payload"), dict) else {}
    request_id = str(payload.get("request_id") or data.get("correlation_id") or data.get("event_id") or "unknown")[:64]
    ids = {"request_id": request_id, "correlation_id": str(data.get("correlation_id") or request_id)}
    type_ = str(data.get("type"))
    model = models.get(type_)
    if model is None:
        raise CommandRefused("unknown_command", f"unknown command type {type_!r}; expected {sorted(models)}", **ids)
    try:
        return Accepted.of(Envelope[model].model_validate(data))  # type: ignore[valid-type]
    except ValidationError as exc:
        raise CommandRefused("invalid_command", errors_in_words(exc), **ids) from None


Work = Callable[[ProgressReporter], R]


@dataclass(frozen=True)
class CommandRunner:
    """Runs a service's commands: claim, replay, progress, the work in a thread, failures, finish, publish.

    Attributes:
        ledger: the service's command ledger.
        publish: publishes one of the service's events (see :class:`credit_shared.kafka.EventPublisher`).
        progress_type: the type of the service's progress events.
        failed_type: the type of the service's failed events.
    """

    ledger: CommandLedger
    publish: Publish
    progress_type: str
    failed_type: str

    async def run(self, accepted: Accepted[Any], work: Work[R], result_type: str, result: type[R]) -> None:
        """Run ``work`` once for the request id and publish its result as ``result_type``.

        A request id already succeeded has its recorded result published again; one running or failed is not run
        again. The work runs in a thread with a progress reporter; a :class:`CommandRefused` it raises is published
        as a failed event with its reason, any other error as ``internal_error``.
        """
        request_id, correlation = accepted.request_id, accepted.correlation_id
        claim = await asyncio.to_thread(self.ledger.claim, request_id, accepted.type)
        if not claim.new:
            log.info("%s %s already %s; not run again", accepted.type, request_id, claim.status)
            if claim.status == "succeeded" and claim.result:
                await self.publish(result.model_validate(claim.result), result_type, correlation)
            return
        progress = partial(self._progress, correlation_id=correlation)
        reporter = ProgressReporter(request_id, progress, asyncio.get_running_loop())
        try:
            outcome = await asyncio.to_thread(work, reporter)
        except CommandRefused as exc:
            await self._fail(request_id, correlation, exc)
            return
        except Exception as exc:
            log.exception("%s %s failed", accepted.type, request_id)
            await self._fail(request_id, correlation, CommandRefused("internal_error", f"{type(exc).__name__}: {exc}"))
            return
        await asyncio.to_thread(self.ledger.finish, request_id, "succeeded", outcome.model_dump(mode="json"))
        await self.publish(outcome, result_type, correlation)

    async def accept(self, body: bytes | dict[str, Any], models: Mapping[str, type[C]]) -> Accepted[C] | None:
        """The command of ``body`` (see :func:`read_command`), or None when it is refused: then its failed event is
        published (nothing is recorded in the ledger)."""
        try:
            return read_command(body, models)
        except CommandRefused as exc:
            await self._fail(exc.request_id, exc.correlation_id, exc, record=False)
            return None

    async def _fail(self, request_id: str, correlation_id: str, exc: CommandRefused, *, record: bool = True) -> None:
        log.warning("command %s failed (%s): %s", request_id, exc.reason, exc.detail)
        if record:
            outcome = {"reason": exc.reason, "detail": exc.detail}
            await asyncio.to_thread(self.ledger.finish, request_id, "failed", outcome)
        failed = Failed(request_id=request_id, reason=exc.reason, detail=exc.detail)
        await self.publish(failed, self.failed_type, correlation_id)

    async def _progress(self, event: Progress, *, correlation_id: str) -> None:
        await self.publish(event, self.progress_type, correlation_id)
