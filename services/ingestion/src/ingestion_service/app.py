"""Composition root of the ingestion service: broker, handlers, readiness checks."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from credit_shared.kafka import make_broker
from credit_shared.runtime import Worker
from ingestion_service.handlers import router
from ingestion_service.settings import Settings, get_settings

NAME = "ingestion"
DESCRIPTION = (
    "Builds versioned datasets from the eight Home Credit tables: feature engineering, cleaning, online features."
)


def build(settings: Settings | None = None) -> tuple[Worker, Settings]:
    """Build the ingestion worker (nothing connects until the runtime starts it)."""
    settings = settings or get_settings()
    registry = CollectorRegistry()
    broker = make_broker(
        settings.kafka,
        service=NAME,
        registry=registry,
        description=DESCRIPTION,
    )
    broker.include_router(router)
    worker = Worker(
        name=NAME,
        title="Ingestion service",
        description=DESCRIPTION,
        broker=broker,
        registry=registry,
    )
    return worker, settings
