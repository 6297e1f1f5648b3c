"""Prometheus metrics of the scoring service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass(frozen=True)
class ScoringMetrics:
    """The scoring service's counters and histograms, on the worker's registry."""

    received: Counter
    held: Counter
    dead_letters: Counter
    batch_size: Histogram
    decisions: Counter
    failures: Counter
    latency: Histogram
    model_version: Gauge
    step_failures: Counter
    duplicates: Counter
    redelivered: Counter
    consecutive_failures: Gauge
    lag: Gauge
    last_commit: Gauge
    ready: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> ScoringMetrics:
        """Register the metrics on ``registry``."""
        return cls(
            received=Counter(
                "scoring_messages_received",
                "Messages read from loan-applications (a held batch counts each time it is read)",
                registry=registry,
            ),
            held=Counter(
                "scoring_messages_held",
                "Messages read while no champion is served; they are read again later, not dead-lettered",
                registry=registry,
            ),
            dead_letters=Counter(
                "scoring_dead_letters",
                "Messages sent to the dead-letter topic",
                ["reason"],
                registry=registry,
            ),
            batch_size=Histogram(
                "scoring_batch_size",
                "Messages per consumed batch",
                buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
                registry=registry,
            ),
            decisions=Counter("scoring_decisions", "Decisions published", ["decision"], registry=registry),
            failures=Counter("scoring_batch_failures", "Batches that failed and will be re-read", registry=registry),
            latency=Histogram(
                "scoring_latency_seconds",
                "From receipt by the service to decision",
                buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
                registry=registry,
            ),
            model_version=Gauge(
                "scoring_model_version", "Registered version served, by alias", ["alias"], registry=registry
            ),
            **_stream_health(registry),
        )


def _stream_health(registry: CollectorRegistry) -> dict[str, Any]:
    """The decision stream's own metrics: failures by step, duplicates, lag, progress, readiness."""
    return {
        "step_failures": Counter(
            "scoring_step_failures",
            "Valid messages dead-lettered because a later step failed on them alone, by step",
            ["step"],
            registry=registry,
        ),
        "duplicates": Counter(
            "scoring_duplicate_requests",
            "Request ids published again: not decided again (the first decision stands; replayed to a reply address)",
            registry=registry,
        ),
        "redelivered": Counter(
            "scoring_redelivered_decisions",
            "Messages read again after a failure or a restart whose decision was already recorded: the stored "
            "decision is published again, not a new one",
            registry=registry,
        ),
        "consecutive_failures": Gauge(
            "scoring_consecutive_batch_failures",
            "Failures of the batch in hand since the last commit",
            registry=registry,
        ),
        "lag": Gauge(
            "scoring_consumer_lag",
            "Messages of loan-applications not read yet (owned partitions)",
            registry=registry,
        ),
        "last_commit": Gauge(
            "scoring_last_commit_timestamp_seconds",
            "When a batch was last committed (Unix time)",
            registry=registry,
        ),
        "ready": Gauge("scoring_ready", "1 when the service is ready (see /ready for why not)", registry=registry),
    }
