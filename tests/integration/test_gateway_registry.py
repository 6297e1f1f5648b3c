"""The gateway reads aliases from the registered model (MLflow's version search leaves them out)."""

import uuid

import pytest

from credit_shared.settings import MlflowSettings
from gateway_service.models import _read_registry

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
