"""An in-memory broker for unit tests of the decision stream: topics, a consumer group's offsets, transactions.

:class:`MemoryTransport` is what the stream is given instead of Kafka (the seam of
:class:`scoring_service.transport.Transport`). Records sent inside a transaction are visible to a ``read_committed``
reader only once it commits; an aborted one's never are. Faults are injected by the test: a send that fails for a
given record, a commit that fails.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from credit_shared import topics

APPLICATIONS = topics.LOAN_APPLICATIONS.name


@dataclass(frozen=True)
class MemoryRecord:
    """One stored record (the attributes of aiokafka's ``ConsumerRecord`` the stream reads)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    transaction: int | None = None  # the transaction it was written in, if any


@dataclass
class MemoryBroker:
    """Topics of one partition each, committed offsets per group, and the fate of each transaction."""

    logs: dict[str, list[MemoryRecord]] = field(default_factory=dict)
    offsets: dict[tuple[str, str], int] = field(default_factory=dict)  # (group, topic) -> next offset
    committed: set[int] = field(default_factory=set)
    aborted: set[int] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def append(self, topic: str, value: bytes | None, key: bytes | None = None, txn: int | None = None) -> MemoryRecord:
        log = self.logs.setdefault(topic, [])
        record = MemoryRecord(topic, 0, len(log), key, value, txn)
        log.append(record)
        return record

    def read(self, topic: str, *, committed: bool = True) -> list[MemoryRecord]:
        """Every record of ``topic`` a reader sees (``committed``: isolation.level=read_committed)."""
        return [r for r in self.logs.get(topic, []) if not committed or self.visible(r)]

    def visible(self, record: MemoryRecord) -> bool:
        return record.transaction is None or record.transaction in self.committed

    def new_transaction(self) -> int:
        return next(self._ids)


class MemoryTransport:
    """The stream's transport on a :class:`MemoryBroker` (one partition of ``loan-applications``)."""

    def __init__(self, broker: MemoryBroker, group: str = "scoring", *, transactional: bool = False) -> None:
        self.broker, self.group = broker, group
        self._transactional = transactional
        self.position = broker.offsets.get((group, APPLICATIONS), 0)
        self.txn: int | None = None
        self.fail_send: Callable[[str, bytes], BaseException | None] = lambda topic, value: None
        self.fail_commit: BaseException | None = None
        self.started = self.stopped = False

    @property
    def transactional(self) -> bool:
        return self._transactional

    async def start(self, on_revoked: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.started = True

    async def stop(self) -> None:
        if self.txn is not None:
            await self.abort()
        self.stopped = True

    async def poll(self, max_records: int) -> list[MemoryRecord]:
        records = self.broker.read(APPLICATIONS)[self.position : self.position + max_records]
        self.position += len(records)
        if not records:
            await asyncio.sleep(0)
        return records

    def rewind(self, records: Any) -> None:
        if records:
            self.position = min(self.position, *(r.offset for r in records))

    async def lag(self) -> int | None:
        return len(self.broker.read(APPLICATIONS)) - self.position

    async def begin(self) -> None:
        if self._transactional:
            self.txn = self.broker.new_transaction()

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        failure = self.fail_send(topic, value)
        if failure is not None:
            future.set_exception(failure)
        else:
            future.set_result(self.broker.append(topic, value, key, self.txn))
        return future

    async def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        if self.fail_commit is not None:
            raise self.fail_commit
        if self.txn is not None:
            self.broker.committed.add(self.txn)
            self.txn = None
        for (topic, _), offset in offsets.items():
            self.broker.offsets[(self.group, topic)] = offset

    async def abort(self) -> None:
        if self.txn is not None:
            self.broker.aborted.add(self.txn)
            self.txn = None
