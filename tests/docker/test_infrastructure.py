"""The deployment's infrastructure images, one at a time, with testcontainers: Kafka in KRaft mode with the compose
``kafka-init`` script, PostgreSQL with the compose init script and real password logins, and the MLflow server on
that PostgreSQL with its artifacts on MinIO.
"""

import asyncio
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import OperationalError

from credit_local import infra
from credit_shared import db
from credit_shared.db.models import DecisionRecord
from credit_shared.kafka import topic_partitions
from credit_shared.settings import KafkaSettings
from credit_shared.topics import ALL_TOPICS, LOAN_APPLICATIONS, partitions_of

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
INIT_SCRIPT = ROOT / "deploy" / "postgres" / "10-create-databases.sh"
PASSWORDS = {"POSTGRES": "pg-" + secrets.token_hex(8), "MLFLOW": "ml-" + secrets.token_hex(8)}
PASSWORDS["CREDIT"] = "cr-" + secrets.token_hex(8)


def compose_script(service: dict[str, Any]) -> str:
    """The shell script of a one-shot compose job (``config`` output escapes ``$`` as ``$$``)."""
    return str(service["command"][0]).replace("$$", "$")


@pytest.fixture(scope="module")
def postgres(images: dict[str, str]) -> Iterator[tuple[str, int]]:
    """The compose PostgreSQL image with the compose init script: (host, port)."""
    from testcontainers.community.postgres import PostgresContainer

    container = (
        PostgresContainer(images["postgres"], username="postgres", password=PASSWORDS["POSTGRES"], dbname="postgres")
        .with_volume_mapping(str(INIT_SCRIPT), "/docker-entrypoint-initdb.d/10-create-databases.sh", "ro")
        .with_env("MLFLOW_DB_PASSWORD", PASSWORDS["MLFLOW"])
        .with_env("CREDIT_DB_PASSWORD", PASSWORDS["CREDIT"])
    )
    with container:
        yield container.get_container_host_ip(), int(container.get_exposed_port(5432))


@pytest.fixture(scope="module")
def minio(images: dict[str, str]) -> Iterator[dict[str, str]]:
    """The compose MinIO image with the artifact bucket: endpoint and credentials."""
    import boto3
    from testcontainers.community.minio import MinioContainer

    user, password = "credit-admin", "mn-" + secrets.token_hex(8)
    container = (
        MinioContainer(images["minio"], access_key=user, secret_key=password)
        .with_env("MINIO_ROOT_USER", user)
        .with_env("MINIO_ROOT_PASSWORD", password)
    )
    with container:
        endpoint = f"http://{container.get_container_host_ip()}:{container.get_exposed_port(9000)}"
        s3 = boto3.client(
            "s3", endpoint_url=endpoint, aws_access_key_id=user, aws_secret_access_key=password, region_name="us-east-1"
        )
        s3.create_bucket(Bucket="mlflow")
        yield {"endpoint": endpoint, "user": user, "password": password}


def test_kafka_in_kraft_mode_gets_every_topic_from_the_init_script_and_carries_a_message(
    images: dict[str, str], compose_model: dict[str, Any]
) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    port = infra.free_port()
    environment = {k: str(v) for k, v in compose_model["services"]["kafka"]["environment"].items()}
    environment |= {
        "KAFKA_ADVERTISED_LISTENERS": f"INTERNAL://localhost:9092,HOST://localhost:{port}",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
    }
    kafka = (
        DockerContainer(images["kafka"])
        .with_envs(**environment)
        .with_bind_ports(29092, port)
        .waiting_for(LogMessageWaitStrategy("Kafka Server started").with_startup_timeout(180))
    )
    init = compose_model["services"]["kafka-init"]
    with kafka:
        job_env = {k: str(v) for k, v in init["environment"].items()} | {"BOOTSTRAP": "localhost:9092"}
        done = kafka.get_wrapped_container().exec_run([*init["entrypoint"], compose_script(init)], environment=job_env)
        assert done.exit_code == 0, done.output.decode()
        again = kafka.get_wrapped_container().exec_run([*init["entrypoint"], compose_script(init)], environment=job_env)
        assert again.exit_code == 0, again.output.decode()  # a restart of the stack runs it again

        settings = KafkaSettings(bootstrap_servers=f"localhost:{port}")
        partitions = asyncio.run(topic_partitions(settings))
        assert {t.name: partitions[t.name] for t in ALL_TOPICS} == {
            t.name: partitions_of(t, settings.partitions) for t in ALL_TOPICS
        }

        async def round_trip() -> bytes:
            producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers)
            await producer.start()
            try:
                await producer.send_and_wait(LOAN_APPLICATIONS.name, b'{"probe": 1}', key=b"100001")
            finally:
                await producer.stop()
            consumer = AIOKafkaConsumer(
                LOAN_APPLICATIONS.name,
                bootstrap_servers=settings.bootstrap_servers,
                group_id=f"probe-{uuid.uuid4().hex[:8]}",
                auto_offset_reset="earliest",
            )
            await consumer.start()
            try:
                message = await asyncio.wait_for(consumer.getone(), timeout=60)
            finally:
                await consumer.stop()
            return bytes(message.value)

        assert asyncio.run(round_trip()) == b'{"probe": 1}'


def test_postgres_init_script_creates_both_databases_with_password_logins(postgres: tuple[str, int]) -> None:
    host, port = postgres
    credit_url = f"postgresql+psycopg2://credit:{PASSWORDS['CREDIT']}@{host}:{port}/credit"
    db.migrate(credit_url)
    engine = db.make_engine(credit_url)
    now = datetime.now(UTC)
    row = {
        "request_id": f"docker-{uuid.uuid4().hex[:8]}", "sk_id_curr": 100001, "received_at": now, "decided_at": now,
        "input_hash": "0" * 64, "model_input": None, "probability": 0.2, "threshold": 0.1, "decision": "refused",
        "reasons": [], "model_name": "credit-default", "model_version": "1", "model_alias": "champion",
        "run_id": "r", "latency_ms": 1.0,
    }  # fmt: skip
    assert db.insert_ignore(engine, DecisionRecord, [row], keys=["request_id"]) == 1
    assert db.insert_ignore(engine, DecisionRecord, [row], keys=["request_id"]) == 0
    with engine.connect() as conn:
        assert conn.execute(select(DecisionRecord.request_id)).scalars().all() == [row["request_id"]]
    engine.dispose()

    wrong = create_engine(f"postgresql+psycopg2://credit:not-the-password@{host}:{port}/credit")
    with pytest.raises(OperationalError), wrong.connect():
        pass
    mlflow_engine = create_engine(f"postgresql+psycopg2://mlflow:{PASSWORDS['MLFLOW']}@{host}:{port}/mlflow")
    with mlflow_engine.connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar() == "mlflow"
    mlflow_engine.dispose()


def test_mlflow_server_on_postgresql_and_minio_registers_and_serves_a_model(
    postgres: tuple[str, int], minio: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    import numpy as np
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    host, pg_port = postgres
    port = infra.free_port()
    record = infra.start_mlflow(
        port,
        backend_uri=f"postgresql+psycopg2://mlflow:{PASSWORDS['MLFLOW']}@{host}:{pg_port}/mlflow",
        artifacts_destination="s3://mlflow/artifacts",
        run_dir=tmp_path / "run",
        log_dir=tmp_path / "logs",
        name="mlflow-docker",
        extra_env={
            "MLFLOW_S3_ENDPOINT_URL": minio["endpoint"],
            "AWS_ACCESS_KEY_ID": minio["user"],
            "AWS_SECRET_ACCESS_KEY": minio["password"],
            "AWS_DEFAULT_REGION": "us-east-1",
        },
        timeout_s=240,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for name in ("MLFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.delenv(name, raising=False)  # proxied: the client holds no S3 credentials
        monkeypatch.setattr(mlflow.tracking._tracking_service.utils, "_tracking_uri", url)
        X = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]])
        model = LogisticRegression().fit(X, np.array([0, 1, 0, 1]))
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(
                model, name="model", serialization_format="cloudpickle", pip_requirements=["scikit-learn"]
            )
        registered = f"credit-default-{uuid.uuid4().hex[:8]}"
        version = mlflow.register_model(info.model_uri, registered)
        MlflowClient(tracking_uri=url).set_registered_model_alias(registered, "champion", version.version)
        loaded = mlflow.sklearn.load_model(f"models:/{registered}@champion")
        np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
    finally:
        infra.stop([record], tmp_path / "run")
