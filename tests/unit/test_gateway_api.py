"""The gateway's REST API in-process: FastAPI TestClient, FastStream's in-memory Kafka broker, SQLite in tmp."""

from __future__ import annotations

import functools
import json
import re
import tempfile
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from faststream.kafka import KafkaBroker, TestKafkaBroker

from credit_shared import datasets as store
from credit_shared import db
from credit_shared.contracts.loans import EXAMPLE_APPLICATION
from credit_shared.decisions_view import encode_features
from credit_shared.settings import DatabaseSettings, Environment, KafkaSettings, PlatformSettings
from credit_shared.topics import DATASET_EVENTS, LOAN_APPLICATIONS
from gateway_service import tables
from gateway_service.app import create_app
from gateway_service.model_registry import ModelVersionView, Registry
from gateway_service.runs import ExperimentView, NotFound, RunView
from gateway_service.settings import Settings

pytestmark = pytest.mark.unit

KEYS = {"viewer": "test-viewer-key", "analyst": "test-analyst-key", "admin": "test-admin-key"}
DATASET = "ds-20261124-unit"
SAMPLE_PATH_VALUES = {
    "dataset_id": DATASET,
    "part": "train",
    "column": "AMT_CREDIT",
    "job_id": "job1",
    "request_id": "req-1",
    "version": "1",
    "report_id": "w-1",
    "family": "lightgbm",
    "alias": "champion",
    "table": "bureau",
    "experiment_id": "1",
    "run_id": "a" * 32,
    "name": "roc_curve_test",
    "sk_id_curr": "100001",
    "scoring_id": "s-1",
    "code": "R01",
}
PATH_TRICKS = [
    "..",
    "../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%2Fetc%2Fpasswd",
    "/etc/passwd",
    "..%5C..%5Cwindows",
    "ds-1%00",
]


def headers(role: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[role]}


@functools.cache
def migrated_database() -> bytes:
    """A migrated, empty SQLite database (migrations run once per session, copied into each test)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "credit.db"
        tables.migrate(f"sqlite:///{path}")
        engine = db.make_engine(f"sqlite:///{path}")
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        return path.read_bytes()


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps(KEYS))
    database = tmp_path / "state" / "credit.db"
    if not database.exists():
        database.parent.mkdir(parents=True)
        database.write_bytes(migrated_database())
    values: dict[str, Any] = {
        "platform": PlatformSettings(home=tmp_path / "home", env=Environment.DEVELOPMENT),
        "database": DatabaseSettings(url=f"sqlite:///{database}"),
        "migrate_on_start": False,
        "dev_keys_file": keys_file,
        "decision_timeout_s": 2.0,
        "rate_limit_per_s": 1000.0,
        "rate_limit_burst": 1000,
        "create_topics": False,
    }
    values.update(overrides)
    return Settings(**values)


class FakeRegistry:
    """The model registry with two versions, the first one champion."""

    def __init__(self) -> None:
        self.registry = Registry(
            name="credit-default",
            aliases={"champion": "1"},
            versions=[
                ModelVersionView(
                    name="credit-default",
                    version=v,
                    aliases=["champion"] if v == "1" else [],
                    run_id=f"run{v}",
                    status="READY",
                    created_at=datetime(2026, 11, 24, tzinfo=UTC),
                    description=None,
                    tags={},
                )
                for v in ("2", "1")
            ],
        )

    def read(self) -> Registry:
        return self.registry


class FakeRuns:
    """One experiment with one run that has a figure, CV results and a model card."""

    RUN = "a" * 32
    ARTIFACTS = {
        "figures/roc_curve_test.json": b'{"x": [0, 1], "y": [0, 1]}',
        "figures/roc_curve_test.png": b"\x89PNG fake",
        "cv_results.json": b'[{"param_num_leaves": 31, "mean_test_score": -0.5}]',
        "model_card.md": b"# Card",
    }

    def __init__(self) -> None:
        self.deleted: list[str] = []

    def experiments(self) -> list[ExperimentView]:
        return [ExperimentView(experiment_id="1", name="dataset-x", created_at=None, tags={})]

    def runs(self, experiment_id: str) -> list[RunView]:
        if experiment_id != "1":
            raise NotFound(f"experiment {experiment_id!r} does not exist")
        return [self.run(self.RUN)]

    def run(self, run_id: str) -> RunView:
        if run_id != self.RUN or run_id in self.deleted:
            raise NotFound(f"run {run_id!r} does not exist")
        return RunView(run_id=run_id, experiment_id="1", name="lgbm", status="FINISHED", started_at=None,
                       ended_at=None, params={"num_leaves": "31"}, metrics={"test_roc_auc": 0.77, "cv_cost": 0.5},
                       tags={}, figures=["roc_curve_test"])  # fmt: skip

    def artifact(self, run_id: str, path: str) -> bytes:
        self.run(run_id)
        if path not in self.ARTIFACTS:
            raise NotFound(f"run {run_id!r} has no artifact {path!r}")
        return self.ARTIFACTS[path]

    def delete(self, run_id: str) -> None:
        self.run(run_id)
        self.deleted.append(run_id)


@dataclass
class Running:
    """A running gateway: its HTTP client, its (in-memory) broker and a way to publish as a service would."""

    app: FastAPI
    client: TestClient
    broker: KafkaBroker
    settings: Settings

    def publish(self, message: Any, topic: str) -> None:
        self.client.portal.call(functools.partial(self.broker.publish, message, topic=topic))

    def event(self, job_id: str, type_: str, payload: dict[str, Any]) -> None:
        body = {"type": type_, "source": "ingestion", "correlation_id": job_id, "payload": payload}
        self.publish(body, DATASET_EVENTS.name)


def run(app: FastAPI) -> Iterator[TestClient]:
    """Serve ``app`` with its broker replaced by FastStream's in-memory test broker."""
    broker = app.state.gateway.broker
    original = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> Any:
        async with TestKafkaBroker(broker), original(a):
            yield

    app.router.lifespan_context = lifespan
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def starter(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """Start gateways with settings overrides, and optionally extra subscribers registered on their broker."""
    stack: list[Iterator[TestClient]] = []

    def _start(setup: Callable[[KafkaBroker], None] | None = None, **overrides: Any) -> Running:
        settings = make_settings(tmp_path, **overrides)
        app = create_app(settings)
        app.state.gateway.models = FakeRegistry()
        app.state.gateway.runs = FakeRuns()
        broker = app.state.gateway.broker
        if setup is not None:
            setup(broker)
        gen = run(app)
        client = next(gen)
        stack.append(gen)
        return Running(app, client, broker, settings)

    yield _start
    for gen in reversed(stack):
        with pytest.raises(StopIteration):
            next(gen)


def routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, concrete path) of the OpenAPI document, path parameters filled with plausible values."""
    found = []
    for path, item in app.openapi()["paths"].items():
        concrete = re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PATH_VALUES[m.group(1)], path)
        found.extend((method.upper(), concrete) for method in item)
    return found


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "instance"} <= set(body)
    assert body["status"] == status
    return body


def write_dataset(root: Path, dataset_id: str = DATASET, rows: int = 25) -> None:
    folder = store.dataset_dir(root, dataset_id)
    folder.mkdir(parents=True)
    train = pd.DataFrame(
        {
            "SK_ID_CURR": range(100000, 100000 + rows),
            "AMT_CREDIT": [float(i * 1000) if i % 5 else float("nan") for i in range(rows)],
            "NAME_CONTRACT_TYPE": ["Cash loans" if i % 3 else "Revolving loans" for i in range(rows)],
            "TARGET": [i % 2 for i in range(rows)],
        }
    )
    train.to_parquet(folder / store.TRAIN)
    train.drop(columns="TARGET").head(5).to_parquet(folder / store.PRODUCTION)
    features = [
        {"name": "AMT_CREDIT", "type": "float", "label": "Credit amount", "source": "application", "online": "request"},
        {
            "name": "NAME_CONTRACT_TYPE",
            "type": "category",
            "label": "Contract type",
            "source": "application",
            "online": "request",
        },
    ]
    manifest = store.DatasetManifest(
        dataset_id=dataset_id,
        name="unit",
        source_checksum="0" * 64,
        source_kind="sample",
        features=features,  # type: ignore[arg-type]
        dropped={"FLAG_MOBIL": "low variance"},
        sizes={"train": rows, "production": 5, "features": 2},
        target_rate=0.48,
    )
    (folder / store.MANIFEST).write_text(manifest.model_dump_json())


def make_decision(request_id: str, sk_id_curr: int, decided_at: datetime, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "request_id": request_id,
        "sk_id_curr": sk_id_curr,
        "received_at": decided_at,
        "decided_at": decided_at,
        "input_hash": "0" * 64,
        "model_input": encode_features({"AMT_CREDIT": 1.0}),
        "probability": 0.2,
        "threshold": 0.1,
        "decision": "refused",
        "reasons": [],
        "model_name": "credit-default",
        "model_version": "1",
        "model_alias": "champion",
        "run_id": "r",
        "shadow": None,
        "latency_ms": 1.0,
    }
    row.update(overrides)
    return row


def decision_for(application: dict[str, Any]) -> dict[str, Any]:
    return {
        "request_id": application["request_id"],
        "sk_id_curr": application["application"]["SK_ID_CURR"],
        "probability": 0.3,
        "threshold": 0.1,
        "decision": "refused",
        "reasons": [{"feature": "EXT_SOURCE_3", "label": "External score 3", "value": 0.1, "contribution": 0.4}],
        "model": {"name": "credit-default", "version": "3", "alias": "champion", "run_id": "r"},
        "scored_at": "2026-11-24T10:00:00Z",
        "latency_ms": 3.0,
        "correlation_id": application["correlation_id"],
    }


SCORED: list[dict[str, Any]] = []


def fake_scoring(broker: KafkaBroker) -> None:
    @broker.subscriber(LOAN_APPLICATIONS.name)
    async def scoring(body: dict[str, Any]) -> None:
        SCORED.append(body)
        assert body["reply_to"] == "scoring.replies.v1"
        await broker.publish(decision_for(body), topic=body["reply_to"])


# --- security ---------------------------------------------------------------------------------------------------


def test_health_and_ready_are_open_and_every_other_route_answers_401_without_a_key(gw: Running) -> None:
    checked = 0
    for method, path in routes(gw.app):
        response = gw.client.request(method, path, json={})
        if path in ("/health", "/ready"):
            assert response.status_code in (200, 503), (method, path)
            continue
        body = assert_problem(response, 401)
        assert body["instance"] == path
        assert "WWW-Authenticate" in response.headers
        checked += 1
    assert checked >= 10
    assert gw.client.get("/metrics").status_code == 401


def test_a_wrong_key_gets_401_and_a_bearer_token_is_accepted(gw: Running) -> None:
    assert_problem(gw.client.get("/v1/jobs", headers={"X-API-Key": "nope"}), 401)
    ok = gw.client.get("/v1/jobs", headers={"Authorization": f"Bearer {KEYS['viewer']}"})
    assert ok.status_code == 200


def test_a_viewer_gets_403_on_every_write(gw: Running) -> None:
    writes = [(m, p) for m, p in routes(gw.app) if m in {"POST", "PUT", "PATCH", "DELETE"}]
    assert writes
    for method, path in writes:
        body = assert_problem(gw.client.request(method, path, json={}, headers=headers("viewer")), 403)
        assert "viewer" in body["detail"]


def test_an_analyst_cannot_delete_a_dataset_but_an_admin_can(gw: Running) -> None:
    write_dataset(gw.settings.platform.datasets_dir)
    assert_problem(gw.client.delete(f"/v1/datasets/{DATASET}", headers=headers("analyst")), 403)
    assert gw.client.delete(f"/v1/datasets/{DATASET}", headers=headers("admin")).status_code == 204
    assert_problem(gw.client.get(f"/v1/datasets/{DATASET}", headers=headers("viewer")), 404)
    assert not (gw.settings.platform.datasets_dir / DATASET).exists()


def test_development_keys_are_ignored_outside_development(start: Callable[..., Running], tmp_path: Path) -> None:
    running = start(platform=PlatformSettings(home=tmp_path / "home", env=Environment.TEST))
    assert_problem(running.client.get("/v1/jobs", headers=headers("admin")), 401)


def test_a_placeholder_bootstrap_key_is_refused_outside_development(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        platform=PlatformSettings(home=tmp_path / "home", env=Environment.PRODUCTION),
        bootstrap_admin_key="change-me",
    )
    with pytest.raises(ValueError, match="GATEWAY_BOOTSTRAP_ADMIN_KEY"):
        create_app(settings)


def test_the_bootstrap_key_is_an_administrator(start: Callable[..., Running], tmp_path: Path) -> None:
    running = start(
        platform=PlatformSettings(home=tmp_path / "home", env=Environment.PRODUCTION),
        bootstrap_admin_key="a-real-and-long-administrator-secret",
        dev_keys_file=None,
    )
    write_dataset(running.settings.platform.datasets_dir)
    key = {"X-API-Key": "a-real-and-long-administrator-secret"}
    assert running.client.delete(f"/v1/datasets/{DATASET}", headers=key).status_code == 204


def test_cors_is_closed_by_default_and_opens_for_configured_origins(start: Callable[..., Running]) -> None:
    preflight = {"Origin": "https://dash.example", "Access-Control-Request-Method": "GET"}
    closed = start()
    assert "access-control-allow-origin" not in closed.client.options("/v1/jobs", headers=preflight).headers
    opened = start(cors_origins=["https://dash.example"])
    response = opened.client.options("/v1/jobs", headers=preflight)
    assert response.headers["access-control-allow-origin"] == "https://dash.example"


# --- problems, limits ---------------------------------------------------------------------------------------------


def test_unknown_routes_and_validation_errors_are_problem_details(gw: Running) -> None:
    assert_problem(gw.client.get("/v1/nothing-here", headers=headers("viewer")), 404)
    body = assert_problem(gw.client.get("/v1/jobs?limit=0", headers=headers("viewer")), 422)
    assert body["errors"][0]["loc"] == ["query", "limit"]
    assert_problem(gw.client.put("/v1/jobs", headers=headers("viewer")), 405)


def test_a_body_over_the_limit_gets_413(start: Callable[..., Running]) -> None:
    running = start(max_body_bytes=2048)
    big = {"name": "x", "description": "d" * 5000}
    assert_problem(running.client.post("/v1/datasets", json=big, headers=headers("analyst")), 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        yield b'{"name": "x", "description": "'
        for _ in range(10):
            yield b"d" * 500
        yield b'"}'

    response = running.client.post(
        "/v1/datasets", content=chunks(), headers={**headers("analyst"), "content-type": "application/json"}
    )
    assert_problem(response, 413)


def test_expensive_requests_beyond_the_burst_get_429_with_retry_after(start: Callable[..., Running]) -> None:
    running = start(rate_limit_per_s=0.01, rate_limit_burst=2)
    statuses = [
        running.client.post("/v1/datasets", json={"name": "x"}, headers=headers("analyst")).status_code
        for _ in range(3)
    ]
    assert statuses[:2] == [202, 202]
    last = running.client.post("/v1/datasets", json={"name": "x"}, headers=headers("analyst"))
    assert_problem(last, 429)
    assert int(last.headers["Retry-After"]) >= 1
    assert running.client.get("/v1/jobs", headers=headers("analyst")).status_code == 200  # cheap reads stay open


def raw_get(gw: Running, raw_path: str, role: str) -> tuple[int, str]:
    """GET exactly ``raw_path`` as uvicorn would hand it over (HTTP clients normalise ``..`` away)."""
    path, _, query = raw_path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": urllib.parse.unquote(path),
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"test"), (b"x-api-key", KEYS[role].encode())],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
        "state": {},
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    gw.client.portal.call(gw.app, scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(status), body.decode(errors="replace")


def test_path_tricks_in_every_identifier_get_404_or_422(gw: Running) -> None:
    write_dataset(gw.settings.platform.datasets_dir)
    (gw.settings.platform.home / "secret.txt").write_text("top secret")
    templates = [p for m, p in _templates(gw.app) if m == "GET" and "{" in p]
    assert len(templates) >= 5
    for template in templates:
        for name in re.findall(r"\{(\w+)\}", template):
            for trick in PATH_TRICKS:
                path = template.replace("{" + name + "}", trick)
                path = re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PATH_VALUES[m.group(1)], path)
                status, text = raw_get(gw, path, "admin")
                assert status in (404, 422), (path, status)
                assert "top secret" not in text
                assert "root:" not in text
    assert raw_get(gw, f"/v1/datasets/{DATASET}", "admin")[0] == 200  # the harness does reach real resources


def _templates(app: FastAPI) -> list[tuple[str, str]]:
    return [(m.upper(), p) for p, item in app.openapi()["paths"].items() for m in item]


def test_the_openapi_document_declares_problem_responses_and_the_api_key(gw: Running) -> None:
    spec = gw.client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert any(s.get("name") == "X-API-Key" for s in schemes.values())
    assert "Problem" in spec["components"]["schemas"]
    assert "application/problem+json" in spec["paths"]["/v1/jobs/{job_id}"]["get"]["responses"]["404"]["content"]


# --- degraded start -----------------------------------------------------------------------------------------------


def test_without_kafka_the_gateway_serves_reads_and_answers_503_to_kafka_requests(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1"), migrate_on_start=True)
    app = create_app(settings)
    app.state.gateway.models = FakeRegistry()
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["broker"] is False
        assert client.get("/v1/models/families", headers=headers("viewer")).status_code == 200
        build = client.post("/v1/datasets", json={"name": "x"}, headers=headers("analyst"))
        assert_problem(build, 503)
        jobs = client.get("/v1/jobs?status=failed", headers=headers("viewer")).json()
        assert [j["kind"] for j in jobs] == ["dataset.build"]
        decide = client.post(
            "/v1/scoring/decisions", json={"application": EXAMPLE_APPLICATION}, headers=headers("analyst")
        )
        assert_problem(decide, 503)
