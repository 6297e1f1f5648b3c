"""Composition root of the ingestion service: broker, database, handlers, readiness checks."""

from __future__ import annotations

from credit_shared import db, mlflow_utils
from credit_shared.runtime import Worker, new_worker
from ingestion_service.handlers import make_router
from ingestion_service.settings import Settings, get_settings

NAME = "ingestion"
DESCRIPTION = (
    "Builds versioned datasets from the eight Home Credit tables: feature engineering, cleaning fitted on training "
    "rows, Parquet parts, online features for scoring, and an MLflow experiment with a baseline run per dataset."
)


def build(settings: Settings | None = None) -> tuple[Worker, Settings]:
    """Build the ingestion worker (nothing connects until the runtime starts it)."""
    settings = settings or get_settings()
    worker = new_worker(settings.kafka, name=NAME, title="Ingestion service", description=DESCRIPTION)
    engine = db.make_engine(settings.database)
    worker.broker.include_router(make_router(settings, engine))
    worker.checks.update(database=lambda: db.ping(engine), mlflow=lambda: mlflow_utils.ping(settings.mlflow))
    return worker, settings
