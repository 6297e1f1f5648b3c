"""The gateway reads aliases from the registered model (MLflow's version search leaves them out)."""

import uuid

import pytest

from credit_shared.settings import MlflowSettings
from gateway_service.model_registry import _read_registry

pytestmark = pytest.mark.integration


def test_registry_shows_where_each_alias_points(mlflow_server: str) -> None:
    from mlflow import MlflowClient

    name = f"alias-{uuid.uuid4().hex[:8]}"
    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    run = client.create_run(client.create_experiment(name))
    client.create_registered_model(name)
    for _ in range(2):
        client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id)
    client.set_registered_model_alias(name, "champion", "1")
    client.set_registered_model_alias(name, "challenger", "2")
    registry = _read_registry(MlflowSettings(tracking_uri=mlflow_server, model_name=name))
    assert registry.aliases == {"champion": "1", "challenger": "2"}
    assert {v.version: v.aliases for v in registry.versions} == {"1": ["champion"], "2": ["challenger"]}


def test_a_registered_version_serves_its_threshold_and_metrics_as_numbers(mlflow_server: str) -> None:
    from mlflow import MlflowClient

    from credit_shared.contracts.model_families import ModelFamily
    from credit_shared.contracts.training import ModelTrained

    name = f"typed-{uuid.uuid4().hex[:8]}"
    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    run = client.create_run(client.create_experiment(name))
    client.create_registered_model(name)
    event = ModelTrained(request_id="r", dataset_id="ds-1", family=ModelFamily.LIGHTGBM, run_id=run.info.run_id,
                         experiment_id="1", model_name=name, version="1", model_uri=f"models:/{name}/1",
                         threshold=0.0912, metrics={"test_roc_auc": 0.781}, duration_s=1.0)  # fmt: skip
    tags = {"threshold": "0.0912", "test_roc_auc": "0.781", "family": "lightgbm", "event": event.model_dump_json()}
    client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id, tags=tags)
    client.set_registered_model_alias(name, "champion", "1")
    version = _read_registry(MlflowSettings(tracking_uri=mlflow_server, model_name=name)).versions[0]
    assert (version.threshold, version.dataset_id, version.metrics) == (0.0912, "ds-1", {"test_roc_auc": 0.781})
    assert version.tags == {"threshold": 0.0912, "test_roc_auc": 0.781, "family": "lightgbm"}


def test_every_part_of_a_run_that_does_not_exist_or_was_deleted_is_not_found(mlflow_server: str) -> None:
    from mlflow import MlflowClient

    from gateway_service.runs import MlflowRuns, NotFound

    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    run = client.create_run(client.create_experiment(f"runs-{uuid.uuid4().hex[:8]}"))
    client.log_text(run.info.run_id, "# Card", "model_card.md")
    runs = MlflowRuns(MlflowSettings(tracking_uri=mlflow_server))
    assert runs.artifact(run.info.run_id, "model_card.md") == b"# Card"
    client.delete_run(run.info.run_id)
    for run_id in (uuid.uuid4().hex, run.info.run_id):  # never existed (it was a 503), then deleted
        for path in ("model_card.md", "cv_results.json", "figures/roc_curve.json", "figures/roc_curve.png"):
            with pytest.raises(NotFound):
                runs.artifact(run_id, path)
        with pytest.raises(NotFound):
            runs.run(run_id)
