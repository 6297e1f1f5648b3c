"""Kafka handlers of the ingestion service: thin, they parse, call the builder and publish events."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from faststream.kafka import KafkaRouter
from sqlalchemy import Engine

from credit_shared import topics
from credit_shared.commands import Accepted, CommandLedger, CommandRefused, CommandRunner, ProgressReporter
from credit_shared.contracts import ingestion
from credit_shared.contracts.envelope import Envelope
from credit_shared.contracts.ingestion import BuildDataset, DatasetBuilt
from credit_shared.kafka import events_publisher, group_options, subscribe
from ingestion_service.builder import BuildContext, build_dataset
from ingestion_service.settings import Settings
from ingestion_service.sources import SourceError, resolve

SOURCE = "ingestion"
EVENTS = (
    "dataset.progress (stage, percent, time left), dataset.built (a reference to the dataset), dataset.failed (the "
    "precise reason)."
)


@dataclass(frozen=True)
class Ingestion:
    """What the ingestion handler needs: the settings, the build's collaborators and the command runner."""

    settings: Settings
    context: BuildContext
    commands: CommandRunner

    async def on_command(self, command: Envelope[BuildDataset]) -> None:
        """Build the dataset once per request id and publish ``dataset.built`` (or ``dataset.failed``)."""
        build = partial(self.build, command.payload)
        await self.commands.run(Accepted.of(command), build, ingestion.BUILT, DatasetBuilt)

    def build(self, request: BuildDataset, progress: ProgressReporter) -> DatasetBuilt:
        """Resolve the raw tables and build the dataset (blocking: the runner calls it in a thread).

        Raises:
            CommandRefused: ``missing_source`` (the raw tables asked for are not there) or ``invalid_data``.
        """
        platform = self.settings.platform
        try:
            source = resolve(
                request.source, data_dir=platform.data_dir, home=platform.home, sample_dir=self.settings.sample_dir
            )
        except SourceError as exc:
            raise CommandRefused("missing_source", str(exc)) from exc
        try:
            return build_dataset(request, source, self.context, progress)
        except (ValueError, FileNotFoundError, OSError) as exc:
            raise CommandRefused("invalid_data", f"{type(exc).__name__}: {exc}") from exc


def make_router(settings: Settings, engine: Engine) -> KafkaRouter:
    """The ingestion service's subscriber and publisher."""
    router = KafkaRouter()
    publish = events_publisher(router, topics.DATASET_EVENTS, SOURCE, description=EVENTS, schema=Envelope[DatasetBuilt])
    context = BuildContext(
        datasets_dir=settings.platform.datasets_dir,
        engine=engine,
        mlflow=settings.mlflow,
        memory_limit=settings.memory_limit,
        threads=settings.threads,
    )
    commands = CommandRunner(CommandLedger(engine, SOURCE), publish, ingestion.PROGRESS, ingestion.FAILED)
    subscribe(
        router,
        topics.DATASET_COMMANDS,
        Ingestion(settings, context, commands).on_command,
        description="dataset.build: build a versioned dataset from the raw tables with the given cleaning.",
        **group_options(settings.kafka, settings.group_id, long_work=True),
    )
    return router
