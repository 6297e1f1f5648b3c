"""Kafka handler of dataset scoring (thin: parse, score off the event loop, publish).

``scoring.commands.v1`` carries ``scoring.score_dataset``; ``scoring.events.v1`` receives ``scoring.progress``,
``scoring.dataset_scored`` and ``scoring.failed``. A request id is run once (the command ledger); a redelivered
command that already succeeded has its result event published again.

The scoring runs in a worker thread and its own consumer group, so the ``loan-applications`` consumer keeps
deciding the stream while a dataset is scored.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaRouter
from sqlalchemy import Engine

from credit_shared import scorings, topics
from credit_shared.commands import CommandLedger, CommandRunner, ProgressReporter
from credit_shared.contracts import scoring as contract
from credit_shared.contracts.envelope import Envelope
from credit_shared.contracts.scoring import DatasetScored, ScoreDataset
from credit_shared.kafka import documented_bytes, events_publisher, group_options, raw_decoder, subscribe
from scoring_service.dataset_scoring import ScoringError, ScoringPlaces, headline, score_dataset
from scoring_service.holder import ModelHolder
from scoring_service.served import ServedModel
from scoring_service.settings import Settings
from scoring_service.versions import UnknownVersion, VersionCache

SOURCE = "scoring"
COMMANDS = {contract.SCORE_DATASET: ScoreDataset}

if TYPE_CHECKING:
    CommandBytes = bytes
else:  # validated by the handler (a bad command gets a failed event), documented in AsyncAPI
    CommandBytes = documented_bytes(Envelope[ScoreDataset])


@dataclass
class DatasetScoring:
    """The collaborators of dataset scoring: the served models, the named versions, the ledger, the stores."""

    settings: Settings
    holder: ModelHolder
    versions: VersionCache
    engine: Engine

    def register(self, broker: KafkaBroker) -> None:
        """Include the dataset scoring's router (its command handler and events) in ``broker``."""
        broker.include_router(self.router())

    def router(self) -> KafkaRouter:
        """The command handler's subscriber and the events publisher."""
        settings = self.settings
        router = KafkaRouter()
        self.places = ScoringPlaces(
            settings.platform.datasets_dir, scorings.scorings_dir(settings.platform.home), settings.dataset_chunk_rows
        )
        publish = events_publisher(
            router,
            topics.SCORING_EVENTS,
            SOURCE,
            description="scoring.progress (stage, percent, rows done, time left), scoring.dataset_scored (the "
            "stored scoring's id and headline figures), scoring.failed (the precise reason).",
            schema=Envelope[DatasetScored],
        )
        self.commands = CommandRunner(CommandLedger(self.engine, SOURCE), publish, contract.PROGRESS, contract.FAILED)
        subscribe(
            router,
            topics.SCORING_COMMANDS,
            self.on_command,
            description="scoring.score_dataset: score every applicant of a dataset part (or a seeded sample) with "
            "the champion or a named version; store probability, decision and reasons per applicant.",
            # not the stream's group: a long scoring never stalls it
            **group_options(settings.kafka, f"{settings.group_id}-datasets", long_work=True),
            ack_policy=AckPolicy.ACK,  # committed once handled: a scoring cut short by a crash is redelivered
            decoder=raw_decoder,
        )
        return router

    async def on_command(self, body: CommandBytes) -> None:
        """Run one command once per request id: choose the model, score in a thread, store, publish the result."""
        if (accepted := await self.commands.accept(body, COMMANDS)) is None:
            return
        score = partial(self.score, accepted.command, asyncio.get_running_loop())
        await self.commands.run(accepted, score, contract.DATASET_SCORED, DatasetScored)

    def score(
        self, command: ScoreDataset, loop: asyncio.AbstractEventLoop, progress: ProgressReporter
    ) -> DatasetScored:
        """Score the dataset (blocking: the runner calls it in a thread; the model is chosen on ``loop``).

        Raises:
            ScoringError: the scoring cannot be carried out (no model, an unknown dataset or part ...).
        """
        model = asyncio.run_coroutine_threadsafe(self._model(command.model_version), loop).result()
        return headline(score_dataset(command, model, self.places, progress))

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
