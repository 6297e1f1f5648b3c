"""Kafka handlers of the ingestion service (thin: parse, call the service logic, publish)."""

from __future__ import annotations

from faststream.kafka import KafkaRouter

router = KafkaRouter()
