"""The compose deployment's PostgreSQL and MinIO paths, without Docker.

A throwaway PostgreSQL cluster gets its databases from the compose init script (``deploy/postgres``); the MLflow
server runs on the MLflow database with its artifacts on a local S3-compatible server (moto standing in for MinIO),
proxied as in compose: this test process holds no S3 credentials. The application database is migrated and written
through the URL compose gives the services.
"""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from credit_local import infra
from credit_local.processes import spawn, stop, tcp_ok, wait_until
from credit_shared import db
from credit_shared.db.models import DecisionRecord
from credit_shared.decisions_view import encode_features, read_model_inputs
from gateway_service import tables
from gateway_service.security import KeyStore, Role

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
INIT_SCRIPT = ROOT / "deploy" / "postgres" / "10-create-databases.sh"
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "mlflow-test",
    "AWS_SECRET_ACCESS_KEY": "mlflow-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class Databases:
    """What the init script created: one login role and database for MLflow, one for the application."""

    server: str  # postgresql+psycopg2://postgres@127.0.0.1:PORT
    mlflow_url: str
    credit_url: str
    mlflow_db: str
    credit_db: str


def run_init_script(server: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the compose init script against a cluster as the postgres image does (psql on PATH, superuser env)."""
    url = make_url(server)
    psql_dir = infra.postgres_bin("psql").parent
    full = {
        "PATH": f"{psql_dir}:/usr/bin:/bin",
        "PGHOST": str(url.host),
        "PGPORT": str(url.port),
        "POSTGRES_USER": str(url.username),
        "POSTGRES_DB": "postgres",
        **env,
    }
    return subprocess.run(["bash", str(INIT_SCRIPT)], env=full, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def databases(postgres_server: str) -> Databases:
    """The compose init script run against the throwaway cluster, with names unique to this module."""
    suffix = uuid.uuid4().hex[:8]
    names = {
        "MLFLOW_DB_NAME": f"mlflow_{suffix}",
        "MLFLOW_DB_USER": f"mlflow_{suffix}",
        "MLFLOW_DB_PASSWORD": "mlflow-pass",
        "CREDIT_DB_NAME": f"credit_{suffix}",
        "CREDIT_DB_USER": f"credit_{suffix}",
        "CREDIT_DB_PASSWORD": "credit-pass",
    }
    done = run_init_script(postgres_server, names)
    assert done.returncode == 0, done.stderr
    host = postgres_server.split("@", 1)[1]
    return Databases(
        server=postgres_server,
        # the same URL shapes as deploy/docker-compose.yml (MLFLOW_BACKEND_STORE_URI, DATABASE_URL)
        mlflow_url=f"postgresql+psycopg2://{names['MLFLOW_DB_USER']}:mlflow-pass@{host}/{names['MLFLOW_DB_NAME']}",
        credit_url=f"postgresql+psycopg2://{names['CREDIT_DB_USER']}:credit-pass@{host}/{names['CREDIT_DB_NAME']}",
        mlflow_db=names["MLFLOW_DB_NAME"],
        credit_db=names["CREDIT_DB_NAME"],
    )


@pytest.fixture(scope="module")
def s3_endpoint(infra_dir: Path) -> Iterator[str]:
    """A local S3-compatible server (moto) with the artifact bucket, as minio-init leaves MinIO."""
    import boto3

    port = infra.free_port()
    binary = Path(sys.executable).parent / "moto_server"
    run_dir = infra_dir / "run"
    record = spawn(
        f"moto-{port}",
        [str(binary), "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, **S3_ENV},
        run_dir=run_dir,
        log_dir=infra_dir / "logs",
        port=port,
    )
    try:
        wait_until(record, lambda: tcp_ok(port), timeout_s=30)
        endpoint = f"http://127.0.0.1:{port}"
        s3 = boto3.client("s3", endpoint_url=endpoint, **_boto_credentials())
        s3.create_bucket(Bucket="mlflow")
        yield endpoint
    finally:
        stop([record], run_dir)


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_ENV["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_ENV["AWS_DEFAULT_REGION"],
    }


@pytest.fixture(scope="module")
def mlflow_on_postgres_s3(databases: Databases, s3_endpoint: str, infra_dir: Path) -> Iterator[str]:
    """The MLflow server as compose runs it: PostgreSQL backend, S3 artifacts (proxied), job execution off."""
    port = infra.free_port()
    record = infra.start_mlflow(
        port,
        backend_uri=databases.mlflow_url,
        artifacts_destination="s3://mlflow/artifacts",
        run_dir=infra_dir / "run",
        log_dir=infra_dir / "logs",
        name=f"mlflow-pg-{port}",
        setting="the mlflow_on_postgres_s3 fixture",
        extra_env={**S3_ENV, "MLFLOW_S3_ENDPOINT_URL": s3_endpoint},
        timeout_s=180,
    )
    yield f"http://127.0.0.1:{port}"
    stop([record], infra_dir / "run")  # frees its memory now rather than at the end of the session


@pytest.fixture
def no_s3_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process, like the services, has no S3 credentials or endpoint: artifacts must go through MLflow."""
    for name in (*S3_ENV, "MLFLOW_S3_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


def test_init_script_creates_each_database_owned_by_its_role_and_can_run_again(databases: Databases) -> None:
    engine = create_engine(f"{databases.server}/postgres")
    query = text("SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname IN (:m, :c)")
    with engine.connect() as conn:
        owners = dict(conn.execute(query, {"m": databases.mlflow_db, "c": databases.credit_db}).all())
    engine.dispose()
    assert owners == {databases.mlflow_db: make_url(databases.mlflow_url).username,
                      databases.credit_db: make_url(databases.credit_url).username}  # fmt: skip

    again = run_init_script(
        databases.server,
        {
            "MLFLOW_DB_NAME": databases.mlflow_db,
            "MLFLOW_DB_USER": str(make_url(databases.mlflow_url).username),
            "MLFLOW_DB_PASSWORD": "mlflow-pass",
            "CREDIT_DB_NAME": databases.credit_db,
            "CREDIT_DB_USER": str(make_url(databases.credit_url).username),
            "CREDIT_DB_PASSWORD": "credit-pass",
        },
    )
    assert again.returncode == 0, again.stderr


def test_init_script_refuses_to_run_without_the_passwords(postgres_server: str) -> None:
    done = run_init_script(postgres_server, {"CREDIT_DB_PASSWORD": "x"})
    assert done.returncode != 0
    assert "MLFLOW_DB_PASSWORD is required" in done.stderr


def test_application_schema_migrates_and_decisions_round_trip_on_postgresql(databases: Databases) -> None:
    tables.migrate(databases.credit_url)  # shared's chain, then the gateway's own (as compose's db-migrate)
    tables.migrate(databases.credit_url)  # every start-up migrates: the second one is a no-op
    engine = db.make_engine(databases.credit_url)
    assert {"decisions", "jobs", "api_keys", "online_features"} <= set(inspect(engine).get_table_names())
    now = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    features = {"EXT_SOURCE_3": 0.12, "NAME_CONTRACT_TYPE": "Cash loans"}
    row = {
        "request_id": "pg-round-trip-1",
        "sk_id_curr": 100001,
        "received_at": now,
        "decided_at": now,
        "input_hash": "0" * 64,
        "model_input": encode_features(features),
        "probability": 0.137,
        "threshold": 0.091,
        "decision": "refused",
        "reasons": [{"feature": "EXT_SOURCE_3", "contribution": 0.41}],
        "model_name": "credit-default",
        "model_version": "3",
        "model_alias": "champion",
        "run_id": "r" * 32,
        "latency_ms": 4.2,
    }
    assert db.insert_ignore(engine, DecisionRecord, [row], keys=["request_id"]) == 1
    assert db.insert_ignore(engine, DecisionRecord, [row], keys=["request_id"]) == 0  # at-least-once redelivery
    with db.make_sessionmaker(engine)() as session:
        stored = session.execute(select(DecisionRecord)).scalars().all()
    rebuilt = read_model_inputs(engine, ["pg-round-trip-1"])
    engine.dispose()
    assert len(stored) == 1
    assert rebuilt["pg-round-trip-1"] == features
    assert stored[0].reasons == row["reasons"]
    assert stored[0].decided_at == now


def test_the_gateway_chain_keeps_the_api_keys_of_a_database_the_old_shared_chain_created_on_postgresql(
    postgres_url: str,
) -> None:
    db.migrate(postgres_url)
    engine = db.make_engine(postgres_url)
    tables.Base.metadata.create_all(engine)  # what shared's 0001 created before the tables moved to the gateway
    key, principal = KeyStore(engine, cache_s=0).create("risk team", Role.ADMIN)
    tables.migrate(postgres_url)
    assert KeyStore(engine, cache_s=0).verify(key) == principal
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT version_num FROM alembic_version_gateway")) == "g0001"
        assert conn.scalar(text("SELECT version_num FROM alembic_version")) == "0004"
    assert "ix_jobs_status" in {index["name"] for index in inspect(engine).get_indexes("jobs")}
    engine.dispose()


def test_migration_0003_moves_existing_decisions_and_holds_64_bit_ids_on_postgresql(postgres_url: str) -> None:
    import sqlalchemy as sa

    db.migrate(postgres_url, "0002")
    engine = db.make_engine(postgres_url)
    now = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    features = {"EXT_SOURCE_3": 0.12, "NAME_CONTRACT_TYPE": "Cash loans", "AMT_CREDIT": None}
    legacy = {
        "request_id": "pg-legacy", "sk_id_curr": 100001, "received_at": now, "decided_at": now,
        "input_hash": "0" * 64, "features": features, "probability": 0.2, "threshold": 0.1, "decision": "refused",
        "reasons": [], "model_name": "credit-default", "model_version": "1", "model_alias": "champion",
        "run_id": "r", "shadow": None, "latency_ms": 1.0, "source_partition": 0, "source_offset": 3,
    }  # fmt: skip
    table = sa.Table("decisions", sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [legacy])
    db.migrate(postgres_url)
    assert read_model_inputs(engine, ["pg-legacy"]) == {"pg-legacy": features}
    widest = {**legacy, "request_id": "pg-wide", "sk_id_curr": 2**63 - 1, "source_offset": 2**62}
    widest.pop("features")
    assert db.insert_ignore(engine, DecisionRecord, [widest], keys=["request_id"]) == 1
    with engine.connect() as conn:
        assert conn.scalar(select(DecisionRecord.sk_id_curr).where(DecisionRecord.request_id == "pg-wide")) == 2**63 - 1
    engine.dispose()


@pytest.mark.usefixtures("no_s3_credentials")
def test_mlflow_on_postgresql_with_s3_artifacts_logs_registers_and_serves_a_model(
    mlflow_on_postgres_s3: str, s3_endpoint: str, databases: Databases
) -> None:
    import mlflow

    # the fluent API is global: point both its tracking and its registry URI here (another test may have set them)
    previous = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    mlflow.set_tracking_uri(mlflow_on_postgres_s3)
    mlflow.set_registry_uri(mlflow_on_postgres_s3)
    try:
        _log_register_and_serve(mlflow_on_postgres_s3, s3_endpoint, databases)
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])


def _log_register_and_serve(mlflow_on_postgres_s3: str, s3_endpoint: str, databases: Databases) -> None:
    import boto3
    import mlflow
    import numpy as np
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    client = MlflowClient(tracking_uri=mlflow_on_postgres_s3, registry_uri=mlflow_on_postgres_s3)
    name = f"credit-default-{uuid.uuid4().hex[:8]}"
    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]])
    y = np.array([0, 1, 0, 1])
    model = LogisticRegression().fit(X, y)

    experiment = client.create_experiment(f"compose-path-{uuid.uuid4().hex[:8]}")
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_text("threshold: 0.091\n", "notes/threshold.txt")
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="cloudpickle",
            pip_requirements=["scikit-learn"],
            input_example=X[:1],
        )
    assert run.info.artifact_uri.startswith("mlflow-artifacts:"), "artifacts are proxied by the server"
    version = mlflow.register_model(info.model_uri, name)
    client.set_registered_model_alias(name, "champion", version.version)

    assert client.get_model_version_by_alias(name, "champion").version == version.version
    loaded = mlflow.sklearn.load_model(f"models:/{name}@champion")
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
    text_back = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes/threshold.txt")
    assert text_back == "threshold: 0.091\n"

    # the objects really are in the bucket, and the run and registry rows in the MLflow database
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, **_boto_credentials())
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="mlflow", Prefix="artifacts/").get("Contents", [])]
    assert any(k.endswith("notes/threshold.txt") for k in keys)
    assert any(k.endswith("MLmodel") for k in keys)
    engine = create_engine(databases.mlflow_url)
    with engine.connect() as conn:
        runs = conn.execute(text("SELECT count(*) FROM runs WHERE run_uuid = :r"), {"r": run.info.run_id}).scalar()
        aliases = conn.execute(text("SELECT alias FROM registered_model_aliases WHERE name = :n"), {"n": name}).all()
    engine.dispose()
    assert runs == 1
    assert aliases == [("champion",)]
