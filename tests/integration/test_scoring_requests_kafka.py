"""Named versions and full explanations on real parts: the gateway and the scoring service (in this process) over a
real tansu broker, LightGBM versions registered in a real MLflow server, a SQLite application database.

The explanation must add up, with its base value, to the raw score (log-odds) of the registered pipeline, computed
here independently from the version loaded out of MLflow.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from credit_shared import db, topics
from credit_shared.contracts.loans import LoanApplicationMessage
from credit_shared.db.models import DecisionRecord
from credit_shared.features import application_features
from credit_shared.homecredit.application import ID
from credit_shared.loaded_model import LoadedModel
from credit_shared.model_loading import load_model
from credit_shared.settings import DatabaseSettings, Environment, KafkaSettings, MlflowSettings, PlatformSettings
from scoring_service.scorer import application_frame
from tests.integration.flow import running
from tests.scoring_models import register, train_lightgbm

pytestmark = pytest.mark.integration

KEYS = {"viewer": "sr-viewer", "analyst": "sr-analyst", "admin": "sr-admin"}


def key(role: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[role]}


@dataclass
class Platform:
    client: TestClient
    mlflow: MlflowSettings
    database_url: str
    kafka_bootstrap: str
    champion: str  # version numbers
    other: str
    archived: str
    applications: list[LoanApplicationMessage]

    def model(self, version: str) -> LoadedModel:
        return load_model(self.mlflow, version=version)


@pytest.fixture(scope="module")
def platform(
    own_broker: str, mlflow_server: str, sample_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    from mlflow import MlflowClient

    from gateway_service.app import create_app
    from gateway_service.settings import Settings as GatewaySettings
    from scoring_service.app import build as build_scoring
    from scoring_service.settings import Settings as ScoringSettings

    tmp_path = tmp_path_factory.mktemp("scoring-requests")
    name = f"credit-default-{uuid.uuid4().hex[:6]}"
    first, second = train_lightgbm(sample_data, seed=0), train_lightgbm(sample_data, seed=1, n_estimators=25)
    champion = register(first, tracking_uri=mlflow_server, name=name, dataset_id="ds-it")
    other = register(second, tracking_uri=mlflow_server, name=name, dataset_id="ds-it", threshold=0.2)
    archived = register(second, tracking_uri=mlflow_server, name=name, dataset_id="ds-it")
    registry = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    registry.set_registered_model_alias(name, "champion", champion)
    registry.transition_model_version_stage(name, archived, "Archived")

    url = f"sqlite:///{tmp_path / 'credit.db'}"
    db.migrate(url)
    kafka = KafkaSettings(bootstrap_servers=own_broker, session_timeout_ms=6000, heartbeat_interval_ms=500)
    mlflow = MlflowSettings(tracking_uri=mlflow_server, model_name=name)
    common: dict[str, Any] = {
        "platform": PlatformSettings(home=tmp_path / "home", env=Environment.DEVELOPMENT),
        "kafka": kafka,
        "mlflow": mlflow,
        "database": DatabaseSettings(url=url),
    }
    scoring, _ = build_scoring(ScoringSettings(**common, group_id=f"s-{uuid.uuid4().hex[:6]}"))
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps(KEYS))
    app = create_app(
        GatewaySettings(
            **common,
            dev_keys_file=keys_file,
            jobs_group=f"gateway-jobs-{uuid.uuid4().hex[:8]}",
            sample_dir=sample_data / "joinable_capstone",
            raw_sample_rows=1000,
            decision_timeout_s=15.0,
            named_version_timeout_s=60.0,
            rate_limit_burst=1000,
        )
    )
    original = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> Any:  # the scoring service runs beside the gateway, on the same loop
        async with original(a), running(scoring):
            yield

    app.router.lifespan_context = lifespan
    with TestClient(app) as client:
        deadline = time.monotonic() + 120
        while client.get("/ready").status_code != 200 or not scoring.checks["model"]():
            assert time.monotonic() < deadline, "the gateway or the scoring service did not become ready"
            time.sleep(0.2)
        yield Platform(client, mlflow, url, own_broker, champion, other, archived, first.applications)


def raw_scores(model: LoadedModel, applications: list[LoanApplicationMessage]) -> np.ndarray:
    """The pipeline's raw score (log-odds) of each application, computed from scratch (no history features)."""
    features = application_features(application_frame(applications)).drop(columns=[ID])
    transformed = model.transform(features.reindex(columns=model.feature_names)).to_numpy(dtype=float)
    return np.asarray(model.classifier.booster_.predict(transformed, raw_score=True), dtype=float)


def assert_adds_up(explanation: dict[str, Any], model: LoadedModel, application: LoanApplicationMessage) -> None:
    contributions = explanation["contributions"]
    assert sorted(c["feature"] for c in contributions) == sorted(model.feature_names)
    assert all(c["label"] for c in contributions)
    total = explanation["base_value"] + sum(c["contribution"] for c in contributions)
    expected = float(raw_scores(model, [application])[0])
    assert abs(total - expected) < 1e-6, (total, expected)
    assert explanation["probability"] == pytest.approx(1 / (1 + np.exp(-expected)), abs=1e-9)


def client_id(platform: Platform, k: int) -> tuple[int, LoanApplicationMessage]:
    application = platform.applications[k]
    return application.sk_id_curr, application


def test_a_clients_full_explanation_adds_up_to_the_champions_raw_score(platform: Platform) -> None:
    sk_id, application = client_id(platform, 3)
    response = platform.client.get(f"/v1/clients/{sk_id}/explanation", headers=key("viewer"))
    assert response.status_code == 200, response.text
    explanation = response.json()
    assert (explanation["model"]["version"], explanation["model"]["alias"]) == (platform.champion, "champion")
    assert_adds_up(explanation, platform.model(platform.champion), application)
    named = platform.client.get(f"/v1/clients/{sk_id}/explanation?model_version={platform.other}",
                                headers=key("analyst"))  # fmt: skip
    assert named.status_code == 200, named.text
    assert (named.json()["model"]["version"], named.json()["model"]["alias"]) == (platform.other, None)
    assert_adds_up(named.json(), platform.model(platform.other), application)
    forbidden = platform.client.get(f"/v1/clients/{sk_id}/explanation?model_version={platform.other}",
                                    headers=key("viewer"))  # fmt: skip
    assert forbidden.status_code == 403


def test_a_named_version_decides_is_audited_without_alias_and_stays_off_loan_decisions(platform: Platform) -> None:
    model = platform.model(platform.other)
    sk_id, application = client_id(platform, 5)
    body = {"request_id": f"named-{uuid.uuid4().hex[:8]}", "application": application.application,
            "model_version": platform.other}  # fmt: skip
    response = platform.client.post("/v1/scoring/decisions", json=body, headers=key("analyst"))
    assert response.status_code == 200, response.text
    decision = response.json()
    assert (decision["model"]["version"], decision["model"]["alias"]) == (platform.other, None)
    assert decision["threshold"] == pytest.approx(0.2)
    expected = model.predict_proba(application_features(application_frame([application])).drop(columns=[ID]))
    assert decision["probability"] == pytest.approx(float(expected[0]), abs=1e-9)
    marker_id = f"marker-{uuid.uuid4().hex[:8]}"
    marker = {"request_id": marker_id, "application": application.application}
    champion = platform.client.post("/v1/scoring/decisions", json=marker, headers=key("analyst"))
    assert champion.json()["model"]["alias"] == "champion"

    engine = db.make_engine(platform.database_url)
    with db.make_sessionmaker(engine)() as session:
        row = session.scalar(select(DecisionRecord).where(DecisionRecord.request_id == body["request_id"]))
    assert row is not None
    assert (row.model_version, row.model_alias, row.sk_id_curr) == (platform.other, None, sk_id)
    published = loan_decisions_until(platform.kafka_bootstrap, marker_id)
    assert body["request_id"] not in published  # the marker (same key, same partition, later) is there


def loan_decisions_until(bootstrap: str, request_id: str, timeout_s: float = 60) -> set[str]:
    """Request ids on loan-decisions, read from the start until ``request_id`` appears.

    Read on a thread of its own: this thread may already run an event loop (the test client's portal, an async
    fixture), and a second one cannot start in it.
    """

    async def read() -> set[str]:
        consumer = AIOKafkaConsumer(topics.LOAN_DECISIONS.name, bootstrap_servers=bootstrap,
                                    group_id=f"sr-{uuid.uuid4().hex[:6]}", auto_offset_reset="earliest")  # fmt: skip
        await consumer.start()
        seen: set[str] = set()
        try:
            deadline = time.monotonic() + timeout_s
            while request_id not in seen:
                assert time.monotonic() < deadline, f"{request_id} never reached loan-decisions"
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    seen |= {json.loads(r.value)["request_id"] for r in records}
        finally:
            await consumer.stop()
        return seen

    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, read()).result()


def test_a_batch_is_decided_by_the_named_version(platform: Platform) -> None:
    applications = [a.application for a in platform.applications[10:15]]
    response = platform.client.post("/v1/scoring/batches", json={"applications": applications,
                                    "model_version": platform.other}, headers=key("analyst"))  # fmt: skip
    assert response.status_code == 200, response.text
    decisions = response.json()["decisions"]
    assert [d["sk_id_curr"] for d in decisions] == [a[ID] for a in applications]
    assert {(d["model"]["version"], d["model"]["alias"]) for d in decisions} == {(platform.other, None)}


def test_an_unknown_or_archived_version_is_a_404_problem_naming_it(platform: Platform) -> None:
    _, application = client_id(platform, 7)
    for version in ("999", platform.archived):
        body = {"application": application.application, "model_version": version}
        response = platform.client.post("/v1/scoring/decisions", json=body, headers=key("analyst"))
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert f"version {version}" in response.json()["detail"]
