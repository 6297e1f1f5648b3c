"""The monitoring service's MLflow adapter against a real MLflow store (SQLite backend, local artifacts)."""

from __future__ import annotations

import contextlib
import json
import uuid
from pathlib import Path

import pytest
from mlflow import MlflowClient

from credit_shared.settings import MlflowSettings
from monitoring_service.mlflow_catalog import MlflowCatalog

pytestmark = pytest.mark.integration

NAME = "credit-default"


def register(client: MlflowClient, artifacts: Path, *, tags: dict[str, str], files: dict[str, object]) -> str:
    experiment = client.create_experiment(f"exp-{uuid.uuid4().hex[:8]}", artifact_location=artifacts.as_uri())
    run = client.create_run(experiment)
    for path, content in files.items():
        local = artifacts / "staging" / uuid.uuid4().hex / path
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(json.dumps(content))
        client.log_artifact(run.info.run_id, str(local), str(Path(path).parent) if "/" in path else None)
    client.set_terminated(run.info.run_id)
    with contextlib.suppress(Exception):  # already registered
        client.create_registered_model(NAME)
    version = client.create_model_version(NAME, f"runs:/{run.info.run_id}/model", run.info.run_id, tags=tags)
    return str(version.version)


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[MlflowSettings, MlflowClient, Path]:
    tmp_path = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    return MlflowSettings(tracking_uri=uri), MlflowClient(tracking_uri=uri, registry_uri=uri), artifacts


def test_describes_a_version_with_its_dataset_and_the_training_services_importances(
    mlflow_store: tuple[MlflowSettings, MlflowClient, Path],
) -> None:
    settings, client, artifacts = mlflow_store
    importance = {"kind": "importance", "title": "t", "features": ["EXT_SOURCE_3", "AMT_CREDIT"], "values": [0.4, 0.1]}
    version = register(
        client, artifacts, tags={"dataset_id": "ds-1"}, files={"figures/importance_shap.json": importance}
    )
    client.set_registered_model_alias(NAME, "champion", version)
    catalog = MlflowCatalog(settings)
    info = catalog.describe(NAME, version)
    assert info.dataset_id == "ds-1"
    assert info.importances == {"EXT_SOURCE_3": 0.4, "AMT_CREDIT": 0.1}
    assert info.reference_probabilities is None
    assert catalog.resolve_alias(NAME, "champion") == version


def test_reads_reference_probabilities_and_a_plain_importance_dict(
    mlflow_store: tuple[MlflowSettings, MlflowClient, Path],
) -> None:
    settings, client, artifacts = mlflow_store
    version = register(
        client,
        artifacts,
        tags={"dataset_id": "ds-2"},
        files={"feature_importance.json": {"A": 2.0}, "reference_probabilities.json": [0.1, 0.2]},
    )
    info = MlflowCatalog(settings).describe(NAME, version)
    assert info.importances == {"A": 2.0}
    assert info.reference_probabilities == [0.1, 0.2]


def test_unknown_versions_aliases_and_versions_without_a_dataset_are_lookup_errors(
    mlflow_store: tuple[MlflowSettings, MlflowClient, Path],
) -> None:
    settings, client, artifacts = mlflow_store
    version = register(client, artifacts, tags={}, files={})
    catalog = MlflowCatalog(settings)
    with pytest.raises(LookupError, match="names no dataset"):
        catalog.describe(NAME, version)
    with pytest.raises(LookupError):
        catalog.describe(NAME, "99")
    with pytest.raises(LookupError, match="challenger"):
        catalog.resolve_alias(NAME, "challenger")
