"""Composition root of the training service: broker, handlers, readiness checks."""

from __future__ import annotations

import os

from credit_shared import db, mlflow_utils
from credit_shared.runtime import Worker, new_worker
from training_service.handlers import make_router
from training_service.settings import Settings, get_settings

NAME = "training"
DESCRIPTION = "Trains, tunes and registers credit-default models in MLflow; moves the champion and challenger aliases."


def build(settings: Settings | None = None) -> tuple[Worker, Settings]:
    """Build the training worker (nothing connects until the runtime starts it)."""
    settings = settings or get_settings()
    # MLflow's client retries a refused connection for about four minutes by default: with the server down, a
    # command would look hung. A few retries ride out a blip; longer outages fail the command, naming MLflow.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    worker = new_worker(settings.kafka, name=NAME, title="Training service", description=DESCRIPTION)
    engine = db.make_engine(settings.database)
    worker.broker.include_router(make_router(settings, engine))
    worker.checks.update(database=lambda: db.ping(engine), mlflow=lambda: mlflow_utils.ping(settings.mlflow))
    return worker, settings
