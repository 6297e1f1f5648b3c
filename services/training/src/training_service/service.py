"""The training service's logic behind its handlers: parse a command, train or promote, return the event."""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from credit_shared.contracts import training as contract
from credit_shared.contracts.training import ModelPromoted, ModelTrained, PromoteModel, TrainModel
from training_service.search import Progress
from training_service.tracking import MlflowTracker
from training_service.trainer import TrainingError, load_dataset, train_model

log = logging.getLogger(__name__)

COMMANDS: dict[str, type[BaseModel]] = {contract.TRAIN: TrainModel, contract.PROMOTE: PromoteModel}


@dataclass
class TrainingContext:
    """What the logic needs: where datasets live and the MLflow adapter."""

    datasets_dir: Path
    tracker: MlflowTracker
    threads: int = 1


@dataclass(frozen=True)
class ParsedCommand:
    """A command envelope, validated."""

    type: str
    request_id: str
    correlation_id: str
    command: TrainModel | PromoteModel


class CommandRefused(TrainingError):
    """A command refused before any work; carries the ids needed to publish the failure."""

    def __init__(self, request_id: str, correlation_id: str, detail: str, reason: str = "invalid_command") -> None:
        super().__init__(reason, detail)
        self.request_id = request_id
        self.correlation_id = correlation_id


def describe(exc: ValidationError) -> str:
    """A validation error as one precise sentence per problem (``field: message``)."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def parse_command(body: dict[str, Any]) -> ParsedCommand:
    """Validate an envelope of ``training.commands.v1`` (either command type).

    Raises:
        CommandRefused: unknown type, or a payload the contract refuses (with every problem named).
    """
    payload = body.get("payload") if isinstance(body.get("payload"), dict) else {}
    assert isinstance(payload, dict)
    request_id = str(payload.get("request_id") or body.get("correlation_id") or body.get("event_id") or "unknown")[:64]
    correlation = str(body.get("correlation_id") or request_id)
    type_ = str(body.get("type"))
    model = COMMANDS.get(type_)
    if model is None:
        raise CommandRefused(request_id, correlation, f"unknown command type {type_!r}; expected {sorted(COMMANDS)}",
                             "unknown_command")  # fmt: skip
    try:
        command = model.model_validate(payload)
    except ValidationError as exc:
        raise CommandRefused(request_id, correlation, describe(exc)) from None
    assert isinstance(command, TrainModel | PromoteModel)
    return ParsedCommand(type_, command.request_id, correlation, command)


def run_training(command: TrainModel, ctx: TrainingContext, progress: Progress) -> ModelTrained:
    """Train, log and register ``command`` (blocking: call it off the event loop).

    A version already registered for the request id (a redelivery after a crash between registering and
    acknowledging) is returned instead of training again.

    Raises:
        TrainingError: a precise, machine-readable reason the command cannot be carried out.
    """
    existing = ctx.tracker.find_trained(command.request_id)
    if existing is not None:
        log.info("request %s is already registered as version %s", command.request_id, existing.version)
        return existing
    started = time.perf_counter()
    progress("loading", 1.0, f"reading dataset {command.dataset_id}")
    data = load_dataset(ctx.datasets_dir, command.dataset_id)
    with tempfile.TemporaryDirectory(prefix="credit-train-") as tmp:
        trained = train_model(command, data, Path(tmp), progress, threads=ctx.threads)
        progress("registering", 95.0, "logging the run and registering the model")
        event = ctx.tracker.log_and_register(command, trained, time.perf_counter() - started)
    progress("done", 100.0, f"registered {event.model_name} version {event.version}")
    return event


def run_promotion(command: PromoteModel, ctx: TrainingContext) -> ModelPromoted:
    """Move the alias (blocking).

    Raises:
        TrainingError: the version does not exist or the gate refused it.
    """
    return ctx.tracker.promote(command)
