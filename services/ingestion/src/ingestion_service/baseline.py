"""The MLflow side of a dataset: one experiment per dataset, with a most-frequent-class baseline run."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from credit_shared.datasets import DatasetManifest
from credit_shared.evaluation import evaluate
from credit_shared.settings import MlflowSettings

TEST_SHARE = 0.2


def experiment_name(dataset_id: str) -> str:
    """The MLflow experiment of a dataset."""
    return f"dataset-{dataset_id}"


def log_dataset(settings: MlflowSettings, manifest: DatasetManifest, target: pd.Series) -> tuple[str, str]:
    """Create the dataset's experiment and its baseline run.

    The baseline refuses nobody (most frequent class: no default), so its probabilities are all zero; it logs the
    same metric names as training (``test_roc_auc`` ...) on the same stratified test share, with the default costs.

    Returns:
        ``(experiment_id, baseline_run_id)``.
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    tags = {
        "dataset_id": manifest.dataset_id,
        "dataset_name": manifest.name,
        "mlflow.note.content": manifest.description or f"Dataset {manifest.name}",
        "source_kind": manifest.source_kind,
        "source_checksum": manifest.source_checksum,
        "rows_train": str(manifest.sizes.get("train", 0)),
        "rows_production": str(manifest.sizes.get("production", 0)),
        "features": str(len(manifest.features)),
        "absent_tables": ",".join(manifest.absent_tables) or "none",
        "aside": ",".join(manifest.aside) or "none",
    }
    name = experiment_name(manifest.dataset_id)
    found = client.get_experiment_by_name(name)
    experiment_id = found.experiment_id if found else client.create_experiment(name, tags=tags)
    y = target.to_numpy(dtype=int)
    _, y_test = (
        train_test_split(y, test_size=TEST_SHARE, stratify=y, random_state=0)
        if len(np.unique(y)) == 2
        else (
            y,
            y,
        )
    )
    metrics: dict[str, Any] = {}
    for part, values in (("train", y), ("test", y_test)):
        for metric, value in evaluate(values, np.zeros(len(values)), threshold=0.5).items():
            metrics[f"{part}_{metric}"] = value
    run = client.create_run(
        experiment_id, run_name="baseline (most frequent class)", tags={"family": "dummy", "baseline": "true"}
    )
    for key, value in {**manifest.parameters, "family": "dummy", "strategy": "most_frequent"}.items():
        client.log_param(run.info.run_id, key, value)
    for key, value in metrics.items():
        if np.isfinite(value):
            client.log_metric(run.info.run_id, key, float(value))
    client.set_terminated(run.info.run_id)
    return experiment_id, run.info.run_id
