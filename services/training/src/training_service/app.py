"""Composition root of the training service: broker, handlers, readiness checks."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from credit_shared import db, mlflow_utils
from credit_shared.kafka import make_broker
from credit_shared.runtime import Worker
from training_service.handlers import register
from training_service.settings import Settings, get_settings

NAME = "training"
DESCRIPTION = "Trains, tunes and registers credit-default models in MLflow; moves the champion and challenger aliases."


def build(settings: Settings | None = None) -> tuple[Worker, Settings]:
    """Build the training worker (nothing connects until the runtime starts it)."""
    settings = settings or get_settings()
    registry = CollectorRegistry()
    broker = make_broker(
        settings.kafka,
        service=NAME,
        registry=registry,
        description=DESCRIPTION,
    )
    engine = db.make_engine(settings.database)
    register(broker, settings, engine)
    worker = Worker(
        name=NAME,
        title="Training service",
        description=DESCRIPTION,
        broker=broker,
        registry=registry,
        checks={"database": lambda: db.ping(engine), "mlflow": lambda: mlflow_utils.ping(settings.mlflow)},
    )
    return worker, settings
