"""Kafka handlers of the scoring service: parse each message on its own, decide the valid ones, publish, audit."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.publisher import DefaultPublisher
from sqlalchemy import Engine

from credit_shared import topics
from credit_shared.contracts.envelope import utc_now
from credit_shared.contracts.loans import (
    MODEL_UNAVAILABLE,
    SCORING_FAILED,
    UNKNOWN_MODEL_VERSION,
    DeadLetter,
    LoanApplicationMessage,
    LoanDecision,
    encode,
    message_key,
)
from credit_shared.kafka import documented_batch, raw_decoder, rewind
from scoring_service import audit
from scoring_service.dead_letters import Rejected, dead_letter, parse_application
from scoring_service.holder import ModelHolder
from scoring_service.metrics import ScoringMetrics
from scoring_service.scorer import FeatureBuilder, Scored, ServedModel, explain_batch, score_batch
from scoring_service.settings import Settings
from scoring_service.versions import UnknownVersion, VersionCache

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    ApplicationBatch = list[bytes]
else:  # raw bytes, documented in AsyncAPI as the public contract
    ApplicationBatch = documented_batch(LoanApplicationMessage)

Accepted = list[tuple[ConsumerRecord[Any, Any], LoanApplicationMessage]]


@dataclass(frozen=True)
class Unfinished:
    """What is left of a batch once its decisions are handed to the producer: the broker's acknowledgements to
    wait for, and the audit rows to write."""

    pending: list[asyncio.Future[Any]]
    rows: list[dict[str, Any]]


@dataclass
class Scoring:
    """The scoring service's collaborators and its per-batch logic."""

    settings: Settings
    metrics: ScoringMetrics
    holder: ModelHolder
    engine: Engine
    build_request_features: FeatureBuilder
    versions: VersionCache = field(default_factory=lambda: VersionCache(_no_registry, 0))
    _reloads: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)
    _finishing: tuple[asyncio.Task[None], list[ConsumerRecord[Any, Any]]] | None = field(
        default=None, init=False, repr=False
    )  # the previous batch's acknowledgements, audit write and commit, still running

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
            fetch_max_wait_ms=settings.fetch_wait_ms,
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

    async def on_applications(self, body: ApplicationBatch, message: KafkaMessage) -> None:
        """One batch: dead-letter what cannot be decided, decide the rest, publish, audit, then commit.

        With a real consumer the audit write and the commit of a batch run while the next batch is scored (they
        wait for the broker and the database, scoring for the cores): a batch is committed, at its own offsets,
        only after its decisions are acknowledged and its audit rows written, and after the batch before it. If
        that fails, both batches are read again (their decisions may be published twice; the audit keeps one row
        per request id).
        """
        started, received_at = time.monotonic(), utc_now()
        records: list[ConsumerRecord[Any, Any]] = list(message.raw_message)  # type: ignore[arg-type]
        self.metrics.received.inc(len(records))
        if not await self.holder.wait_ready(self.settings.hold_wait_s):
            self.metrics.held.inc(len(records))
            if await self._finished(message, records):
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
            unfinished = await self.decide(accepted, started, received_at) if accepted else []
        except Exception:
            log.exception("a batch of %d failed; it will be read again", len(accepted))
            if await self._finished(message, records):
                await self._failed(message, records)
            return
        if not await self._finished(message, records):
            return
        task = asyncio.get_running_loop().create_task(self._finish(unfinished, message, records))
        self._finishing = (task, records)
        if not isinstance(message.consumer, AIOKafkaConsumer):  # the in-memory test broker: finished at once
            await self._finished(message, [])

    async def _complete(self, unfinished: list[Unfinished]) -> None:
        """Wait for the acknowledgements, then write the audit rows."""
        for part in unfinished:
            if part.pending:
                await asyncio.gather(*part.pending)
            await asyncio.to_thread(audit.record, self.engine, part.rows)

    async def _finish(
        self, unfinished: list[Unfinished], message: KafkaMessage, records: list[ConsumerRecord[Any, Any]]
    ) -> None:
        """Complete the batch, then commit its offsets (the next ones to read)."""
        await self._complete(unfinished)
        if not isinstance(message.consumer, AIOKafkaConsumer):
            await message.ack()  # the in-memory test broker has no offsets of its own
            return
        offsets: dict[TopicPartition, int] = {}
        for record in records:
            partition = TopicPartition(record.topic, record.partition)
            offsets[partition] = max(offsets.get(partition, 0), record.offset + 1)
        await message.consumer.commit(offsets)  # type: ignore[call-arg]

    async def _finished(self, message: KafkaMessage, records: list[ConsumerRecord[Any, Any]]) -> bool:
        """Wait for the previous batch to be finished; False (and both batches to be read again) if it failed."""
        if self._finishing is None:
            return True
        task, previous = self._finishing
        self._finishing = None
        try:
            await task
        except Exception:
            log.exception("finishing the previous batch failed; it will be read again")
            await self._failed(message, [*previous, *records])
            return False
        return True

    async def _failed(self, message: KafkaMessage, records: list[ConsumerRecord[Any, Any]]) -> None:
        self.metrics.failures.inc()
        rewind(message, records)
        await asyncio.sleep(self.settings.retry_backoff_s)

    async def drain(self) -> None:
        """Finish the batch in flight (at shutdown, before the consumer stops)."""
        if self._finishing is not None:
            task, _ = self._finishing
            self._finishing = None
            with contextlib.suppress(Exception):
                await task

    async def _reply_error(self, rejected: Rejected, reply_to: str) -> None:
        """Tell a client waiting on a reply address that its request cannot be decided, and why."""
        await self._tell(reply_to, rejected.correlation_id, rejected.reason, rejected.error)

    async def _tell(self, reply_to: str, correlation_id: str | None, reason: str, error: str) -> None:
        """An error reply: the waiting client learns why, instead of waiting for its timeout."""
        payload = json.dumps({"correlation_id": correlation_id, "error": error, "reason": reason}).encode()
        await self.broker.publish(payload, reply_to, correlation_id=correlation_id)

    async def on_training_event(self, event: dict[str, Any]) -> None:
        """Reload the served models when an alias moved."""
        if event.get("type") == self.settings.promoted_event_type:
            log.info("a model was promoted; loading it in the background")
            task = asyncio.get_running_loop().create_task(self.reload_models())
            self._reloads.add(task)  # the loop holds tasks weakly: an unreferenced one may vanish mid-load
            task.add_done_callback(self._reloads.discard)

    async def reload_models(self) -> None:
        """Serve what the aliases point at now and show the versions in the metrics.

        Both the periodic check and a model-promoted event come here, so the version gauge follows a swap at once
        instead of at the next periodic check.
        """
        await self.holder.reload()
        served = self.holder.served
        for alias, model in (("champion", served.champion), ("challenger", served.challenger)):
            self.metrics.model_version.labels(alias).set(float(model.ref.version) if model else 0)

    async def decide(self, accepted: Accepted, started: float, received_at: datetime) -> list[Unfinished]:
        """Decide the lending applications with the champion, then answer the internal reply-only requests.

        Returns what is left once every decision is handed to the producer: waiting for the broker's
        acknowledgements and writing the audit rows.
        """
        stream = [(r, a) for r, a in accepted if not a.replies_only]
        finishing: list[Unfinished] = []
        if stream:
            finishing.append(await self._decide_with_champion(stream, started, received_at))
        requests: dict[tuple[str | None, bool], Accepted] = {}
        for record, application in accepted:
            if application.replies_only:
                requests.setdefault((application.model_version, application.explain is not None), []).append(
                    (record, application)
                )
        for (version, explain), group in requests.items():
            await self._answer(group, version, explain=explain, started=started, received_at=received_at)
        return finishing

    async def _decide_with_champion(self, accepted: Accepted, started: float, received_at: datetime) -> Unfinished:
        """Score with the champion (and the challenger in shadow) and publish every decision; returns the wait for
        the acknowledgements and the audit write."""
        served = self.holder.served
        assert served.champion is not None
        applications = [a for _, a in accepted]
        scored = await self._score(applications, started, served.champion)
        shadow = await self._shadow(applications, started, served.challenger)
        return await self._publish(accepted, scored, shadow, received_at)

    async def _answer(
        self, group: Accepted, version: str | None, *, explain: bool, started: float, received_at: datetime
    ) -> None:
        """Reply-only requests of one model version: a named version's decisions (audited, never on
        loan-decisions: an analyst's what-if is not a lending decision) or full explanations (not audited)."""
        applications = [a for _, a in group]
        served = self.holder.served
        try:
            model = (
                served.champion
                if version is None
                else await self.versions.get(version, served=(served.champion, served.challenger))
            )
            assert model is not None
        except UnknownVersion as exc:
            await self._tell_all(applications, UNKNOWN_MODEL_VERSION, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - MLflow down or a broken version: tell the clients, keep going
            log.warning("named version %s cannot be loaded: %s", version, exc)
            await self._tell_all(applications, MODEL_UNAVAILABLE, f"version {version} cannot be loaded now: {exc}")
            return
        try:
            if explain:
                explained = await asyncio.to_thread(explain_batch, applications, model, self.build_request_features)
            else:
                scored = await self._score(applications, started, model)
        except Exception as exc:  # one unanswerable request must not hold the stream
            log.exception("version %s could not answer %d request(s)", model.ref.version, len(applications))
            await self._tell_all(applications, SCORING_FAILED, f"version {model.ref.version} failed: {exc}")
            return
        if explain:
            for application, explanation in zip(applications, explained, strict=True):
                await self._reply(application, encode(explanation))
            return
        await self._complete([await self._publish(group, scored, None, received_at, public=False)])

    async def _tell_all(self, applications: list[LoanApplicationMessage], reason: str, error: str) -> None:
        for application in applications:
            if application.reply_to:
                await self._tell(application.reply_to, application.correlation_id, reason, error)

    async def _reply(self, application: LoanApplicationMessage, payload: bytes) -> None:
        if application.reply_to:
            key = message_key(application.sk_id_curr)
            await self.broker.publish(payload, application.reply_to, key=key, correlation_id=application.correlation_id)

    async def _publish(
        self,
        accepted: Accepted,
        scored: list[Scored],
        shadow: list[dict[str, Any]] | None,
        received_at: datetime,
        *,
        public: bool = True,
    ) -> Unfinished:
        """Publish each decision (on loan-decisions when ``public``, and to its reply address); returns the wait for
        the acknowledgements and the audit write, which must succeed before the batch is committed.

        The decisions are handed to the producer without waiting for each acknowledgement (one round trip per
        message would cap the stream near the broker's latency): a send that fails still fails the batch, which is
        read again.
        """
        pending: list[asyncio.Future[Any]] = []
        for (_, application), result in zip(accepted, scored, strict=True):
            payload = encode(result.decision)
            if public:
                sent = await self.decisions.publish(payload, key=message_key(application.sk_id_curr), no_confirm=True)
                if isinstance(sent, asyncio.Future):  # the in-memory test broker returns nothing
                    pending.append(sent)
            await self._reply(application, payload)
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
        return Unfinished(pending, rows)

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


def _no_registry(version: str) -> ServedModel:
    raise UnknownVersion(f"version {version} cannot be named here: only the served models are known")
