"""Kafka handlers of the ingestion service: thin, they parse, call the builder and publish events."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from faststream.kafka import KafkaBroker
from sqlalchemy import Engine

from credit_shared import topics
from credit_shared.commands import CommandLedger, ProgressReporter
from credit_shared.contracts import ingestion
from credit_shared.contracts.common import Failed, Progress
from credit_shared.contracts.envelope import Envelope, envelope
from credit_shared.contracts.ingestion import BuildDataset, DatasetBuilt
from ingestion_service.builder import BuildContext, build_dataset
from ingestion_service.settings import Settings
from ingestion_service.sources import SourceError, resolve

log = logging.getLogger(__name__)
SOURCE = "ingestion"


def register(broker: KafkaBroker, settings: Settings, engine: Engine) -> None:
    """Subscribe the ingestion handlers to ``broker``."""
    ledger = CommandLedger(engine, SOURCE)
    events = broker.publisher(
        topics.DATASET_EVENTS.name,
        title="ingestion.events.v1",
        description="dataset.progress (stage, percent, time left), dataset.built (a reference to the dataset), "
        "dataset.failed (the precise reason).",
        schema=Envelope[DatasetBuilt],
    )

    async def publish(type_: str, payload: Any, correlation_id: str) -> None:
        await events.publish(envelope(payload, type_=type_, source=SOURCE, correlation_id=correlation_id))

    @broker.subscriber(
        topics.DATASET_COMMANDS.name,
        group_id=settings.group_id,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.kafka.session_timeout_ms,
        heartbeat_interval_ms=settings.kafka.heartbeat_interval_ms,
        max_poll_interval_ms=6 * 3600 * 1000,  # a full-scale build takes minutes: never leave the group for it
        title="ingestion.commands.v1",
        description="dataset.build: build a versioned dataset from the raw tables with the given cleaning.",
    )
    async def on_command(command: Envelope[BuildDataset]) -> None:
        request = command.payload
        correlation = command.correlation_id or request.request_id
        claim = await asyncio.to_thread(ledger.claim, request.request_id, command.type)
        if not claim.new:
            log.info("build %s already %s; not run again", request.request_id, claim.status)
            if claim.status == "succeeded" and claim.result:
                await publish(ingestion.BUILT, DatasetBuilt.model_validate(claim.result), correlation)
            return
        try:
            source = resolve(
                request.source,
                data_dir=settings.platform.data_dir,
                home=settings.platform.home,
                sample_dir=settings.sample_dir,
            )
        except SourceError as exc:
            await fail(request.request_id, correlation, "missing_source", str(exc))
            return
        ctx = BuildContext(
            datasets_dir=settings.platform.datasets_dir,
            engine=engine,
            mlflow=settings.mlflow,
            memory_limit=settings.memory_limit,
            threads=settings.threads,
        )

        async def send_progress(progress: Progress) -> None:
            await publish(ingestion.PROGRESS, progress, correlation)

        reporter = ProgressReporter(request.request_id, send_progress, asyncio.get_running_loop())
        try:
            built = await asyncio.to_thread(build_dataset, request, source, ctx, reporter)
        except (ValueError, FileNotFoundError, OSError) as exc:
            await fail(request.request_id, correlation, "invalid_data", f"{type(exc).__name__}: {exc}")
            return
        except Exception as exc:
            log.exception("build %s failed", request.request_id)
            await fail(request.request_id, correlation, "internal_error", f"{type(exc).__name__}: {exc}")
            return
        await asyncio.to_thread(ledger.finish, request.request_id, "succeeded", built.model_dump(mode="json"))
        await publish(ingestion.BUILT, built, correlation)

    async def fail(request_id: str, correlation: str, reason: str, detail: str) -> None:
        log.warning("build %s failed: %s", request_id, detail)
        await asyncio.to_thread(ledger.finish, request_id, "failed", {"reason": reason, "detail": detail})
        await publish(ingestion.FAILED, Failed(request_id=request_id, reason=reason, detail=detail), correlation)
