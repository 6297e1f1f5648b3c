"""Kafka handlers of the monitoring service (thin: parse, call the service logic, publish)."""

from __future__ import annotations

from faststream.kafka import KafkaRouter

router = KafkaRouter()
