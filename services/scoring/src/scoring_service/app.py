"""Composition root of the scoring service: the decision stream, served models, database, readiness checks.

The decision stream (``loan-applications`` to ``loan-decisions``) runs on aiokafka directly
(:mod:`scoring_service.transport`: FastStream does not wrap Kafka transactions); the promotions and the dataset
scoring commands run on the FastStream broker. The stream's channels are documented in AsyncAPI from a broker that is
never started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from faststream.kafka import KafkaBroker

from credit_shared import db, topics
from credit_shared.features import application_parts
from credit_shared.runtime import Worker, new_worker
from scoring_service.audit import AuditStore
from scoring_service.batch import BatchDecider
from scoring_service.commit import Committer
from scoring_service.dataset_handlers import DatasetScoring
from scoring_service.health import StreamHealth, model_state, readiness
from scoring_service.holder import ModelHolder
from scoring_service.metrics import ScoringMetrics
from scoring_service.requests import ReplyOnly
from scoring_service.retention import Retention
from scoring_service.served import load_served, load_version
from scoring_service.settings import Settings, get_settings
from scoring_service.stream import DecisionStream, Pacing
from scoring_service.stream_docs import document_stream
from scoring_service.transport import KafkaTransport, Transport
from scoring_service.versions import VersionCache

log = logging.getLogger(__name__)
NAME = "scoring"
DESCRIPTION = (
    "Consumes loan applications, scores them with the champion model, decides at the model version's threshold, "
    "explains refusals with reason codes, publishes the decision and records it in the audit store. Messages "
    "that cannot be decided go to the dead-letter topic with their original bytes and the reason. Scores whole "
    "datasets on request, with progress events, and stores each applicant's probability, decision and reasons."
)


def kafka_transport(settings: Settings) -> Transport:
    """The production transport of the decision stream (a new one per connection attempt)."""
    transactional_id = None
    if settings.delivery == "exactly_once":
        # stable across restarts of one container (its hostname), distinct between replicas
        transactional_id = settings.transactional_id or f"{settings.group_id}-{socket.gethostname()}"
    return KafkaTransport(
        settings.kafka,
        topic=topics.LOAN_APPLICATIONS.name,
        group_id=settings.group_id,
        client_id=f"{settings.kafka.client_id}-{NAME}-stream",
        transactional_id=transactional_id,
        fetch_wait_ms=settings.fetch_wait_ms,
        idle_fetch_wait_ms=settings.idle_fetch_wait_ms,
        poll_timeout_ms=settings.poll_timeout_ms,
        transaction_timeout_ms=settings.transaction_timeout_ms,
    )


def decision_stream(
    settings: Settings,
    *,
    holder: ModelHolder,
    versions: VersionCache,
    store: AuditStore,
    metrics: ScoringMetrics,
    connect: Callable[[], Transport] | None = None,
) -> tuple[DecisionStream, StreamHealth]:
    """The decision stream and its health, on ``connect()`` transports (default: Kafka)."""
    health = StreamHealth(metrics, settings.unready_after_failures, settings.stall_after_s)
    decider = BatchDecider(store, application_parts, ReplyOnly(holder, versions, application_parts))
    pacing = Pacing(
        batch_max_messages=settings.batch_max_messages,
        hold_wait_s=settings.hold_wait_s,
        retry_backoff_s=settings.retry_backoff_s,
        retry_backoff_max_s=settings.retry_backoff_max_s,
    )

    def committer(transport: Transport) -> Committer:
        return Committer(transport, store, metrics, decider.poison,
                         dead_letter_max_bytes=settings.dead_letter_store_max_bytes)  # fmt: skip

    stream = DecisionStream(
        connect or (lambda: kafka_transport(settings)),
        decider=decider,
        committer=committer,
        holder=holder,
        health=health,
        metrics=metrics,
        pacing=pacing,
    )
    return stream, health


async def reload_models(holder: ModelHolder, metrics: ScoringMetrics) -> None:
    """Serve what the aliases point at now and show the versions in the metrics.

    Both the periodic check and a model-promoted event come here, so the version gauge follows a swap at once
    instead of at the next periodic check.
    """
    await holder.reload()
    served = holder.served
    for alias, model in (("champion", served.champion), ("challenger", served.challenger)):
        metrics.model_version.labels(alias).set(float(model.ref.version) if model else 0)


def on_promotions(broker: KafkaBroker, settings: Settings, holder: ModelHolder, metrics: ScoringMetrics) -> None:
    """Reload the served models in the background whenever a model-promoted event arrives."""
    loading: set[asyncio.Task[None]] = set()

    @broker.subscriber(
        topics.TRAINING_EVENTS.name,
        auto_offset_reset="latest",  # no group: every scoring instance hears every promotion
        title=topics.TRAINING_EVENTS.name,
        description="model.promoted: load the new version in the background and swap it in.",
    )
    async def on_training_event(event: dict[str, Any]) -> None:
        if event.get("type") == settings.promoted_event_type:
            log.info("a model was promoted; loading it in the background")
            task = asyncio.get_running_loop().create_task(reload_models(holder, metrics))
            loading.add(task)  # the loop holds tasks weakly: an unreferenced one may vanish mid-load
            task.add_done_callback(loading.discard)


def build(settings: Settings | None = None) -> tuple[Worker, Settings]:
    """Build the scoring worker (nothing connects and no model loads until the runtime starts it)."""
    settings = settings or get_settings()
    # MLflow's client retries a refused connection for about four minutes by default; a model check stuck that long
    # holds the reload lock, so a promotion made once MLflow is back would wait for it. A few retries are enough.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    worker = new_worker(settings.kafka, name=NAME, title="Scoring service", description=DESCRIPTION)
    broker = worker.broker
    metrics = ScoringMetrics.create(worker.registry)
    engine = db.make_engine(settings.database)
    holder = ModelHolder(lambda alias, current: load_served(settings.mlflow, engine, alias, current))
    versions = VersionCache(lambda v: load_version(settings.mlflow, engine, v), settings.named_versions_kept)
    store = AuditStore(engine)
    stream, health = decision_stream(settings, holder=holder, versions=versions, store=store, metrics=metrics)
    on_promotions(broker, settings, holder, metrics)
    DatasetScoring(settings, holder, versions, engine).register(broker)
    retention = Retention.of(settings, engine)
    tasks: list[asyncio.Task[None]] = []

    async def keep_models_fresh() -> None:
        while True:
            await reload_models(holder, metrics)
            await asyncio.sleep(settings.reload_interval_s)

    async def start_background() -> None:
        loop = asyncio.get_running_loop()
        tasks.extend([loop.create_task(keep_models_fresh()), loop.create_task(retention.run_every())])
        stream.start()

    async def stop_background() -> None:
        await stream.stop()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    worker.checks.update(
        model=lambda: readiness(health, holder)["model"],
        stream=lambda: readiness(health, holder)["stream"],
        database=lambda: db.ping(engine),
    )
    worker.after_startup.append(start_background)
    worker.on_shutdown.append(stop_background)
    worker.describe = lambda: {"model": model_state(holder)[1], "delivery": settings.delivery}
    worker.documented = (document_stream(settings, DESCRIPTION),)
    return worker, settings
