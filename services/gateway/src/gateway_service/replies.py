"""Request/reply over Kafka: one consumer of the replies topic, a future per correlation id."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)


class ReplyTimeout(Exception):
    """No reply arrived within the timeout."""


class ReplyWaiter:
    """Futures by correlation id, resolved by the gateway's consumer of the replies topic."""

    def __init__(self) -> None:
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}

    @property
    def pending(self) -> int:
        """How many requests wait for their reply."""
        return len(self._pending)

    async def request(
        self, correlation_id: str, publish: Callable[[], Awaitable[Any]], timeout_s: float
    ) -> dict[str, Any]:
        """Publish a request and wait for the reply carrying ``correlation_id``.

        The future is registered before publishing, so a reply faster than the publish call is not lost; the
        timeout covers the publication too (a broker that does not acknowledge must not hold the request).

        Raises:
            ReplyTimeout: when no reply arrives within ``timeout_s``.
            ValueError: when ``correlation_id`` is already waiting.
        """
        if correlation_id in self._pending:
            raise ValueError(f"a request with correlation id {correlation_id!r} is already waiting")
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = future
        try:
            async with asyncio.timeout(timeout_s):
                await publish()
                return await future
        except TimeoutError as exc:
            raise ReplyTimeout(f"no reply within {timeout_s:g} s") from exc
        finally:
            self._pending.pop(correlation_id, None)

    def resolve(self, reply: dict[str, Any]) -> bool:
        """Hand a reply to the request waiting for its ``correlation_id``.

        Returns:
            False when nobody waits for it (another gateway replica's request, or one that timed out).
        """
        correlation_id = reply.get("correlation_id")
        future = self._pending.get(correlation_id) if isinstance(correlation_id, str) else None
        if future is None or future.done():
            return False
        future.set_result(reply)
        return True
