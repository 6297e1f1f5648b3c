"""Prometheus metrics of the scoring service."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram


@dataclass(frozen=True)
class ScoringMetrics:
    """The scoring service's counters and histograms, on the worker's registry."""

    received: Counter
    dead_letters: Counter
    batch_size: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry) -> ScoringMetrics:
        """Register the metrics on ``registry``."""
        return cls(
            received=Counter("scoring_messages_received", "Messages read from loan-applications", registry=registry),
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
        )
