"""The run's artifacts: figures, importance, tables, the model card, and the metadata registered with the model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from credit_shared.contracts.training import TrainModel
from credit_shared.datasets import DatasetManifest
from credit_shared.evaluation import CostWeights
from credit_shared.loaded_model import LoadedModel
from credit_shared.model_inputs import source_columns
from training_service.calibrate import Calibrated
from training_service.card import CardInputs, fairness_table, model_card, sensitive_groups
from training_service.figures import FigureWriter, write_json
from training_service.inputs import ModelInputs
from training_service.search import SearchOutcome

SHAP_ROWS = 500


@dataclass
class Evaluation:
    """Everything measured in one training, for its artifacts."""

    command: TrainModel
    manifest: DatasetManifest
    inputs: ModelInputs
    split: tuple[np.ndarray, np.ndarray]  # positions of the training and test rows
    y: np.ndarray
    outcome: SearchOutcome
    calibrated: Calibrated
    threshold: float
    probabilities: tuple[np.ndarray, np.ndarray]  # calibrated, on the training and test rows
    metrics: dict[str, float]

    @property
    def y_train(self) -> np.ndarray:
        """Labels of the training rows."""
        labels: np.ndarray = self.y[self.split[0]]
        return labels

    @property
    def y_test(self) -> np.ndarray:
        """Labels of the test rows."""
        labels: np.ndarray = self.y[self.split[1]]
        return labels


@dataclass
class Written:
    """What the registration needs from the artifacts step."""

    input_example: pd.DataFrame
    background: list[float] | None
    metadata: dict[str, Any]


def write_artifacts(ev: Evaluation, registered: Any, out: Path) -> Written:
    """Write every figure and table of ``ev`` under ``out``; ``registered`` is the pipeline that will be logged."""
    command, best = ev.command, ev.outcome.best
    assert best is not None
    weights = CostWeights(command.cost.fn, command.cost.fp)
    p_train, p_test = ev.probabilities
    X_train, X_test = ev.inputs.X.iloc[ev.split[0]], ev.inputs.X.iloc[ev.split[1]]  # noqa: N806
    figures = FigureWriter(out)
    curves = {"train": (ev.y_train, p_train), "test": (ev.y_test, p_test)}
    figures.roc(curves, {"train": ev.metrics["train_roc_auc"], "test": ev.metrics["test_roc_auc"]})
    figures.precision_recall(curves)
    figures.confusion("train", ev.y_train, p_train, ev.threshold)
    figures.confusion("test", ev.y_test, p_test, ev.threshold)
    oof = (ev.y_train, ev.calibrated.oof)
    figures.cost_vs_threshold({"out_of_fold": oof, "test": curves["test"]}, ev.threshold, weights)
    figures.calibration({"test": curves["test"], "out_of_fold": oof})
    if best.curve:
        figures.boosting_rounds(best.curve, int(ev.metrics.get("trees", len(best.curve))))
    names = [str(c) for c in ev.inputs.X.columns]
    background = None
    if hasattr(registered.named_steps["classifier"], "coef_") and "pca" not in registered.named_steps:
        fitted_on = ev.inputs.X if command.refit_all_rows else X_train
        background = [float(v) for v in registered[:-1].transform(fitted_on).mean(axis=0)]
    loaded = LoadedModel(registered, ev.threshold, "candidate", "0", names, family=command.family.value,
                         background=None if background is None else np.asarray(background))  # fmt: skip
    shap_mean = _importances(loaded, X_test, figures, command.seed)
    fairness = _tables(ev, out)
    ranked = [k for k, _ in sorted(shap_mean.items(), key=lambda kv: -kv[1])]
    card = CardInputs(command.run_name, command.family.value, ev.manifest.dataset_id, _dataset_info(ev), best.params,
                      ev.metrics, ev.threshold, weights.fn, weights.fp, fairness, ranked,
                      quality=_quality(ev))  # fmt: skip
    (out / "model_card.md").write_text(model_card(card))
    return Written(loaded.frame(X_test.head(5)), background, _quality(ev))


def _dataset_info(ev: Evaluation) -> dict[str, Any]:
    return {"rows": len(ev.y), "features": ev.inputs.X.shape[1], "target_rate": float(ev.y.mean()),
            "source_kind": ev.manifest.source_kind, "absent_tables": ev.manifest.absent_tables}  # fmt: skip


def _quality(ev: Evaluation) -> dict[str, Any]:
    """What the model card and the registered model's metadata say about calibration, inputs and the fit."""
    command, best = ev.command, ev.outcome.best
    assert best is not None
    return {
        "calibration": {
            **ev.calibrated.calibrator.describe(),
            "requested": ev.calibrated.requested,
            "cross_fitted_log_loss": ev.calibrated.log_loss,
        },
        "excluded": ev.inputs.excluded,
        "flagged": ev.inputs.flagged,
        "aside": list(ev.inputs.aside.columns),
        "monotone_constraints": {k: int(v) for k, v in command.monotone_constraints.items() if v},
        "trees": best.trees,
        "trees_floor": best.params.get("min_estimators") if best.trees is not None else None,
        "refit_all_rows": command.refit_all_rows,
        "fit_rows": int(ev.metrics["registered_fit_rows"]),
    }


def _tables(ev: Evaluation, out: Path) -> list[dict[str, Any]]:
    best = ev.outcome.best
    assert best is not None
    table = pd.DataFrame([r.summary() for r in ev.outcome.results])
    table["chosen"] = (table["candidate"] == best.candidate) & (table["round"] == best.round)
    table.to_csv(out / "cv_results.csv", index=False)
    write_json(out / "cv_results.json", table.to_dict(orient="records"))
    write_json(out / "features.json", [f.model_dump() for f in ev.manifest.features if f.name in ev.inputs.X])
    test_idx = ev.split[1]
    groups = sensitive_groups(pd.concat([ev.inputs.aside.iloc[test_idx], ev.inputs.X.iloc[test_idx]], axis=1))
    fairness = fairness_table(groups, ev.y_test, ev.probabilities[1] >= ev.threshold)
    write_json(out / "fairness.json", fairness)
    write_json(out / "metrics.json", ev.metrics)
    write_json(out / "calibration.json", _quality(ev)["calibration"])
    write_json(out / "inputs.json", {k: v for k, v in _quality(ev).items() if k != "calibration"})
    # The served model's own probabilities on held-out rows: monitoring's reference for prediction drift.
    write_json(out / "reference_probabilities.json", [round(float(p), 6) for p in ev.probabilities[1]])
    return fairness


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
