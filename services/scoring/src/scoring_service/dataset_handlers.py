"""Kafka handler of dataset scoring (thin: parse, score off the event loop, publish).

``scoring.commands.v1`` carries ``scoring.score_dataset``; ``scoring.events.v1`` receives ``scoring.progress``,
``scoring.dataset_scored`` and ``scoring.failed``. A request id is run once (the command ledger); a redelivered
command that already succeeded has its result event published again.

The scoring runs in a worker thread and its own consumer group, so the ``loan-applications`` consumer keeps
deciding the stream while a dataset is scored.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine

from credit_shared import scorings, topics
from credit_shared.commands import CommandLedger, ProgressReporter
from credit_shared.contracts import scoring as contract
from credit_shared.contracts.common import Failed, Progress
from credit_shared.contracts.envelope import Envelope, envelope
from credit_shared.contracts.scoring import DatasetScored, ScoreDataset
from credit_shared.kafka import documented_bytes, raw_decoder
from scoring_service.dataset_scoring import ScoringError, ScoringPlaces, headline, score_dataset
from scoring_service.dead_letters import errors_in_words
from scoring_service.holder import ModelHolder
from scoring_service.served import ServedModel
from scoring_service.settings import Settings
from scoring_service.versions import UnknownVersion, VersionCache

log = logging.getLogger(__name__)
SOURCE = "scoring"

if TYPE_CHECKING:
    CommandBytes = bytes
else:  # validated by the handler (a bad command gets a failed event), documented in AsyncAPI
    CommandBytes = documented_bytes(Envelope[ScoreDataset])


class CommandRefused(Exception):
    """A command refused before any work, with the ids needed to publish its failure."""

    def __init__(self, request_id: str, correlation_id: str, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.request_id = request_id
        self.correlation_id = correlation_id
        self.reason = reason
        self.detail = detail


def parse_command(raw: bytes) -> tuple[ScoreDataset, str]:
    """The command and its correlation id, from the bytes of a ``scoring.commands.v1`` message.

    Raises:
        CommandRefused: not JSON, an unknown type, or a payload the contract refuses (every problem named).
    """
    try:
        data: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandRefused("unknown", "unknown", "invalid_command", f"not a JSON command: {exc}") from None
    data = data if isinstance(data, dict) else {}
    payload = data.get("payload") if isinstance(data.get("payload"), dict) else {}
    request_id = str(payload.get("request_id") or data.get("correlation_id") or "unknown")[:64]
    correlation = str(data.get("correlation_id") or request_id)
    if data.get("type") != contract.SCORE_DATASET:
        detail = f"unknown command type {data.get('type')!r}; expected {contract.SCORE_DATASET!r}"
        raise CommandRefused(request_id, correlation, "unknown_command", detail)
    try:
        command = Envelope[ScoreDataset].model_validate(data).payload
    except ValidationError as exc:
        raise CommandRefused(request_id, correlation, "invalid_command", errors_in_words(exc)) from None
    return command, correlation


@dataclass
class DatasetScoring:
    """The collaborators of dataset scoring: the served models, the named versions, the ledger, the stores."""

    settings: Settings
    holder: ModelHolder
    versions: VersionCache
    engine: Engine

    def register(self, broker: KafkaBroker) -> None:
        """Subscribe the command handler to ``broker``."""
        settings = self.settings
        self.ledger = CommandLedger(self.engine, SOURCE)
        self.places = ScoringPlaces(
            settings.platform.datasets_dir, scorings.scorings_dir(settings.platform.home), settings.dataset_chunk_rows
        )
        self.events = broker.publisher(
            topics.SCORING_EVENTS.name,
            title="scoring.events.v1",
            description="scoring.progress (stage, percent, rows done, time left), scoring.dataset_scored (the "
            "stored scoring's id and headline figures), scoring.failed (the precise reason).",
            schema=Envelope[DatasetScored],
        )
        broker.subscriber(
            topics.SCORING_COMMANDS.name,
            group_id=f"{settings.group_id}-datasets",  # not the stream's group: a long scoring never stalls it
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.ACK,  # committed once handled: a scoring cut short by a crash is redelivered
            decoder=raw_decoder,
            session_timeout_ms=settings.kafka.session_timeout_ms,
            heartbeat_interval_ms=settings.kafka.heartbeat_interval_ms,
            max_poll_interval_ms=6 * 3600 * 1000,  # a full-scale scoring takes minutes: never leave the group
            title="scoring.commands.v1",
            description="scoring.score_dataset: score every applicant of a dataset part (or a seeded sample) with "
            "the champion or a named version; store probability, decision and reasons per applicant.",
        )(self.on_command)

    async def on_command(self, body: CommandBytes) -> None:
        """Run one command: claim it, choose the model, score in a thread, store, publish the result."""
        try:
            command, correlation = parse_command(body)
        except CommandRefused as exc:
            await self._fail(exc.request_id, exc.correlation_id, exc.reason, exc.detail, record=False)
            return
        request_id = command.request_id
        claim = await asyncio.to_thread(self.ledger.claim, request_id, contract.SCORE_DATASET)
        if not claim.new:
            log.info("scoring %s already %s; not run again", request_id, claim.status)
            if claim.status == "succeeded" and claim.result:
                await self._publish(contract.DATASET_SCORED, DatasetScored.model_validate(claim.result), correlation)
            return

        async def send_progress(progress: Progress) -> None:
            await self._publish(contract.PROGRESS, progress, correlation)

        reporter = ProgressReporter(request_id, send_progress, asyncio.get_running_loop())
        try:
            model = await self._model(command.model_version)
            summary = await asyncio.to_thread(score_dataset, command, model, self.places, reporter)
        except ScoringError as exc:
            await self._fail(request_id, correlation, exc.reason, str(exc))
            return
        except Exception as exc:
            log.exception("scoring %s failed", request_id)
            await self._fail(request_id, correlation, "internal_error", f"{type(exc).__name__}: {exc}")
            return
        result = headline(summary)
        await asyncio.to_thread(self.ledger.finish, request_id, "succeeded", result.model_dump(mode="json"))
        await self._publish(contract.DATASET_SCORED, result, correlation)

    async def _model(self, version: str | None) -> ServedModel:
        """The champion being served, or the named version (loaded in a thread, kept in the version cache).

        Raises:
            ScoringError: ``no_champion``, ``unknown_model_version`` or ``model_unavailable``.
        """
        if version is None:
            if not await self.holder.wait_ready(self.settings.hold_wait_s):
                detail = self.holder.last_error or "promote a version to champion, or name a version"
                raise ScoringError("no_champion", f"no champion is served: {detail}")
            champion = self.holder.served.champion
            assert champion is not None
            return champion
        served = self.holder.served
        try:
            return await self.versions.get(version, served=(served.champion, served.challenger))
        except UnknownVersion as exc:
            raise ScoringError("unknown_model_version", str(exc)) from exc
        except Exception as exc:
            raise ScoringError("model_unavailable", f"version {version} cannot be loaded now: {exc}") from exc

    async def _publish(self, type_: str, payload: BaseModel, correlation_id: str) -> None:
        await self.events.publish(envelope(payload, type_=type_, source=SOURCE, correlation_id=correlation_id))

    async def _fail(self, request_id: str, correlation: str, reason: str, detail: str, *, record: bool = True) -> None:
        log.warning("scoring %s failed (%s): %s", request_id, reason, detail)
        if record:
            await asyncio.to_thread(self.ledger.finish, request_id, "failed", {"reason": reason, "detail": detail})
        failed = Failed(request_id=request_id, reason=reason, detail=detail)
        await self._publish(contract.FAILED, failed, correlation)
