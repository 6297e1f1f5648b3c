"""Kafka helpers: the broker factory, explicit topic creation, subscription options, the events publisher,
AsyncAPI types of raw payloads.

Every topic is created explicitly with its partition count at start-up: a topic auto-created by a producer or a
consumer gets whatever the broker defaults to (tansu: 4 or 1), which would silently cap consumer parallelism.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, Protocol, TypedDict

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, WithJsonSchema

from credit_shared.contracts.envelope import envelope
from credit_shared.settings import KafkaSettings
from credit_shared.topics import ALL_TOPICS, Topic, partitions_of

log = logging.getLogger(__name__)

LONG_WORK_POLL_MS: Final = 6 * 3600 * 1000  # a build, a training or a scoring takes minutes: never leave the group


def make_broker(
    settings: KafkaSettings,
    *,
    service: str,
    registry: CollectorRegistry | None = None,
    description: str | None = None,
) -> KafkaBroker:
    """Create the FastStream Kafka broker of a service (nothing connects until it starts).

    Args:
        settings: Kafka connection settings.
        service: service name, used as client id suffix and in metrics.
        registry: Prometheus registry receiving FastStream's message metrics.
        description: AsyncAPI description of the broker.

    Returns:
        A broker that never auto-creates topics (they are created by :func:`ensure_topics`).
    """
    middlewares = (KafkaPrometheusMiddleware(registry=registry, app_name=service),) if registry else ()
    return KafkaBroker(
        settings.bootstrap_servers,
        client_id=f"{settings.client_id}-{service}",
        allow_auto_create_topics=False,
        max_request_size=settings.max_message_bytes,
        middlewares=middlewares,
        description=description,
        graceful_timeout=30.0,
        logger=logging.getLogger(f"{service}.broker"),  # our log format, not FastStream's own handler
        log_level=logging.DEBUG,  # one line per message is too much at thousands of messages per second
    )


async def ensure_topics(
    settings: KafkaSettings, topics: tuple[Topic, ...] = ALL_TOPICS, *, timeout_s: float = 30.0
) -> list[str]:
    """Create every topic with its partition count, ignoring those that exist.

    Args:
        settings: Kafka connection settings.
        topics: topics to create.
        timeout_s: how long to wait for the broker to answer.

    Returns:
        The names of the topics created by this call.

    Raises:
        TimeoutError: when the broker does not answer within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, client_id=settings.client_id)
        try:
            await admin.start()
            break
        except KafkaConnectionError as exc:
            await admin.close()
            if time.monotonic() > deadline:
                raise TimeoutError(f"Kafka at {settings.bootstrap_servers} did not answer: {exc}") from exc
            await asyncio.sleep(0.25)
    created: list[str] = []
    try:
        existing = set(await admin.list_topics())
        for topic in topics:
            if topic.name in existing:
                continue
            new = NewTopic(
                topic.name,
                num_partitions=partitions_of(topic, settings.partitions),
                replication_factor=settings.replication_factor,
            )
            try:
                await admin.create_topics([new])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()
    if created:
        log.info("created topics %s", ", ".join(created))
    return created


async def topic_partitions(settings: KafkaSettings) -> dict[str, int]:
    """Partition count of every topic on the broker (for checks and status)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, client_id=settings.client_id)
    await admin.start()
    try:
        described = await admin.describe_topics(list(await admin.list_topics()))
    finally:
        await admin.close()
    return {d["topic"]: len(d["partitions"]) for d in described}


class GroupOptions(TypedDict, total=False):
    """The subscription options of a consumer-group member (``KafkaBroker.subscriber`` keywords)."""

    group_id: str
    auto_offset_reset: Literal["earliest"]
    session_timeout_ms: int
    heartbeat_interval_ms: int
    max_poll_interval_ms: int


def group_options(settings: KafkaSettings, group_id: str, *, long_work: bool = False) -> GroupOptions:
    """How a service's subscriber joins its consumer group: from the earliest offset the group has not committed
    (a message published while the service was down is still handled), with the configured session timeouts.

    Args:
        settings: Kafka connection settings (session timeout and heartbeat).
        group_id: the consumer group.
        long_work: the handler runs for minutes (a build, a training, a scoring): the consumer never leaves the
            group for it.
    """
    options = GroupOptions(
        group_id=group_id,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
    )
    if long_work:
        options["max_poll_interval_ms"] = LONG_WORK_POLL_MS
    return options


class BatchOptions(GroupOptions, total=False):
    """The subscription options of a batch subscriber in a consumer group."""

    batch: Literal[True]
    max_records: int
    batch_timeout_ms: int


def batch_options(settings: KafkaSettings, group_id: str, *, max_records: int, timeout_ms: int) -> BatchOptions:
    """How a batch subscriber joins its group (see :func:`group_options`) and takes up to ``max_records`` messages,
    waiting at most ``timeout_ms`` to fill a batch."""
    return BatchOptions(
        **group_options(settings, group_id), batch=True, max_records=max_records, batch_timeout_ms=timeout_ms
    )


class Publisher(Protocol):
    """What the events publisher needs of a FastStream publisher."""

    async def publish(self, message: Any, /) -> Any: ...


Publish = Callable[[BaseModel, str, str | None], Awaitable[None]]  # payload, event type, correlation id


@dataclass(frozen=True)
class EventPublisher:
    """Publishes a service's events, each in an envelope naming the service: ``await publish(payload, type_,
    correlation_id)``."""

    publisher: Publisher
    source: str

    async def __call__(self, payload: BaseModel, type_: str, correlation_id: str | None) -> None:
        await self.publisher.publish(envelope(payload, type_=type_, source=self.source, correlation_id=correlation_id))


def events_publisher(
    router: KafkaRouter, topic: Topic, source: str, *, description: str, schema: Any
) -> EventPublisher:
    """The publisher of a service's events on ``topic``, documented in AsyncAPI under the topic's name.

    Args:
        router: the service's router.
        topic: the events topic.
        source: the service's name, in every envelope.
        description: what the topic carries, for AsyncAPI.
        schema: the documented message type.
    """
    publisher = router.publisher(topic.name, title=topic.name, description=description, schema=schema)
    return EventPublisher(publisher, source)


def subscribe(
    router: KafkaRouter, topic: Topic, handler: Callable[..., Awaitable[None]], *, description: str, **options: Any
) -> None:
    """Subscribe ``handler`` to ``topic``, documented in AsyncAPI under the topic's name.

    Args:
        router: the service's router.
        topic: the topic read.
        handler: what each message (or batch) is given to.
        description: what the service does with the topic's messages, for AsyncAPI.
        **options: the subscriber's other options (:func:`group_options`, a batch's, ``decoder``, ``ack_policy``).
    """
    router.subscriber(topic.name, title=topic.name, description=description, **options)(handler)


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with every ``$ref`` replaced by its definition (embeddable in an AsyncAPI document)."""
    schema = model.model_json_schema()
    inlined: dict[str, Any] = _inline_refs(schema, schema.get("$defs", {}))
    return inlined


def documented_bytes(model: type[BaseModel]) -> Any:
    """A handler parameter type that receives the raw bytes but documents ``model`` in AsyncAPI.

    Handlers that must validate each message on their own (so one bad message never fails its batch, and a bad
    one goes to a dead-letter topic with its original bytes) take ``list[documented_bytes(Model)]`` together with
    ``decoder=raw_decoder`` (a batch handler takes :func:`documented_batch` instead).
    """
    return Annotated[bytes, WithJsonSchema(inline_schema(model), mode="validation")]


def documented_batch(model: type[BaseModel]) -> Any:
    """The type of a batch handler's raw bytes (``list[bytes]``), documented in AsyncAPI as one ``model`` message.

    FastStream documents a batch subscriber's payload as the type of its parameter, so ``list[documented_bytes(M)]``
    shows an array of ``M``; but each Kafka message on the channel is one ``M``, and that is what a client publishing
    there must read in the document.
    """
    return Annotated[list[bytes], WithJsonSchema(inline_schema(model), mode="validation")]


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    """A JSON schema with its ``$defs`` references replaced by the definitions (AsyncAPI cannot resolve them;
    our contracts have no cycles)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline_refs(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


async def raw_decoder(message: Any, original: Any = None) -> Any:
    """A FastStream decoder that hands over the raw bytes (a list of them for a batch)."""
    return getattr(message, "batch_bodies", message.body)
