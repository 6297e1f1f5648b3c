"""Composition root of the scoring service: broker, handlers, metrics, readiness checks."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from credit_shared.kafka import make_broker
from credit_shared.runtime import Worker
from scoring_service.handlers import register
from scoring_service.metrics import ScoringMetrics
from scoring_service.settings import Settings, get_settings

NAME = "scoring"
DESCRIPTION = (
    "Consumes loan applications, scores them with the champion model, decides at the model version's threshold, "
    "explains refusals with reason codes, publishes the decision and records it in the audit store. Messages "
    "that cannot be decided go to the dead-letter topic with their original bytes and the reason."
)


def build(settings: Settings | None = None) -> tuple[Worker, Settings]:
    """Build the scoring worker (nothing connects until the runtime starts it)."""
    settings = settings or get_settings()
    registry = CollectorRegistry()
    broker = make_broker(settings.kafka, service=NAME, registry=registry, description=DESCRIPTION)
    register(broker, settings, ScoringMetrics.create(registry))
    worker = Worker(name=NAME, title="Scoring service", description=DESCRIPTION, broker=broker, registry=registry)
    return worker, settings
