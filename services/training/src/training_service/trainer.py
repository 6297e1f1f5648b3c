"""Training of one command, without MLflow: inputs, split, search, calibration, threshold, final fit, metrics.

The steps, in order:

1. the model inputs: the dataset's features under the command's feature policy (protected attributes kept aside);
2. a stratified test split, held out for the report (and the promotion gate) only;
3. the search by cross-validation on the training rows (LightGBM's number of trees chosen there, by lockstep folds);
4. the calibrator, chosen and fitted on the chosen candidate's out-of-fold probabilities (:mod:`.calibrate`);
5. the threshold, tuned on the calibrated out-of-fold probabilities;
6. the final fit on every training row, with the calibrator inside the pipeline; measured on the test split;
7. optionally (``refit_all_rows``) the registered model refitted on every labelled row, test rows included.

:func:`train_model` returns a :class:`TrainedModel`; :mod:`training_service.tracking` logs and registers it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from credit_shared.commands import CommandRefused
from credit_shared.contracts.training import TrainModel
from credit_shared.datasets import ASIDE, TRAIN, DatasetManifest, dataset_dir, read_manifest
from credit_shared.evaluation import METRICS, CostWeights, best_threshold, business_cost, evaluate
from training_service.artifacts import Evaluation, write_artifacts
from training_service.calibrate import Calibrated, calibrate
from training_service.inputs import InputError, ModelInputs, model_inputs
from training_service.pipeline import Columns, build_pipeline
from training_service.search import CandidateResult, Progress, Searcher, smote_neighbours_fit

log = logging.getLogger(__name__)

TARGET: Final = "TARGET"
ID: Final = "SK_ID_CURR"
MANY_ROWS: Final = 20_000


class TrainingError(CommandRefused):
    """A command that cannot be carried out; ``reason`` is machine-readable, the message says why in words."""


@dataclass
class Dataset:
    """A dataset's labelled rows, the columns it keeps aside (protected attributes) and its manifest."""

    manifest: DatasetManifest
    X: pd.DataFrame
    y: np.ndarray
    aside: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass
class TrainedModel:
    """Everything a run logs: the fitted pipeline, threshold, parameters, metrics and the artifact folder."""

    pipeline: Any
    threshold: float
    params: dict[str, Any]
    metrics: dict[str, float]
    artifacts: Path
    feature_names: list[str]
    input_example: pd.DataFrame
    background: list[float] | None
    manifest: DatasetManifest
    tags: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


def load_dataset(datasets_dir: Path, dataset_id: str) -> Dataset:
    """Read a dataset's labelled rows, features in manifest order, aside columns apart.

    Raises:
        TrainingError: ``dataset_not_found`` or ``invalid_dataset``.
    """
    try:
        manifest = read_manifest(datasets_dir, dataset_id)
    except (FileNotFoundError, ValueError) as exc:
        raise TrainingError("dataset_not_found", str(exc)) from exc
    frame = pd.read_parquet(dataset_dir(datasets_dir, dataset_id) / TRAIN)
    names = [f.name for f in manifest.features]
    missing = [c for c in [*names, TARGET] if c not in frame.columns]
    if missing:
        raise TrainingError("invalid_dataset", f"dataset {dataset_id!r} lacks columns {missing[:10]}")
    y = frame[TARGET].to_numpy().astype(int)
    if len(np.unique(y)) < 2:
        raise TrainingError("invalid_dataset", f"dataset {dataset_id!r} has a single class in {TARGET}")
    return Dataset(manifest, frame[names], y, _aside(datasets_dir, dataset_id, frame))


def _aside(datasets_dir: Path, dataset_id: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The protected columns the dataset keeps apart, row by row as its training part (none for older datasets)."""
    path = dataset_dir(datasets_dir, dataset_id) / ASIDE
    if not path.is_file():
        return pd.DataFrame(index=frame.index)
    aside = pd.read_parquet(path)
    if ID in frame.columns and not np.array_equal(aside[ID].to_numpy(), frame[ID].to_numpy()):
        raise TrainingError("invalid_dataset", f"dataset {dataset_id!r}: {ASIDE} does not match its training rows")
    return aside.drop(columns=[ID]).set_axis(frame.index)


def _proba(pipeline: Any, X: pd.DataFrame) -> tuple[np.ndarray, float]:  # noqa: N803
    started = time.perf_counter()
    p = pipeline.predict_proba(X)[:, 1]
    return np.asarray(p, dtype=float), (time.perf_counter() - started) * 1000 / max(len(X), 1)


def split_metrics(prefix: str, y: np.ndarray, p: np.ndarray, threshold: float, w: CostWeights) -> dict[str, float]:
    """Every metric of one population, prefixed, with the costs of deciding at 0.5 and of accepting everybody."""
    out = {f"{prefix}_{k}": v for k, v in evaluate(y, p, threshold, w).items()}
    out[f"{prefix}_cost_at_0_5"] = business_cost(y, p >= 0.5, w)
    out[f"{prefix}_cost_accept_all"] = business_cost(y, np.zeros(len(y), bool), w)
    return out


def _inputs_and_split(
    command: TrainModel, data: Dataset, y: np.ndarray
) -> tuple[ModelInputs, tuple[np.ndarray, np.ndarray]]:
    """The model inputs under the policy, and the positions of the training and the (stratified) test rows."""
    minority = int(min(np.bincount(y, minlength=2)))
    if minority < 2 * command.folds:
        raise TrainingError("too_few_rows", f"{minority} rows of the rarer class cannot fill {command.folds} folds")
    try:
        inputs = model_inputs(command, data.X, data.aside, dataset_excluded=data.manifest.excluded,
                              dataset_flagged=data.manifest.flagged)  # fmt: skip
    except InputError as exc:
        raise TrainingError("invalid_command", str(exc)) from exc
    train_idx, test_idx = train_test_split(np.arange(len(y)), test_size=command.test_share, stratify=y,
                                           random_state=command.seed)  # fmt: skip
    if reason := smote_neighbours_fit(command, y[train_idx]):
        raise TrainingError("invalid_command", reason)
    return inputs, (train_idx, test_idx)


def _measured(  # noqa: PLR0917 - a private step of train_model
    command: TrainModel,
    best: CandidateResult,
    calibrated: Calibrated,
    threshold: float,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
) -> dict[str, float]:
    """Every metric of the run: per fold and out of fold (calibrated out-of-fold probabilities), train and test."""
    (y_train, p_train), (y_test, p_test) = train, test
    weights = CostWeights(command.cost.fn, command.cost.fp)
    metrics: dict[str, float] = {"train_rows": float(len(y_train)), "test_rows": float(len(y_test))}
    for name in METRICS:  # per fold, on the calibrated out-of-fold probabilities at the chosen threshold
        values = [evaluate(y_train[best.fold == k], calibrated.oof[best.fold == k], threshold, weights)[name]
                  for k in range(command.folds)]  # fmt: skip
        metrics[f"cv_{name}"], metrics[f"cv_{name}_std"] = float(np.mean(values)), float(np.std(values))
    metrics.update(split_metrics("oof", y_train, calibrated.oof, threshold, weights))
    metrics.update(split_metrics("train", y_train, p_train, threshold, weights))
    metrics.update(split_metrics("test", y_test, p_test, threshold, weights))
    metrics["test_constant_brier"] = float(np.mean((y_test - y_train.mean()) ** 2))
    metrics.update({f"oof_log_loss_{m}": v for m, v in calibrated.log_loss.items()})
    if best.trees is not None:
        metrics["trees"] = float(best.trees)
    return metrics


def train_model(command: TrainModel, data: Dataset, out: Path, progress: Progress, *, threads: int = 1) -> TrainedModel:
    """Train, calibrate, tune and evaluate ``command`` on ``data``; write the artifacts under ``out``.

    ``threads`` is used from :data:`MANY_ROWS` rows on; below, one thread is faster (less contention).

    Raises:
        TrainingError: when the data cannot support the command (too few defaults for the folds or SMOTE, a policy
            that leaves no input, monotone constraints on features the model does not take).
    """
    y = np.asarray(data.y).astype(int)
    inputs, (train_idx, test_idx) = _inputs_and_split(command, data, y)
    X_train, X_test = inputs.X.iloc[train_idx], inputs.X.iloc[test_idx]  # noqa: N806
    y_train, y_test = y[train_idx], y[test_idx]
    columns = Columns.of(inputs.X)
    threads = threads if len(y) >= MANY_ROWS else 1
    started = time.perf_counter()
    outcome = Searcher(command, columns, progress, span=(5.0, 78.0), threads=threads).run(X_train, y_train)
    search_s = time.perf_counter() - started
    best = outcome.best
    assert best is not None

    progress("calibration", 78.0, "calibrating the out-of-fold probabilities")
    calibrated = calibrate(best.oof, y_train, command.calibration, command.seed)
    weights = CostWeights(command.cost.fn, command.cost.fp)
    threshold, _ = best_threshold(y_train, calibrated.oof, weights)

    progress("final fit", 80.0, f"fitting the chosen candidate on all {len(y_train)} training rows")
    started = time.perf_counter()
    pipeline = build_pipeline(command, columns, best.params, threads=threads).fit(X_train, y_train)
    pipeline.calibrator = calibrated.calibrator
    fit_s = time.perf_counter() - started
    p_train, _ = _proba(pipeline, X_train)
    p_test, ms_per_row = _proba(pipeline, X_test)
    metrics = {"threshold": threshold, "training_time_s": fit_s, "search_time_s": search_s,
               "inference_ms_per_row": ms_per_row, "candidates": float(len(outcome.results))}  # fmt: skip
    metrics.update(_measured(command, best, calibrated, threshold, (y_train, p_train), (y_test, p_test)))

    registered = pipeline
    if command.refit_all_rows:
        progress("final fit", 86.0, f"refitting on all {len(y)} labelled rows for production")
        registered = build_pipeline(command, columns, best.params, threads=threads).fit(inputs.X, y)
        registered.calibrator = calibrated.calibrator
    metrics["registered_fit_rows"] = float(len(y) if command.refit_all_rows else len(y_train))

    progress("artifacts", 88.0, "figures, importance, model card")
    evaluation = Evaluation(command, data.manifest, inputs, (train_idx, test_idx), y, outcome, calibrated,
                            threshold, (p_train, p_test), metrics)  # fmt: skip
    written = write_artifacts(evaluation, registered, out)
    return TrainedModel(
        pipeline=registered,
        threshold=threshold,
        params=best.params,
        metrics=metrics,
        artifacts=out,
        feature_names=[str(c) for c in inputs.X.columns],
        input_example=written.input_example,
        background=written.background,
        manifest=data.manifest,
        metadata=written.metadata,
    )
