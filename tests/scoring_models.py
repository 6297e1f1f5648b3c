"""Small real models for scoring tests: a LightGBM pipeline trained on the real Home Credit rows, exactly as training
builds it (``build_pipeline``), and registered in MLflow the way the training service registers its versions.

Shared by the unit tests (served from memory) and the integration tests (served from a real MLflow server).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from credit_shared.contracts.loans import LoanApplicationMessage
from credit_shared.contracts.training import TrainModel
from credit_shared.features import application_features
from credit_shared.homecredit.application import ID, TARGET
from credit_shared.loaded_model import LoadedModel
from credit_shared.model_loading import FAMILY_KEY, FEATURES_KEY, THRESHOLD_KEY
from scoring_service.scorer import application_frame
from training_service.pipeline import Columns, build_pipeline

FAST_LGBM: dict[str, Any] = {"n_estimators": 40, "learning_rate": 0.1, "num_leaves": 7, "min_child_samples": 10}


@dataclass(frozen=True)
class Trained:
    """A fitted pipeline, its input columns and the applications it was trained on (as scoring receives them)."""

    pipeline: Any
    feature_names: list[str]
    applications: list[LoanApplicationMessage]

    def loaded(self, version: str = "1", threshold: float = 0.1) -> LoadedModel:
        """The pipeline as ``credit_shared.model_loading.load_model`` returns it."""
        return LoadedModel(self.pipeline, threshold, "credit-default", version, self.feature_names, family="lightgbm")


def sample_applications(sample_data: Path, rows: int = 1000) -> tuple[list[LoanApplicationMessage], np.ndarray]:
    """The real application rows as validated messages (request ids ``app-<k>``), and their targets."""
    raw = pd.read_csv(sample_data / "joinable_capstone" / "application_train.csv", nrows=rows)
    messages = []
    for k, row in enumerate(raw.drop(columns=[TARGET]).to_dict(orient="records")):
        application = {c: None if isinstance(v, float) and np.isnan(v) else v for c, v in row.items()}
        messages.append(LoanApplicationMessage(request_id=f"app-{k}", application=application))
    return messages, raw[TARGET].to_numpy()


@functools.lru_cache(maxsize=2)
def _training_rows(sample_data: Path) -> tuple[list[LoanApplicationMessage], pd.DataFrame, np.ndarray]:
    """The real rows as messages, their application-level features and targets (computed once per folder)."""
    applications, y = sample_applications(sample_data)
    return applications, application_features(application_frame(applications)).drop(columns=[ID]), y


def train_lightgbm(sample_data: Path, *, seed: int = 0, n_estimators: int = 40) -> Trained:
    """A LightGBM pipeline on the application-level features of the real rows (no history features)."""
    applications, features, y = _training_rows(sample_data)
    command = TrainModel(
        request_id="t", dataset_id="ds", run_name="t", family="lightgbm", params=FAST_LGBM, folds=3, seed=seed
    )
    params = {**FAST_LGBM, "n_estimators": n_estimators}
    pipeline = build_pipeline(command, Columns.of(features), params).fit(features, y)
    return Trained(pipeline, [str(c) for c in features.columns], applications)


def register(trained: Trained, *, tracking_uri: str, name: str, dataset_id: str, threshold: float = 0.1) -> str:
    """Log the pipeline with the metadata scoring reads and register it as a new version of ``name``."""
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    experiment = client.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        with mlflow.start_run(experiment_id=experiment_id):
            info = mlflow.sklearn.log_model(
                trained.pipeline,
                name="model",
                serialization_format="cloudpickle",
                pip_requirements=["scikit-learn", "lightgbm"],
                metadata={THRESHOLD_KEY: threshold, FEATURES_KEY: trained.feature_names, FAMILY_KEY: "lightgbm"},
            )
        version = mlflow.register_model(info.model_uri, name, tags={"dataset_id": dataset_id})
    finally:  # other tests in this process read the global URIs
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
    return str(version.version)
