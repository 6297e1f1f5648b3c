"""Kafka handlers of the training service (thin: parse, call the service logic off the event loop, publish).

``training.commands.v1`` carries ``model.train`` and ``model.promote``; ``training.events.v1`` receives
``model.progress``, ``model.trained``, ``model.promoted`` and ``model.failed``. A request id is run once (the
command ledger); a redelivered command that already succeeded has its result event published again.
"""

from __future__ import annotations

import asyncio
import logging
from functools import cache
from typing import Annotated, Any

from faststream.kafka import KafkaBroker
from pydantic import BaseModel, WithJsonSchema
from sqlalchemy import Engine

from credit_shared import mlflow_utils, topics
from credit_shared.commands import CommandLedger, ProgressReporter
from credit_shared.contracts import training as contract
from credit_shared.contracts.common import Failed, Progress
from credit_shared.contracts.envelope import Envelope, envelope
from credit_shared.contracts.training import ModelPromoted, ModelTrained, PromoteModel, TrainModel
from training_service.service import (
    CommandRefused,
    TrainingContext,
    parse_command,
    run_promotion,
    run_training,
)
from training_service.settings import Settings
from training_service.tracking import MlflowTracker
from training_service.trainer import TrainingError

log = logging.getLogger(__name__)
SOURCE = "training"
RESULT_TYPES: dict[str, tuple[str, type[BaseModel]]] = {
    contract.TRAIN: (contract.TRAINED, ModelTrained),
    contract.PROMOTE: (contract.PROMOTED, ModelPromoted),
}


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with every ``$ref`` replaced by its definition (embeddable in another document)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


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


def register(broker: KafkaBroker, settings: Settings, engine: Engine) -> None:
    """Subscribe the training handlers to ``broker``."""
    ledger = CommandLedger(engine, SOURCE)

    @cache
    def context() -> TrainingContext:  # built at the first command: importing MLflow takes seconds
        return TrainingContext(settings.platform.datasets_dir, MlflowTracker(settings.mlflow), settings.threads)

    events = broker.publisher(
        topics.TRAINING_EVENTS.name,
        title="training.events.v1",
        description="model.progress (stage, percent, fold i of k, candidate j of n, time left), model.trained (run "
        "id, registered version, headline metrics), model.promoted (alias moved), model.failed (the precise reason).",
        schema=Envelope[ModelTrained],
    )

    async def publish(type_: str, payload: BaseModel, correlation_id: str) -> None:
        await events.publish(envelope(payload, type_=type_, source=SOURCE, correlation_id=correlation_id))

    async def fail(request_id: str, correlation: str, reason: str, detail: str, *, record: bool = True) -> None:
        log.warning("command %s failed (%s): %s", request_id, reason, detail)
        if record:
            await asyncio.to_thread(ledger.finish, request_id, "failed", {"reason": reason, "detail": detail})
        await publish(contract.FAILED, Failed(request_id=request_id, reason=reason, detail=detail), correlation)

    @broker.subscriber(
        topics.TRAINING_COMMANDS.name,
        group_id=settings.group_id,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.kafka.session_timeout_ms,
        heartbeat_interval_ms=settings.kafka.heartbeat_interval_ms,
        max_poll_interval_ms=6 * 3600 * 1000,  # a search can take long: never leave the group for it
        title="training.commands.v1",
        description="model.train: train, tune and register a model on a dataset; model.promote: move the champion "
        "or challenger alias (champion gate unless forced).",
    )
    async def on_command(body: CommandBody) -> None:
        try:
            parsed = parse_command(body)
        except CommandRefused as exc:
            await fail(exc.request_id, exc.correlation_id, exc.reason, str(exc), record=False)
            return
        request_id, correlation = parsed.request_id, parsed.correlation_id
        result_type, result_model = RESULT_TYPES[parsed.type]
        claim = await asyncio.to_thread(ledger.claim, request_id, parsed.type)
        if not claim.new:
            log.info("command %s already %s; not run again", request_id, claim.status)
            if claim.status == "succeeded" and claim.result:
                await publish(result_type, result_model.model_validate(claim.result), correlation)
            return

        async def send_progress(progress: Progress) -> None:
            await publish(contract.PROGRESS, progress, correlation)

        reporter = ProgressReporter(request_id, send_progress, asyncio.get_running_loop())
        try:
            if not await asyncio.to_thread(mlflow_utils.ping, settings.mlflow):
                raise MlflowUnavailable(settings.mlflow.tracking_uri)
            ctx = await asyncio.to_thread(context)
            if isinstance(parsed.command, TrainModel):
                result: BaseModel = await asyncio.to_thread(run_training, parsed.command, ctx, reporter)
            else:
                result = await asyncio.to_thread(run_promotion, parsed.command, ctx)
        except TrainingError as exc:
            await fail(request_id, correlation, exc.reason, str(exc))
            return
        except Exception as exc:
            if not await asyncio.to_thread(mlflow_utils.ping, settings.mlflow):  # it went away during the work
                unavailable = MlflowUnavailable(settings.mlflow.tracking_uri, f"{type(exc).__name__}: {exc}")
                await fail(request_id, correlation, unavailable.reason, str(unavailable))
                return
            log.exception("command %s failed", request_id)
            await fail(request_id, correlation, "internal_error", f"{type(exc).__name__}: {exc}")
            return
        await asyncio.to_thread(ledger.finish, request_id, "succeeded", result.model_dump(mode="json"))
        await publish(result_type, result, correlation)
