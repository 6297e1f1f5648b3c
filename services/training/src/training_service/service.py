"""The training service's logic behind its handlers: train or promote, return the event."""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from credit_shared.contracts import training as contract
from credit_shared.contracts.training import ModelPromoted, ModelTrained, PromoteModel, TrainModel
from training_service.search import Progress
from training_service.tracking import MlflowTracker
from training_service.trainer import load_dataset, train_model

log = logging.getLogger(__name__)

COMMANDS: dict[str, type[BaseModel]] = {contract.TRAIN: TrainModel, contract.PROMOTE: PromoteModel}


@dataclass
class TrainingContext:
    """What the logic needs: where datasets live and the MLflow adapter."""

    datasets_dir: Path
    tracker: MlflowTracker
    threads: int = 1


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
