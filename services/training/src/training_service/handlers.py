"""Kafka handlers of the training service (thin: parse, call the service logic off the event loop, publish).

``training.commands.v1`` carries ``model.train`` and ``model.promote``; ``training.events.v1`` receives
``model.progress``, ``model.trained``, ``model.promoted`` and ``model.failed``. A request id is run once (the
command ledger); a redelivered command that already succeeded has its result event published again.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, partial
from typing import Annotated, Any

from faststream.kafka import KafkaRouter
from pydantic import BaseModel, WithJsonSchema
from sqlalchemy import Engine

from credit_shared import mlflow_utils, topics
from credit_shared.commands import CommandLedger, CommandRunner, ProgressReporter
from credit_shared.contracts import training as contract
from credit_shared.contracts.envelope import Envelope
from credit_shared.contracts.training import ModelPromoted, ModelTrained, PromoteModel, TrainModel
from credit_shared.kafka import events_publisher, group_options, inline_schema, subscribe
from training_service.service import COMMANDS, TrainingContext, run_promotion, run_training
from training_service.settings import Settings
from training_service.tracking import MlflowTracker
from training_service.trainer import TrainingError

SOURCE = "training"
EVENTS = (
    "model.progress (stage, percent, fold i of k, candidate j of n, time left), model.trained (run id, registered "
    "version, headline metrics), model.promoted (alias moved), model.failed (the precise reason)."
)
RESULT_TYPES: dict[str, tuple[str, type[BaseModel]]] = {
    contract.TRAIN: (contract.TRAINED, ModelTrained),
    contract.PROMOTE: (contract.PROMOTED, ModelPromoted),
}

# The handler validates the payload itself (to answer a bad command with a failed event); AsyncAPI documents both.
CommandBody = Annotated[
    dict[str, Any],
    WithJsonSchema({"oneOf": [inline_schema(Envelope[TrainModel]), inline_schema(Envelope[PromoteModel])]}),
]


class MlflowUnavailable(TrainingError):
    """The MLflow server does not answer: the command fails at once (and names it) rather than waiting for it."""

    def __init__(self, uri: str, cause: str = "") -> None:
        because = f" ({cause[:500]})" if cause else ""
        super().__init__(
            "mlflow_unavailable",
            f"the MLflow server at {uri} does not answer{because}; the command did not complete. "
            "Ask again once it is back.",
        )


@dataclass
class Training:
    """What the training handler needs: the settings and the command runner."""

    settings: Settings
    commands: CommandRunner

    @cached_property
    def context(self) -> TrainingContext:  # built at the first command: importing MLflow takes seconds
        """The training logic's collaborators."""
        settings = self.settings
        return TrainingContext(settings.platform.datasets_dir, MlflowTracker(settings.mlflow), settings.threads)

    async def on_command(self, body: CommandBody) -> None:
        """Train or promote once per request id; a command the contract refuses gets a failed event at once."""
        if (accepted := await self.commands.accept(body, COMMANDS)) is None:
            return
        result_type, result = RESULT_TYPES[accepted.type]
        await self.commands.run(accepted, partial(self.carry_out, accepted.command), result_type, result)

    def carry_out(self, command: BaseModel, progress: ProgressReporter) -> BaseModel:
        """Train or promote (blocking: the runner calls it in a thread).

        Raises:
            TrainingError: the command cannot be carried out, MLflow not answering included.
        """
        mlflow = self.settings.mlflow
        if not mlflow_utils.ping(mlflow):
            raise MlflowUnavailable(mlflow.tracking_uri)
        try:
            if isinstance(command, TrainModel):
                return run_training(command, self.context, progress)
            assert isinstance(command, PromoteModel)
            return run_promotion(command, self.context)
        except TrainingError:
            raise
        except Exception as exc:
            if not mlflow_utils.ping(mlflow):  # it went away during the work
                raise MlflowUnavailable(mlflow.tracking_uri, f"{type(exc).__name__}: {exc}") from exc
            raise


def make_router(settings: Settings, engine: Engine) -> KafkaRouter:
    """The training service's subscriber and publisher."""
    router = KafkaRouter()
    publish = events_publisher(
        router, topics.TRAINING_EVENTS, SOURCE, description=EVENTS, schema=Envelope[ModelTrained]
    )
    commands = CommandRunner(CommandLedger(engine, SOURCE), publish, contract.PROGRESS, contract.FAILED)
    subscribe(
        router,
        topics.TRAINING_COMMANDS,
        Training(settings, commands).on_command,
        description="model.train: train, tune and register a model on a dataset; model.promote: move the champion "
        "or challenger alias (champion gate unless forced).",
        **group_options(settings.kafka, settings.group_id, long_work=True),
    )
    return router
