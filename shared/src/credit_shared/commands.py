"""Running long commands: once per request id, off the event loop, with progress events people can follow.

A handler records the command in the ledger (``processed_commands``); a redelivered or republished command with
the same request id is not run again. The heavy work runs in a thread so the consumer keeps its group membership;
it reports progress through a :class:`ProgressReporter`, which publishes from the event loop, throttled, with an
estimate of the time left.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Engine, select, update

from credit_shared.contracts.common import Progress
from credit_shared.contracts.envelope import utc_now
from credit_shared.db import insert_ignore, make_sessionmaker
from credit_shared.db.models import ProcessedCommand

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
