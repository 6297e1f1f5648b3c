"""Composition root of the scoring service: broker, served models, database, handlers, readiness checks."""

from __future__ import annotations

import asyncio
import contextlib
import os

from prometheus_client import CollectorRegistry

from credit_shared import db
from credit_shared.features import application_parts
from credit_shared.kafka import make_broker
from credit_shared.runtime import Worker
from scoring_service.dataset_handlers import DatasetScoring
from scoring_service.handlers import Scoring
from scoring_service.holder import ModelHolder
from scoring_service.metrics import ScoringMetrics
from scoring_service.served import load_served, load_version
from scoring_service.settings import Settings, get_settings
from scoring_service.versions import VersionCache

NAME = "scoring"
DESCRIPTION = (
    "Consumes loan applications, scores them with the champion model, decides at the model version's threshold, "
    "explains refusals with reason codes, publishes the decision and records it in the audit store. Messages "
    "that cannot be decided go to the dead-letter topic with their original bytes and the reason. Scores whole "
    "datasets on request, with progress events, and stores each applicant's probability, decision and reasons."
)


def build(settings: Settings | None = None) -> tuple[Worker, Settings]:
    """Build the scoring worker (nothing connects and no model loads until the runtime starts it)."""
    settings = settings or get_settings()
    # MLflow's client retries a refused connection for about four minutes by default; a model check stuck that long
    # holds the reload lock, so a promotion made once MLflow is back would wait for it. A few retries are enough.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    registry = CollectorRegistry()
    metrics = ScoringMetrics.create(registry)
    broker = make_broker(settings.kafka, service=NAME, registry=registry, description=DESCRIPTION)
    engine = db.make_engine(settings.database)
    holder = ModelHolder(lambda alias, current: load_served(settings.mlflow, engine, alias, current))
    versions = VersionCache(lambda v: load_version(settings.mlflow, engine, v), settings.named_versions_kept)
    scoring = Scoring(settings, metrics, holder, engine, application_parts, versions)
    scoring.register(broker)
    DatasetScoring(settings, holder, versions, engine).register(broker)
    tasks: list[asyncio.Task[None]] = []

    async def keep_models_fresh() -> None:
        while True:
            await scoring.reload_models()
            await asyncio.sleep(settings.reload_interval_s)

    async def start_reloader() -> None:
        tasks.append(asyncio.get_running_loop().create_task(keep_models_fresh()))

    async def stop_reloader() -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    worker = Worker(
        name=NAME,
        title="Scoring service",
        description=DESCRIPTION,
        broker=broker,
        registry=registry,
        checks={"model": lambda: holder.ready, "database": lambda: db.ping(engine)},
        after_startup=[start_reloader],
        on_shutdown=[stop_reloader, scoring.drain],
    )
    return worker, settings
