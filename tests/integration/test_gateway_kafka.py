"""The gateway over a real Kafka protocol broker (tansu): jobs follow real events, decisions round-trip."""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from faststream.kafka import KafkaBroker

from credit_shared.contracts.loans import EXAMPLE_APPLICATION
from credit_shared.settings import DatabaseSettings, Environment, KafkaSettings, MlflowSettings, PlatformSettings
from gateway_service.app import create_app
from gateway_service.settings import Settings

pytestmark = pytest.mark.integration

KEYS = {"viewer": "it-viewer", "analyst": "it-analyst", "admin": "it-admin"}


def wait_for(check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def gateway(
    kafka_bootstrap: str, mlflow_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, KafkaBroker]]:
    """A gateway on the real broker and MLflow, plus a second broker acting as the services."""
    tmp_path = tmp_path_factory.mktemp("gateway")
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps(KEYS))
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, session_timeout_ms=6000, heartbeat_interval_ms=500)
    settings = Settings(
        platform=PlatformSettings(home=tmp_path / "home", env=Environment.DEVELOPMENT),
        database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'credit.db'}"),
        kafka=kafka,
        mlflow=MlflowSettings(tracking_uri=mlflow_server),
        dev_keys_file=keys_file,
        jobs_group=f"gateway-jobs-{uuid.uuid4().hex[:8]}",
        decision_timeout_s=15.0,
    )
    app = create_app(settings)
    services = KafkaBroker(kafka_bootstrap)
    commands: list[dict[str, Any]] = []

    @services.subscriber("ingestion.commands.v1", group_id=f"it-ingestion-{uuid.uuid4().hex[:8]}",
                         auto_offset_reset="earliest", session_timeout_ms=6000, heartbeat_interval_ms=500)  # fmt: skip
    async def ingestion(body: dict[str, Any]) -> None:
        commands.append(body)

    @services.subscriber("loan-applications", group_id=f"it-scoring-{uuid.uuid4().hex[:8]}",
                         auto_offset_reset="earliest", session_timeout_ms=6000, heartbeat_interval_ms=500)  # fmt: skip
    async def scoring(body: dict[str, Any]) -> None:
        if not body.get("reply_to"):
            return
        decision = {
            "request_id": body["request_id"], "sk_id_curr": body["application"]["SK_ID_CURR"], "probability": 0.05,
            "threshold": 0.1, "decision": "approved", "reasons": [],
            "model": {"name": "credit-default", "version": "1", "alias": "champion", "run_id": "r"},
            "scored_at": "2026-11-24T10:00:00Z", "latency_ms": 1.0, "correlation_id": body["correlation_id"],
        }  # fmt: skip
        await services.publish(decision, topic=body["reply_to"])

    original = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> Any:
        async with original(a):
            await services.start()
            try:
                yield
            finally:
                await services.stop()

    app.router.lifespan_context = lifespan
    app.state.commands = commands
    with TestClient(app) as client:
        yield client, services


def test_ready_reports_broker_mlflow_and_database(gateway: tuple[TestClient, KafkaBroker]) -> None:
    client, _ = gateway
    body = client.get("/ready").json()
    assert body["checks"] == {"broker": True, "mlflow": True, "database": True}


def test_a_build_job_is_published_and_follows_the_real_event_stream(gateway: tuple[TestClient, KafkaBroker]) -> None:
    client, services = gateway
    commands: list[dict[str, Any]] = client.app.state.commands  # type: ignore[attr-defined]
    response = client.post("/v1/datasets", json={"name": "it"}, headers={"X-API-Key": KEYS["analyst"]})
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    wait_for(lambda: any(c["correlation_id"] == job_id for c in commands))
    built = {"type": "dataset.built", "source": "ingestion", "correlation_id": job_id,
             "payload": {"request_id": job_id, "dataset_id": "ds-it"}}  # fmt: skip
    client.portal.call(functools.partial(services.publish, built, topic="ingestion.events.v1"))

    def succeeded() -> bool:
        job = client.get(response.headers["Location"], headers={"X-API-Key": KEYS["viewer"]}).json()
        return bool(job["status"] == "succeeded")

    wait_for(succeeded, timeout_s=60)


def test_a_synchronous_decision_round_trips_through_the_broker(gateway: tuple[TestClient, KafkaBroker]) -> None:
    client, _ = gateway
    response = client.post(
        "/v1/scoring/decisions", json={"application": EXAMPLE_APPLICATION}, headers={"X-API-Key": KEYS["analyst"]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["decision"] == "approved"


def test_the_registry_of_a_fresh_mlflow_is_empty(gateway: tuple[TestClient, KafkaBroker]) -> None:
    client, _ = gateway
    registry = client.get("/v1/registry", headers={"X-API-Key": KEYS["viewer"]}).json()
    assert registry["versions"] == []


def test_experiments_runs_figures_and_model_card_come_from_mlflow(
    gateway: tuple[TestClient, KafkaBroker], mlflow_server: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from mlflow import MlflowClient

    client, _ = gateway
    mlflow = MlflowClient(tracking_uri=mlflow_server)
    experiment_id = mlflow.create_experiment(f"dataset-it-{uuid.uuid4().hex[:6]}")
    run = mlflow.create_run(experiment_id, run_name="lgbm")
    run_id = run.info.run_id
    mlflow.log_param(run_id, "num_leaves", 31)
    mlflow.log_metric(run_id, "test_roc_auc", 0.77)
    mlflow.log_metric(run_id, "cv_cost", 0.5)
    folder = tmp_path_factory.mktemp("artifacts")
    (folder / "figures").mkdir()
    (folder / "figures" / "roc_curve_test.json").write_text(json.dumps({"x": [0, 1], "y": [0, 1]}))
    (folder / "figures" / "roc_curve_test.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    (folder / "cv_results.json").write_text(json.dumps([{"param_num_leaves": 31, "mean_test_score": -0.5}]))
    (folder / "model_card.md").write_text("# Model card")
    mlflow.log_artifacts(run_id, str(folder))
    mlflow.set_terminated(run_id)
    view = {"X-API-Key": KEYS["viewer"]}

    experiments = client.get("/v1/experiments", headers=view).json()
    assert experiment_id in [e["experiment_id"] for e in experiments]
    runs = client.get(f"/v1/experiments/{experiment_id}/runs?metrics=test_", headers=view).json()
    assert [(r["run_id"], r["metrics"]) for r in runs] == [(run_id, {"test_roc_auc": 0.77})]
    detail = client.get(f"/v1/runs/{run_id}", headers=view).json()
    assert (detail["params"], detail["figures"]) == ({"num_leaves": "31"}, ["roc_curve_test"])
    assert client.get(f"/v1/runs/{run_id}/figures/roc_curve_test", headers=view).json() == {"x": [0, 1], "y": [0, 1]}
    png = client.get(f"/v1/runs/{run_id}/figures/roc_curve_test/png", headers=view)
    assert (png.headers["content-type"], png.content[:4]) == ("image/png", b"\x89PNG")
    assert client.get(f"/v1/runs/{run_id}/cv-results", headers=view).json()["rows"][0]["param_num_leaves"] == 31
    assert client.get(f"/v1/runs/{run_id}/model-card", headers=view).json()["markdown"] == "# Model card"
    assert client.get(f"/v1/runs/{run_id}/figures/nope", headers=view).status_code == 404
    assert client.get(f"/v1/runs/{'0' * 32}", headers=view).status_code == 404
    assert client.delete(f"/v1/runs/{run_id}", headers={"X-API-Key": KEYS["admin"]}).status_code == 204
    assert client.get(f"/v1/runs/{run_id}", headers=view).status_code == 404
