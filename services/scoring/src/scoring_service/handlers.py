"""Kafka handlers of the scoring service: thin, they parse, call the service logic and publish."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from credit_shared import topics
from credit_shared.contracts.loans import DeadLetter, LoanApplicationMessage, encode
from credit_shared.kafka import documented_bytes, raw_decoder
from scoring_service.dead_letters import Rejected, dead_letter, parse_application
from scoring_service.metrics import ScoringMetrics
from scoring_service.settings import Settings

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    ApplicationBytes = bytes
else:  # raw bytes, documented in AsyncAPI as the public contract
    ApplicationBytes = documented_bytes(LoanApplicationMessage)


def register(broker: KafkaBroker, settings: Settings, metrics: ScoringMetrics) -> None:
    """Subscribe the scoring handlers to ``broker``."""
    dlq = broker.publisher(
        topics.LOAN_APPLICATIONS_DLQ.name,
        title="loan-applications.dlq",
        description="Every message that cannot be decided: the original bytes, the error, where it came from.",
        schema=DeadLetter,
    )

    @broker.subscriber(
        topics.LOAN_APPLICATIONS.name,
        group_id=settings.group_id,
        batch=True,
        max_records=settings.batch_max_messages,
        batch_timeout_ms=settings.batch_max_wait_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.ACK,
        decoder=raw_decoder,
        title="loan-applications",
        description="Loan applications published by lending applications (the public contract).",
        session_timeout_ms=settings.kafka.session_timeout_ms,
        heartbeat_interval_ms=settings.kafka.heartbeat_interval_ms,
        max_partition_fetch_bytes=settings.kafka.max_message_bytes,
    )
    async def on_applications(body: list[ApplicationBytes], message: KafkaMessage) -> None:
        records: list[ConsumerRecord[Any, Any]] = list(message.raw_message)  # type: ignore[arg-type]
        metrics.received.inc(len(records))
        metrics.batch_size.observe(len(records))
        accepted: list[tuple[ConsumerRecord[Any, Any], LoanApplicationMessage]] = []
        for record in records:
            raw: bytes = record.value or b""
            try:
                accepted.append((record, parse_application(raw)))
            except Rejected as rejected:
                letter = dead_letter(
                    raw, rejected, topic=record.topic, partition=record.partition, offset=record.offset
                )
                await dlq.publish(encode(letter), key=record.key)
                metrics.dead_letters.labels(rejected.reason).inc()
        if accepted:
            log.info("received %d valid applications; no model is served yet", len(accepted))
