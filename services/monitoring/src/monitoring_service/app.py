"""Composition root of the monitoring service: broker, handlers, readiness checks."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from credit_shared.kafka import make_broker
from credit_shared.runtime import Worker
from monitoring_service.handlers import router
from monitoring_service.settings import Settings, get_settings

NAME = "monitoring"
DESCRIPTION = "Compares served traffic and datasets with the training reference: data drift, prediction drift, alerts."


def build(settings: Settings | None = None) -> tuple[Worker, Settings]:
    """Build the monitoring worker (nothing connects until the runtime starts it)."""
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
        title="Monitoring service",
        description=DESCRIPTION,
        broker=broker,
        registry=registry,
    )
    return worker, settings
