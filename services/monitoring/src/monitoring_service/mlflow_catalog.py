"""The MLflow side of monitoring: which dataset a model version was trained on, its feature importances.

Conventions read from the registry (the training service writes them):

- the model version's tag ``dataset_id`` (else the same tag or parameter on its run) names its dataset;
- the run's importance artifact ranks the features: ``feature_importance.json`` (``{feature: importance}``), else
  the training service's ``figures/importance_shap.json`` or ``figures/importance_model.json``
  (``{"features": [...], "values": [...]}``); none means no ranking (severity then counts columns only);
- the run artifact ``reference_probabilities.json`` (a list of probabilities, e.g. out-of-fold), when present, is
  the reference of prediction drift; otherwise the first served window is.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from credit_shared.mlflow_utils import client
from credit_shared.settings import MlflowSettings
from monitoring_service.reference import ModelInfo

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

IMPORTANCE_ARTIFACTS: Final = (
    "feature_importance.json",
    "figures/importance_shap.json",
    "figures/importance_model.json",
)
PROBABILITIES_ARTIFACT: Final = "reference_probabilities.json"


class MlflowCatalog:
    """Describes model versions from the MLflow registry."""

    def __init__(self, settings: MlflowSettings) -> None:
        self.settings = settings
        self._client_instance: MlflowClient | None = None

    @property
    def _client(self) -> MlflowClient:
        if self._client_instance is None:  # importing mlflow takes seconds: only when a model is first described
            self._client_instance = client(self.settings)
        return self._client_instance

    def resolve_alias(self, name: str, alias: str) -> str:
        """The version ``alias`` points to.

        Raises:
            LookupError: when the alias is not set.
        """
        try:
            return str(self._client.get_model_version_by_alias(name, alias).version)
        except Exception as exc:  # MLflow raises its own exception types
            raise LookupError(f"model {name}@{alias} is not registered: {exc}") from exc

    def describe(self, name: str, version: str) -> ModelInfo:
        """Describe a model version.

        Raises:
            LookupError: when the version does not exist or names no dataset.
        """
        try:
            found = self._client.get_model_version(name, version)
        except Exception as exc:
            raise LookupError(f"model {name} v{version} is not registered: {exc}") from exc
        run_id = found.run_id
        dataset_id = (found.tags or {}).get("dataset_id")
        if not dataset_id and run_id:
            run = self._client.get_run(run_id)
            dataset_id = run.data.tags.get("dataset_id") or run.data.params.get("dataset_id")
        if not dataset_id:
            raise LookupError(f"model {name} v{version} names no dataset (tag dataset_id)")
        importances = self._importances(run_id)
        probabilities = self._artifact(run_id, PROBABILITIES_ARTIFACT)
        return ModelInfo(
            name=name,
            version=str(version),
            dataset_id=str(dataset_id),
            run_id=run_id,
            importances=importances,
            reference_probabilities=[float(p) for p in probabilities] if isinstance(probabilities, list) else None,
            test_auc=self._metric(run_id, "test_roc_auc"),
        )

    def _metric(self, run_id: str | None, key: str) -> float | None:
        if not run_id:
            return None
        try:
            value = self._client.get_run(run_id).data.metrics.get(key)
        except Exception:  # noqa: BLE001 - a run without the metric, or unreadable: no figure
            return None
        return None if value is None else float(value)

    def _importances(self, run_id: str | None) -> dict[str, float]:
        for path in IMPORTANCE_ARTIFACTS:
            found = self._artifact(run_id, path)
            if isinstance(found, dict) and isinstance(found.get("features"), list):
                return {str(k): float(v) for k, v in zip(found["features"], found["values"], strict=True)}
            if isinstance(found, dict) and found:
                return {str(k): float(v) for k, v in found.items()}
        return {}

    def _artifact(self, run_id: str | None, path: str) -> Any:
        if not run_id:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            try:
                local = self._client.download_artifacts(run_id, path, tmp)
            except Exception:  # noqa: BLE001 - absent artifact
                log.debug("run %s has no %s", run_id, path)
                return None
            return json.loads(Path(local).read_text())
