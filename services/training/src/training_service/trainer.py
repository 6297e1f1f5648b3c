"""Training of one command, without MLflow: split, search, threshold, final fit, metrics, artifacts in a folder.

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

from credit_shared.contracts.training import TrainModel
from credit_shared.datasets import TRAIN, DatasetManifest, dataset_dir, read_manifest
from credit_shared.evaluation import METRICS, CostWeights, business_cost, evaluate
from credit_shared.models import LoadedModel, source_columns
from training_service.card import CardInputs, fairness_table, model_card, sensitive_groups
from training_service.figures import FigureWriter, write_json
from training_service.pipeline import Columns, build_pipeline
from training_service.search import Progress, Searcher, SearchOutcome, smote_neighbours_fit

log = logging.getLogger(__name__)

TARGET: Final = "TARGET"
ID: Final = "SK_ID_CURR"
SHAP_ROWS: Final = 500
MANY_ROWS: Final = 20_000


class TrainingError(Exception):
    """A command that cannot be carried out; ``reason`` is machine-readable, the message says why in words."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass
class Dataset:
    """A dataset's labelled rows and manifest."""

    manifest: DatasetManifest
    X: pd.DataFrame
    y: np.ndarray


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


def load_dataset(datasets_dir: Path, dataset_id: str) -> Dataset:
    """Read a dataset's labelled rows, features in manifest order.

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
    return Dataset(manifest, frame[names], y)


def _timed_proba(pipeline: Any, X: pd.DataFrame) -> tuple[np.ndarray, float]:  # noqa: N803
    started = time.perf_counter()
    p = pipeline.predict_proba(X)[:, 1]
    return np.asarray(p, dtype=float), (time.perf_counter() - started) * 1000 / max(len(X), 1)


def _metrics(prefix: str, y: np.ndarray, p: np.ndarray, threshold: float, w: CostWeights) -> dict[str, float]:
    out = {f"{prefix}_{k}": v for k, v in evaluate(y, p, threshold, w).items()}
    out[f"{prefix}_cost_at_0_5"] = business_cost(y, p >= 0.5, w)
    out[f"{prefix}_cost_accept_all"] = business_cost(y, np.zeros(len(y), bool), w)
    return out


@dataclass
class _Split:
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: np.ndarray
    y_test: np.ndarray


def train_model(command: TrainModel, data: Dataset, out: Path, progress: Progress, *, threads: int = 1) -> TrainedModel:
    """Train, tune and evaluate ``command`` on ``data``; write the artifacts under ``out``.

    ``threads`` is used from :data:`MANY_ROWS` rows on; below, one thread is faster (less contention).

    Raises:
        TrainingError: when the data cannot support the command (too few defaults for the folds or SMOTE).
    """
    data = Dataset(data.manifest, data.X, np.asarray(data.y).astype(int))
    minority = int(min(np.bincount(data.y, minlength=2)))
    if minority < 2 * command.folds:
        raise TrainingError("too_few_rows", f"{minority} rows of the rarer class cannot fill {command.folds} folds")
    split = _Split(*train_test_split(data.X, data.y, test_size=command.test_share, stratify=data.y,
                                     random_state=command.seed))  # fmt: skip
    if reason := smote_neighbours_fit(command, split.y_train):
        raise TrainingError("invalid_command", reason)
    columns = Columns.of(data.X)
    threads = threads if len(data.y) >= MANY_ROWS else 1
    started = time.perf_counter()
    searcher = Searcher(command, columns, progress, span=(5.0, 80.0), threads=threads)
    outcome = searcher.run(split.X_train, split.y_train)
    search_s = time.perf_counter() - started
    best = outcome.best
    assert best is not None

    progress("final fit", 80.0, "fitting the chosen candidate on every training row")
    started = time.perf_counter()
    pipeline = build_pipeline(command, columns, best.params, threads=threads).fit(split.X_train, split.y_train)
    fit_s = time.perf_counter() - started
    p_train, _ = _timed_proba(pipeline, split.X_train)
    p_test, ms_per_row = _timed_proba(pipeline, split.X_test)
    metrics = {
        "threshold": best.threshold,
        "training_time_s": fit_s,
        "search_time_s": search_s,
        "inference_ms_per_row": ms_per_row,
        "candidates": float(len(outcome.results)),
    }
    weights = CostWeights(command.cost.fn, command.cost.fp)
    for name in METRICS:
        values = [m[name] for m in best.fold_metrics]
        metrics[f"cv_{name}"], metrics[f"cv_{name}_std"] = float(np.mean(values)), float(np.std(values))
    metrics.update(_metrics("oof", split.y_train, best.oof, best.threshold, weights))
    metrics.update(_metrics("train", split.y_train, p_train, best.threshold, weights))
    metrics.update(_metrics("test", split.y_test, p_test, best.threshold, weights))

    progress("artifacts", 88.0, "figures, importance, model card")
    background = None
    if hasattr(pipeline.named_steps["classifier"], "coef_") and "pca" not in pipeline.named_steps:
        background = [float(v) for v in pipeline[:-1].transform(split.X_train).mean(axis=0)]
    names = [str(c) for c in data.X.columns]
    loaded = LoadedModel(pipeline, best.threshold, "candidate", "0", names, family=command.family.value,
                         background=None if background is None else np.asarray(background))  # fmt: skip
    _write_artifacts(command, data, split, outcome, loaded, (p_train, p_test), metrics, out)
    return TrainedModel(
        pipeline=pipeline,
        threshold=best.threshold,
        params=best.params,
        metrics=metrics,
        artifacts=out,
        feature_names=names,
        input_example=loaded.frame(split.X_test.head(5)),
        background=background,
        manifest=data.manifest,
    )


def _write_artifacts(  # noqa: PLR0917 - a private step of train_model
    command: TrainModel,
    data: Dataset,
    split: _Split,
    outcome: SearchOutcome,
    loaded: LoadedModel,
    probabilities: tuple[np.ndarray, np.ndarray],
    metrics: dict[str, float],
    out: Path,
) -> None:
    best = outcome.best
    assert best is not None
    threshold, weights = best.threshold, CostWeights(command.cost.fn, command.cost.fp)
    p_train, p_test = probabilities
    figures = FigureWriter(out)
    curves = {"train": (split.y_train, p_train), "test": (split.y_test, p_test)}
    figures.roc(curves, {"train": metrics["train_roc_auc"], "test": metrics["test_roc_auc"]})
    figures.precision_recall(curves)
    figures.confusion("train", split.y_train, p_train, threshold)
    figures.confusion("test", split.y_test, p_test, threshold)
    figures.cost_vs_threshold({"out_of_fold": (split.y_train, best.oof), "test": curves["test"]}, threshold, weights)
    figures.calibration(split.y_test, p_test)
    shap_mean = _importances(loaded, split.X_test, figures, command.seed)

    table = pd.DataFrame([r.summary() for r in outcome.results])
    table["chosen"] = (table["candidate"] == best.candidate) & (table["round"] == best.round)
    table.to_csv(out / "cv_results.csv", index=False)
    write_json(out / "cv_results.json", table.to_dict(orient="records"))
    write_json(out / "features.json", [f.model_dump() for f in data.manifest.features])
    fairness = fairness_table(sensitive_groups(split.X_test), split.y_test, p_test >= threshold)
    write_json(out / "fairness.json", fairness)
    write_json(out / "metrics.json", metrics)
    # The served model's own probabilities on held-out rows: monitoring's reference for prediction drift.
    write_json(out / "reference_probabilities.json", [round(float(p), 6) for p in p_test])
    dataset_info = {"rows": len(data.y), "features": len(loaded.feature_names), "target_rate": float(data.y.mean()),
                    "source_kind": data.manifest.source_kind}  # fmt: skip
    ranked = [k for k, _ in sorted(shap_mean.items(), key=lambda kv: -kv[1])]
    card = CardInputs(command.run_name, command.family.value, data.manifest.dataset_id, dataset_info, best.params,
                      metrics, threshold, weights.fn, weights.fp, fairness, ranked)  # fmt: skip
    (out / "model_card.md").write_text(model_card(card))


def _importances(loaded: LoadedModel, X_test: pd.DataFrame, figures: FigureWriter, seed: int) -> dict[str, float]:  # noqa: N803
    """Mean |SHAP| on a test sample and the model's own importance, both by input feature; returns the former."""
    sample = X_test.sample(min(SHAP_ROWS, len(X_test)), random_state=seed)
    contributions, _ = loaded.contributions(sample)
    shap_mean = {str(k): float(v) for k, v in contributions.abs().mean().items()}
    figures.importance("importance_shap", shap_mean, "Mean |SHAP| (test sample)")
    codes = loaded.frame(sample).reindex(columns=contributions.columns)
    numeric = pd.DataFrame(
        {
            str(c): pd.to_numeric(codes[c], errors="coerce") if c in loaded.numeric else pd.factorize(codes[c])[0]
            for c in codes.columns
        }
    )
    figures.shap_summary(contributions.to_numpy(), numeric.to_numpy(dtype=float), [str(c) for c in contributions])
    own = _own_importance(loaded)
    if own:
        figures.importance("importance_model", own, "Model's own importance")
    return shap_mean


def _own_importance(loaded: LoadedModel) -> dict[str, float]:
    clf = loaded.classifier
    if hasattr(clf, "booster_"):
        raw = clf.booster_.feature_importance(importance_type="gain")
    elif hasattr(clf, "feature_importances_"):
        raw = clf.feature_importances_
    elif hasattr(clf, "coef_"):
        raw = np.abs(np.ravel(clf.coef_))
    else:
        return {}
    names = [str(n) for n in getattr(clf, "feature_names_in_", range(len(raw)))]
    mapping = {} if "pca" in loaded.pipeline.named_steps else source_columns(loaded.pipeline.named_steps["preprocess"])
    totals: dict[str, float] = {}
    for name, value in zip(names, raw, strict=True):
        key = mapping.get(name, name)
        totals[key] = totals.get(key, 0.0) + float(value)
    return totals
