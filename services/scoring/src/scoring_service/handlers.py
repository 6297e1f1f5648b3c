"""Kafka handlers of the scoring service: parse each message on its own, decide the valid ones, publish, audit."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.publisher import DefaultPublisher
from sqlalchemy import Engine

from credit_shared import topics
from credit_shared.contracts.envelope import utc_now
from credit_shared.contracts.loans import DeadLetter, LoanApplicationMessage, LoanDecision, encode, message_key
from credit_shared.kafka import documented_bytes, raw_decoder, rewind
from scoring_service import audit
from scoring_service.dead_letters import Rejected, dead_letter, parse_application
from scoring_service.holder import ModelHolder
from scoring_service.metrics import ScoringMetrics
from scoring_service.scorer import Scored, ServedModel, score_batch
from scoring_service.settings import Settings

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    ApplicationBytes = bytes
else:  # raw bytes, documented in AsyncAPI as the public contract
    ApplicationBytes = documented_bytes(LoanApplicationMessage)

FeatureBuilder = Callable[[pd.DataFrame], pd.DataFrame]
Accepted = list[tuple[ConsumerRecord[Any, Any], LoanApplicationMessage]]


@dataclass
class Scoring:
    """The scoring service's collaborators and its per-batch logic."""

    settings: Settings
    metrics: ScoringMetrics
    holder: ModelHolder
    engine: Engine
    build_request_features: FeatureBuilder

    def register(self, broker: KafkaBroker) -> None:
        """Subscribe the handlers to ``broker``."""
        settings = self.settings
        self.broker = broker
        self.dlq: DefaultPublisher = broker.publisher(
            topics.LOAN_APPLICATIONS_DLQ.name,
            title="loan-applications.dlq",
            description="Every message that cannot be decided: the original bytes, the error, where it came from.",
            schema=DeadLetter,
        )
        self.decisions: DefaultPublisher = broker.publisher(
            topics.LOAN_DECISIONS.name,
            title="loan-decisions",
            description="One explained decision per accepted request id, keyed by the applicant id.",
            schema=LoanDecision,
        )
        broker.subscriber(
            topics.LOAN_APPLICATIONS.name,
            group_id=settings.group_id,
            batch=True,
            max_records=settings.batch_max_messages,
            batch_timeout_ms=settings.batch_max_wait_ms,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            decoder=raw_decoder,
            session_timeout_ms=settings.kafka.session_timeout_ms,
            heartbeat_interval_ms=settings.kafka.heartbeat_interval_ms,
            max_partition_fetch_bytes=settings.kafka.max_message_bytes,
            title="loan-applications",
            description="Loan applications published by lending applications (the public contract).",
        )(self.on_applications)
        broker.subscriber(
            topics.TRAINING_EVENTS.name,
            auto_offset_reset="latest",  # no group: every scoring instance hears every promotion
            title="training.events.v1",
            description="model.promoted: load the new version in the background and swap it in.",
        )(self.on_training_event)

    async def on_applications(self, body: list[ApplicationBytes], message: KafkaMessage) -> None:
        """One batch: dead-letter what cannot be decided, decide the rest, publish, audit, then commit."""
        started, received_at = time.monotonic(), utc_now()
        records: list[ConsumerRecord[Any, Any]] = list(message.raw_message)  # type: ignore[arg-type]
        self.metrics.received.inc(len(records))
        if not await self.holder.wait_ready(self.settings.hold_wait_s):
            self.metrics.held.inc(len(records))
            rewind(message)  # hold: no champion yet, read the same messages again later
            return
        self.metrics.batch_size.observe(len(records))
        accepted: Accepted = []
        for record in records:
            raw: bytes = record.value or b""
            try:
                accepted.append((record, parse_application(raw)))
            except Rejected as rejected:
                letter = dead_letter(
                    raw, rejected, topic=record.topic, partition=record.partition, offset=record.offset
                )
                await self.dlq.publish(encode(letter), key=record.key)
                self.metrics.dead_letters.labels(rejected.reason).inc()
                if rejected.reply_to and rejected.correlation_id:
                    await self._reply_error(rejected, rejected.reply_to)
        try:
            if accepted:
                await self.decide(accepted, started, received_at)
        except Exception:
            log.exception("a batch of %d failed; it will be read again", len(accepted))
            self.metrics.failures.inc()
            rewind(message)
            await asyncio.sleep(self.settings.retry_backoff_s)
            return
        await message.ack()

    async def _reply_error(self, rejected: Rejected, reply_to: str) -> None:
        """Tell a client waiting on a reply address that its request cannot be decided, and why."""
        error = {"correlation_id": rejected.correlation_id, "error": rejected.error, "reason": rejected.reason}
        await self.broker.publish(json.dumps(error).encode(), reply_to, correlation_id=rejected.correlation_id)

    async def on_training_event(self, event: dict[str, Any]) -> None:
        """Reload the served models when an alias moved."""
        if event.get("type") == self.settings.promoted_event_type:
            log.info("a model was promoted; loading it in the background")
            asyncio.get_running_loop().create_task(self.holder.reload())

    async def decide(self, accepted: Accepted, started: float, received_at: datetime) -> None:
        """Score with the champion (and the challenger in shadow), publish every decision, write the audit rows."""
        served = self.holder.served
        assert served.champion is not None
        applications = [a for _, a in accepted]
        scored = await self._score(applications, started, served.champion)
        shadow = await self._shadow(applications, started, served.challenger)
        for (_, application), result in zip(accepted, scored, strict=True):
            payload = encode(result.decision)
            key = message_key(application.sk_id_curr)
            await self.decisions.publish(payload, key=key)
            if application.reply_to:
                await self.broker.publish(
                    payload, application.reply_to, key=key, correlation_id=application.correlation_id
                )
            self.metrics.decisions.labels(result.decision.decision.value).inc()
            self.metrics.latency.observe(result.decision.latency_ms / 1000)
        rows = [
            audit.audit_row(
                result.decision,
                received_at=received_at,
                application=application.application,
                features=result.features,
                shadow=shadow[k] if shadow else None,
                partition=record.partition,
                offset=record.offset,
            )
            for k, ((record, application), result) in enumerate(zip(accepted, scored, strict=True))
        ]
        await asyncio.to_thread(audit.record, self.engine, rows)

    async def _score(
        self, applications: list[LoanApplicationMessage], started: float, model: ServedModel
    ) -> list[Scored]:
        received = [started] * len(applications)
        return await asyncio.to_thread(score_batch, applications, received, model, self.build_request_features)

    async def _shadow(
        self, applications: list[LoanApplicationMessage], started: float, challenger: ServedModel | None
    ) -> list[dict[str, Any]] | None:
        if challenger is None:
            return None
        try:
            shadowed = await self._score(applications, started, challenger)
        except Exception:
            log.warning("the challenger could not score this batch", exc_info=True)
            return None
        return [
            {
                "version": s.decision.model.version,
                "probability": s.decision.probability,
                "threshold": s.decision.threshold,
                "decision": s.decision.decision.value,
            }
            for s in shadowed
        ]
