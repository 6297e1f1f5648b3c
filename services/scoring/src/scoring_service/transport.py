"""The Kafka side of the decision stream, as the stream sees it: read a batch, send, commit, read again.

:class:`Transport` is the seam: the stream is given one (this module's :class:`KafkaTransport` in production, an
in-memory one in the unit tests) and never asks which it has. ``KafkaTransport`` uses aiokafka directly, since
FastStream does not wrap Kafka transactions:

- ``exactly_once``: a transactional producer; the decisions, the dead letters and the replies of a batch, and the
  batch's consumed offsets, are committed in one transaction (``send_offsets_to_transaction``); a consumer reading
  with ``isolation.level=read_committed`` never sees the output of a batch that was not committed. A restart with
  the same ``transactional_id`` aborts the transaction a killed process left open.
- ``at_least_once``: a plain producer; the offsets are committed once every send of the batch is acknowledged (for
  brokers without transactions, such as the embedded tansu).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition

from credit_shared.settings import KafkaSettings

log = logging.getLogger(__name__)

Offsets = dict[tuple[str, int], int]  # (topic, partition) -> the next offset to read


class Record(Protocol):
    """One consumed message (aiokafka's ``ConsumerRecord`` has these attributes)."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...


class Transport(Protocol):
    """What the stream needs from the broker."""

    @property
    def transactional(self) -> bool:
        """True when a batch's outputs and offsets are committed atomically (``exactly_once``)."""
        ...

    async def start(self, on_revoked: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Connect; ``on_revoked`` is awaited before partitions are taken away (a rebalance)."""
        ...

    async def stop(self) -> None:
        """Leave the group and close (an open transaction is aborted)."""
        ...

    async def poll(self, max_records: int) -> list[Record]:
        """The next records (possibly none, after the poll timeout), in offset order per partition."""
        ...

    def rewind(self, records: Sequence[Record]) -> None:
        """Read these records again: seek each partition still owned back to its earliest one."""
        ...

    async def lag(self) -> int | None:
        """Messages on the owned partitions not read yet (None when unknown)."""
        ...

    async def begin(self) -> None:
        """Start a batch's output (a transaction when transactional)."""
        ...

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> asyncio.Future[Any]:
        """Hand one message to the producer; the future resolves when the broker acknowledged it.

        Raises:
            Exception: when the producer refuses the message at once (too large, ...).
        """
        ...

    async def commit(self, offsets: Offsets) -> None:
        """Make the batch's output and its consumed offsets durable (the caller awaited every send)."""
        ...

    async def abort(self) -> None:
        """Give up the batch's output (transactional: nothing of it becomes visible to read_committed readers)."""
        ...


class _Revoked(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, on_revoked: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._on_revoked = on_revoked

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._on_revoked()  # finish the batch in flight while its partitions are still ours

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("loan-applications partitions assigned: %s", sorted(tp.partition for tp in assigned))


class KafkaTransport:
    """aiokafka consumer and producer of the decision stream.

    Args:
        kafka: the connection settings.
        topic: the topic consumed.
        group_id: the consumer group (its committed offsets are where a restart resumes).
        transactional_id: the producer's transactional id (``exactly_once``), None for ``at_least_once``; it must be
            stable across restarts of one instance and distinct between instances.
        fetch_wait_ms: longest wait of one fetch while applications flow.
        idle_fetch_wait_ms: the same once nothing arrived for ``idle_after_s``: the broker answers a fetch as soon
            as data arrives, so a longer wait costs little latency and saves most of an idle consumer's work (a fetch
            every 5 ms took about 6 % of a core, every 250 ms a fraction of 1 %).
        poll_timeout_ms: longest wait of :meth:`poll` when nothing arrives.
        transaction_timeout_ms: how long an open transaction of a process that died holds back read_committed
            readers before the broker aborts it (a restart with the same id aborts it at once).
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        *,
        topic: str,
        group_id: str,
        client_id: str,
        transactional_id: str | None,
        fetch_wait_ms: int,
        poll_timeout_ms: int,
        idle_fetch_wait_ms: int = 250,
        idle_after_s: float = 2.0,
        transaction_timeout_ms: int = 15_000,
    ) -> None:
        self.topic, self.group_id = topic, group_id
        self.poll_timeout_ms = poll_timeout_ms
        self.fetch_wait_ms, self.idle_fetch_wait_ms, self.idle_after_s = fetch_wait_ms, idle_fetch_wait_ms, idle_after_s
        self._last_records = time.monotonic()
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=kafka.bootstrap_servers,
            client_id=client_id,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            fetch_max_wait_ms=fetch_wait_ms,
            max_partition_fetch_bytes=kafka.max_message_bytes,
            session_timeout_ms=kafka.session_timeout_ms,
            heartbeat_interval_ms=kafka.heartbeat_interval_ms,
        )
        options: dict[str, Any] = {}
        if transactional_id:  # idempotent as well (tansu refuses both: InitProducerId answers an unknown error)
            options = {"transactional_id": transactional_id, "transaction_timeout_ms": transaction_timeout_ms}
        self.producer = AIOKafkaProducer(
            bootstrap_servers=kafka.bootstrap_servers,
            client_id=client_id,
            max_request_size=kafka.max_message_bytes,
            linger_ms=1,
            acks="all",
            **options,
        )
        self._transactional = bool(transactional_id)
        self._in_transaction = False

    @property
    def transactional(self) -> bool:
        """True with a transactional id (``exactly_once``)."""
        return self._transactional

    async def start(self, on_revoked: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Start the producer (a transactional one fences a previous instance of the same id), then subscribe."""
        await self.producer.start()
        try:
            await self.consumer.start()
        except Exception:
            await self.producer.stop()
            raise
        self.consumer.subscribe([self.topic], listener=_Revoked(on_revoked))

    async def stop(self) -> None:
        """Abort an open transaction, leave the group, close both clients."""
        try:
            if self._in_transaction:
                await self.abort()
        finally:
            try:
                await self.consumer.stop()
            finally:
                await self.producer.stop()

    async def poll(self, max_records: int) -> list[Record]:
        """The records fetched so far, waiting up to the poll timeout for the first one."""
        batches = await self.consumer.getmany(timeout_ms=self.poll_timeout_ms, max_records=max_records)
        records: list[Record] = [record for _, records in sorted(batches.items()) for record in records]
        now = time.monotonic()
        if records:
            self._last_records = now
            self._fetch_wait(self.fetch_wait_ms)
        elif now - self._last_records > self.idle_after_s:
            self._fetch_wait(self.idle_fetch_wait_ms)
        return records

    def _fetch_wait(self, wait_ms: int) -> None:
        """Set how long the next fetches may wait. aiokafka has no public setter: its fetcher reads this attribute
        for every fetch request it builds (left alone if a version names it otherwise)."""
        fetcher = getattr(self.consumer, "_fetcher", None)
        if fetcher is not None and hasattr(fetcher, "_fetch_max_wait_ms"):
            fetcher._fetch_max_wait_ms = wait_ms

    def rewind(self, records: Sequence[Record]) -> None:
        """Seek each owned partition back to the earliest of ``records`` (a partition lost meanwhile is left to
        its new owner, which reads from the last commit)."""
        earliest: dict[TopicPartition, int] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            earliest[tp] = min(record.offset, earliest.get(tp, record.offset))
        owned = self.consumer.assignment()
        for tp, offset in earliest.items():
            if tp in owned:
                self.consumer.seek(tp, offset)

    async def lag(self) -> int | None:
        """Sum over the owned partitions of the end offset (the last stable one when reading committed) minus the
        position; None before the first fetch told the end."""
        total, known = 0, False
        for tp in self.consumer.assignment():
            end = self.consumer.last_stable_offset(tp) or self.consumer.highwater(tp)
            if end is None:
                continue
            total += max(0, end - await self.consumer.position(tp))
            known = True
        return total if known else None

    async def begin(self) -> None:
        """Begin a transaction (transactional only)."""
        if self._transactional:
            await self.producer.begin_transaction()
            self._in_transaction = True

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> asyncio.Future[Any]:
        """Hand one message to the producer (batched with the others; not awaited here)."""
        future: asyncio.Future[Any] = await self.producer.send(topic, value, key=key)
        return future

    async def commit(self, offsets: Offsets) -> None:
        """Transactional: add the offsets to the transaction and commit it. Otherwise: commit the offsets."""
        committed = {TopicPartition(topic, partition): offset for (topic, partition), offset in offsets.items()}
        if self._transactional:
            if committed:
                await self.producer.send_offsets_to_transaction(committed, self.group_id)
            await self.producer.commit_transaction()
            self._in_transaction = False
        elif committed:
            await self.consumer.commit(committed)

    async def abort(self) -> None:
        """Abort the open transaction (transactional only; nothing to undo otherwise)."""
        if self._transactional and self._in_transaction:
            self._in_transaction = False
            await self.producer.abort_transaction()
