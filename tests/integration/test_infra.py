"""The infrastructure the platform and the tests start: tansu with the topics, MLflow with a registry, PostgreSQL."""

import asyncio
import socket
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, inspect

from credit_local import infra
from credit_shared import db, topics
from credit_shared.kafka import topic_partitions
from credit_shared.settings import KafkaSettings
from gateway_service import tables

pytestmark = pytest.mark.integration


def test_broker_has_every_topic_with_its_partition_count(kafka_bootstrap: str) -> None:
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    partitions = asyncio.run(topic_partitions(settings))
    for topic in topics.ALL_TOPICS:
        assert partitions[topic.name] == topics.partitions_of(topic, settings.partitions)


def test_mlflow_server_answers_and_keeps_a_registered_model_alias(mlflow_server: str) -> None:
    from mlflow import MlflowClient

    assert httpx.get(f"{mlflow_server}/health").text == "OK"
    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    experiment = client.create_experiment("infra-check")
    run = client.create_run(experiment)
    client.create_registered_model("infra-model")
    version = client.create_model_version("infra-model", f"runs:/{run.info.run_id}/model", run.info.run_id)
    client.set_registered_model_alias("infra-model", "champion", version.version)
    assert client.get_model_version_by_alias("infra-model", "champion").version == version.version


def test_application_schema_migrates_on_postgresql(postgres_url: str) -> None:
    tables.migrate(postgres_url)  # shared's chain, then the gateway's own
    tables.migrate(postgres_url)
    engine = create_engine(postgres_url)
    assert {"decisions", "online_features", "jobs", "api_keys"} <= set(inspect(engine).get_table_names())
    assert db.ping(engine)


def test_a_broker_on_a_busy_port_fails_fast_naming_the_setting(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(infra.PortBusyError, match=f"{port} \\(CREDIT_LOCAL_KAFKA_PORT\\)"):
            infra.start_tansu(port, run_dir=tmp_path / "run", log_dir=tmp_path / "logs")
    assert list((tmp_path / "run").glob("*.pid")) == []


def test_a_stopped_broker_leaves_its_port_free(tmp_path: Path) -> None:
    port = infra.free_port()
    record = infra.start_tansu(port, run_dir=tmp_path / "run", log_dir=tmp_path / "logs")
    assert infra.port_in_use(port)
    assert infra.stop([record], tmp_path / "run") == ["kafka"]
    assert not infra.port_in_use(port)
