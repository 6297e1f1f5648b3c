"""The gateway's REST API in-process: FastAPI TestClient, FastStream's in-memory Kafka broker, SQLite in tmp."""

from __future__ import annotations

import functools
import json
import re
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
from credit_shared.db.models import DecisionRecord, DriftReport
from credit_shared.settings import DatabaseSettings, Environment, KafkaSettings, PlatformSettings
from credit_shared.topics import DATASET_EVENTS, LOAN_APPLICATIONS
from gateway_service.app import create_app
from gateway_service.models import ModelVersionView, Registry
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
        db.migrate(f"sqlite:///{path}")
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


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """Start a gateway with settings overrides, and optionally extra subscribers registered on its broker."""
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


@pytest.fixture
def gw(start: Callable[..., Running]) -> Running:
    return start()


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


# --- jobs ---------------------------------------------------------------------------------------------------------


def start_build(gw: Running) -> str:
    response = gw.client.post("/v1/datasets", json={"name": "baseline"}, headers=headers("analyst"))
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["Location"] == f"/v1/jobs/{job['job_id']}"
    assert job["status"] == "queued"
    return str(job["job_id"])


def get_job(gw: Running, job_id: str) -> dict[str, Any]:
    response = gw.client.get(f"/v1/jobs/{job_id}", headers=headers("viewer"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_build_publishes_its_command_with_the_job_id_as_correlation_id(start: Callable[..., Running]) -> None:
    commands: list[dict[str, Any]] = []

    def setup(broker: KafkaBroker) -> None:
        @broker.subscriber("ingestion.commands.v1")
        async def ingestion(body: dict[str, Any]) -> None:
            commands.append(body)

    running = start(setup)
    job_id = start_build(running)
    assert len(commands) == 1
    assert commands[0]["type"] == "dataset.build"
    assert commands[0]["correlation_id"] == job_id
    assert commands[0]["payload"]["request_id"] == job_id
    assert commands[0]["payload"]["name"] == "baseline"


def test_a_job_follows_progress_then_success_and_ignores_late_events(gw: Running) -> None:
    job_id = start_build(gw)
    gw.event(job_id, "dataset.progress", {"request_id": job_id, "stage": "bureau aggregates", "percent": 40})
    job = get_job(gw, job_id)
    assert (job["status"], job["stage"], job["progress"]) == ("running", "bureau aggregates", 40.0)
    gw.event(job_id, "dataset.built", {"request_id": job_id, "dataset_id": DATASET, "features": 10})
    gw.event(job_id, "dataset.progress", {"request_id": job_id, "stage": "late", "percent": 50})
    job = get_job(gw, job_id)
    assert job["status"] == "succeeded"
    assert job["progress"] == 100.0
    assert job["result"]["dataset_id"] == DATASET
    assert job["result_url"] == f"/v1/datasets/{DATASET}"


def test_a_failed_event_fails_the_job_with_its_reason(gw: Running) -> None:
    job_id = start_build(gw)
    gw.event(job_id, "dataset.failed", {"request_id": job_id, "reason": "no_data", "detail": "no raw tables"})
    job = get_job(gw, job_id)
    assert job["status"] == "failed"
    assert "no raw tables" in job["message"]
    assert job["result_url"] is None


def test_events_of_unknown_jobs_and_malformed_events_change_nothing(gw: Running) -> None:
    job_id = start_build(gw)
    gw.event("someone-else", "dataset.built", {"dataset_id": DATASET})
    gw.publish({"no": "envelope"}, DATASET_EVENTS.name)
    assert get_job(gw, job_id)["status"] == "queued"
    assert_problem(gw.client.get("/v1/jobs/missing", headers=headers("viewer")), 404)


def test_the_job_list_shows_the_newest_first_and_filters_by_status(gw: Running) -> None:
    first, second = start_build(gw), start_build(gw)
    gw.event(first, "dataset.failed", {"reason": "x", "detail": "y"})
    listed = gw.client.get("/v1/jobs", headers=headers("viewer")).json()
    assert [j["job_id"] for j in listed][:2] == [second, first]
    failed = gw.client.get("/v1/jobs?status=failed", headers=headers("viewer")).json()
    assert [j["job_id"] for j in failed] == [first]


def sse_events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[len("data:") :]) for line in text.splitlines() if line.startswith("data:")]


def test_the_event_stream_of_a_finished_job_sends_its_state_and_ends(gw: Running) -> None:
    job_id = start_build(gw)
    gw.event(job_id, "dataset.built", {"dataset_id": DATASET})
    response = gw.client.get(f"/v1/jobs/{job_id}/events", headers=headers("viewer"))
    assert response.headers["content-type"].startswith("text/event-stream")
    assert [e["status"] for e in sse_events(response.text)] == ["succeeded"]


def test_the_event_stream_follows_a_running_job_live_until_it_ends(gw: Running) -> None:
    job_id = start_build(gw)
    result: dict[str, Any] = {}

    def follow() -> None:
        result["response"] = gw.client.get(f"/v1/jobs/{job_id}/events", headers=headers("viewer"))

    follower = threading.Thread(target=follow)
    follower.start()
    jobs = gw.app.state.gateway.jobs
    deadline = time.monotonic() + 10
    while job_id not in jobs._changed and time.monotonic() < deadline:  # the stream waits for a change
        time.sleep(0.01)
    gw.event(job_id, "dataset.progress", {"stage": "features", "percent": 30})
    deadline = time.monotonic() + 10
    while job_id not in jobs._changed and time.monotonic() < deadline:
        time.sleep(0.01)
    gw.event(job_id, "dataset.built", {"dataset_id": DATASET})
    follower.join(timeout=20)
    assert not follower.is_alive()
    states = [(e["status"], e["progress"]) for e in sse_events(result["response"].text)]
    assert states == [("queued", 0.0), ("running", 30.0), ("succeeded", 100.0)]


# --- datasets -----------------------------------------------------------------------------------------------------


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


def test_datasets_are_listed_and_described(gw: Running) -> None:
    write_dataset(gw.settings.platform.datasets_dir)
    listed = gw.client.get("/v1/datasets", headers=headers("viewer")).json()
    assert [(d["dataset_id"], d["features"], d["dropped"]) for d in listed] == [(DATASET, 2, 1)]
    detail = gw.client.get(f"/v1/datasets/{DATASET}", headers=headers("viewer")).json()
    assert detail["dropped"] == {"FLAG_MOBIL": "low variance"}
    assert detail["sizes"]["train"] == 25


def test_dataset_rows_are_paginated_and_missing_values_are_null(gw: Running) -> None:
    write_dataset(gw.settings.platform.datasets_dir)
    url = f"/v1/datasets/{DATASET}/parts/train/rows?offset=0&limit=10"
    page = gw.client.get(url, headers=headers("viewer")).json()
    assert (page["total"], len(page["rows"])) == (25, 10)
    assert page["rows"][0]["AMT_CREDIT"] is None
    last = gw.client.get(f"/v1/datasets/{DATASET}/parts/train/rows?offset=20&limit=10", headers=headers("viewer"))
    assert len(last.json()["rows"]) == 5
    assert last.json()["next"] is None
    assert page["next"].endswith("offset=10&limit=10")
    target = gw.client.get(f"/v1/datasets/{DATASET}/parts/target/rows", headers=headers("viewer")).json()
    assert target["columns"] == ["SK_ID_CURR", "TARGET"]
    some = gw.client.get(
        f"/v1/datasets/{DATASET}/parts/production/rows?columns=AMT_CREDIT", headers=headers("viewer")
    ).json()
    assert some["columns"] == ["SK_ID_CURR", "AMT_CREDIT"]
    assert some["total"] == 5


def test_dataset_parts_are_loaded_once_and_served_from_the_cache(gw: Running) -> None:
    write_dataset(gw.settings.platform.datasets_dir)
    cache = gw.app.state.gateway.data
    for _ in range(3):
        gw.client.get(f"/v1/datasets/{DATASET}/parts/train/rows", headers=headers("viewer"))
    assert cache.loads == 1


def test_a_dataset_column_distribution_is_chart_data(gw: Running) -> None:
    write_dataset(gw.settings.platform.datasets_dir)
    numeric = gw.client.get(
        f"/v1/datasets/{DATASET}/columns/AMT_CREDIT/distribution?bins=4", headers=headers("viewer")
    ).json()
    assert (numeric["kind"], numeric["missing"], numeric["count"]) == ("numeric", 5, 20)
    assert sum(b["count"] for b in numeric["bins"]) == 20
    assert len(numeric["bins"]) == 4
    categorical = gw.client.get(
        f"/v1/datasets/{DATASET}/columns/NAME_CONTRACT_TYPE/distribution", headers=headers("viewer")
    ).json()
    assert {c["value"]: c["count"] for c in categorical["categories"]} == {"Cash loans": 16, "Revolving loans": 9}
    unknown = gw.client.get(f"/v1/datasets/{DATASET}/columns/NOPE/distribution", headers=headers("viewer"))
    assert_problem(unknown, 404)


def test_an_unknown_column_in_a_row_selection_is_404(gw: Running) -> None:
    write_dataset(gw.settings.platform.datasets_dir)
    response = gw.client.get(f"/v1/datasets/{DATASET}/parts/train/rows?columns=NOPE", headers=headers("viewer"))
    assert_problem(response, 404)


# --- decisions (audit) --------------------------------------------------------------------------------------------


def make_decision(request_id: str, sk_id_curr: int, decided_at: datetime, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "request_id": request_id,
        "sk_id_curr": sk_id_curr,
        "received_at": decided_at,
        "decided_at": decided_at,
        "input_hash": "0" * 64,
        "features": {"AMT_CREDIT": 1.0},
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


def test_decisions_are_found_by_client_time_range_and_request_id(gw: Running) -> None:
    base = datetime(2026, 11, 24, 10, tzinfo=UTC)
    rows = [
        make_decision("a", 1, base),
        make_decision("b", 1, base + timedelta(hours=1), decision="approved"),
        make_decision("c", 2, base + timedelta(hours=2)),
    ]
    db.insert_ignore(gw.app.state.gateway.engine, DecisionRecord, rows, keys=["request_id"])
    view = headers("viewer")
    by_client = gw.client.get("/v1/decisions?sk_id_curr=1", headers=view).json()
    assert [d["request_id"] for d in by_client["items"]] == ["b", "a"]
    assert by_client["items"][0]["features"] is None
    window_params = {"since": (base + timedelta(minutes=30)).isoformat(), "until": "2026-11-24T14:00:00+02:00"}
    window = gw.client.get("/v1/decisions", params=window_params, headers=view).json()
    assert [d["request_id"] for d in window["items"]] == ["b"]
    paged = gw.client.get("/v1/decisions?limit=2", headers=view).json()
    assert [d["request_id"] for d in paged["items"]] == ["c", "b"]
    rest = gw.client.get("/v1/decisions", params={"limit": 2, "before": paged["next_before"]}, headers=view).json()
    assert [d["request_id"] for d in rest["items"]] == ["a"]
    one = gw.client.get("/v1/decisions/c", headers=view).json()
    assert (one["sk_id_curr"], one["features"]) == (2, {"AMT_CREDIT": 1.0})
    assert one["decided_at"].endswith("Z") or one["decided_at"].endswith("+00:00")
    assert_problem(gw.client.get("/v1/decisions/zzz", headers=view), 404)
    reversed_range = {"since": "2026-11-25T00:00:00Z", "until": "2026-11-24T00:00:00Z"}
    assert_problem(gw.client.get("/v1/decisions", params=reversed_range, headers=view), 422)


# --- synchronous decision -----------------------------------------------------------------------------------------


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


def test_a_synchronous_decision_returns_the_scoring_reply(start: Callable[..., Running]) -> None:
    running = start(fake_scoring)
    response = running.client.post(
        "/v1/scoring/decisions", json={"application": EXAMPLE_APPLICATION}, headers=headers("analyst")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["sk_id_curr"], body["decision"]) == (100001, "refused")
    assert body["request_id"].startswith("gw-")
    assert running.app.state.gateway.replies.pending == 0


def test_a_decision_without_a_reply_in_time_is_504(start: Callable[..., Running]) -> None:
    running = start(decision_timeout_s=0.2)
    response = running.client.post(
        "/v1/scoring/decisions",
        json={"request_id": "r-1", "application": EXAMPLE_APPLICATION},
        headers=headers("analyst"),
    )
    assert_problem(response, 504)
    assert running.app.state.gateway.replies.pending == 0


def test_an_invalid_application_is_422_naming_the_column(gw: Running) -> None:
    bad = {**EXAMPLE_APPLICATION, "AMT_CREDIT": "a lot"}
    body = assert_problem(
        gw.client.post("/v1/scoring/decisions", json={"application": bad}, headers=headers("analyst")), 422
    )
    assert "AMT_CREDIT" in body["detail"]
    missing = {k: v for k, v in EXAMPLE_APPLICATION.items() if k != "SK_ID_CURR"}
    response = gw.client.post("/v1/scoring/decisions", json={"application": missing}, headers=headers("analyst"))
    assert_problem(response, 422)


# --- monitoring ---------------------------------------------------------------------------------------------------


def make_report(report_id: str, severity: str, created_at: datetime) -> dict[str, Any]:
    return {
        "report_id": report_id,
        "kind": "window",
        "model_version": "1",
        "dataset_id": DATASET,
        "window_start": created_at - timedelta(hours=1),
        "window_end": created_at,
        "rows": 500,
        "columns": 10,
        "drifted": {"green": 0, "orange": 3, "red": 6}[severity],
        "severity": severity,
        "summary": {"columns": [{"column": "EXT_SOURCE_3", "drifted": severity != "green"}]},
        "created_at": created_at,
    }


def test_drift_reports_are_listed_described_and_served_as_html(gw: Running) -> None:
    base = datetime(2026, 11, 24, 10, tzinfo=UTC)
    rows = [make_report("w-1", "green", base), make_report("w-2", "red", base + timedelta(hours=1))]
    db.insert_ignore(gw.app.state.gateway.engine, DriftReport, rows, keys=["report_id"])
    folder = gw.settings.platform.home / "reports" / "w-2"
    folder.mkdir(parents=True)
    (folder / "report.html").write_text("<html>drift</html>")
    view = headers("viewer")
    assert [r["report_id"] for r in gw.client.get("/v1/monitoring/reports", headers=view).json()] == ["w-2", "w-1"]
    assert [r["report_id"] for r in gw.client.get("/v1/monitoring/alerts", headers=view).json()] == ["w-2"]
    detail = gw.client.get("/v1/monitoring/reports/w-2", headers=view).json()
    assert detail["summary"]["columns"][0]["drifted"] is True
    html = gw.client.get("/v1/monitoring/reports/w-2/html", headers=view)
    assert html.headers["content-type"].startswith("text/html")
    assert "drift" in html.text
    assert_problem(gw.client.get("/v1/monitoring/reports/w-1/html", headers=view), 404)
    assert_problem(gw.client.get("/v1/monitoring/reports/w-9", headers=view), 404)


def test_a_drift_report_request_is_a_job_whose_result_links_to_the_report(start: Callable[..., Running]) -> None:
    commands: list[dict[str, Any]] = []

    def setup(broker: KafkaBroker) -> None:
        @broker.subscriber("monitoring.commands.v1")
        async def monitoring(body: dict[str, Any]) -> None:
            commands.append(body)

    running = start(setup)
    response = running.client.post(
        "/v1/monitoring/reports", json={"column": "EXT_SOURCE_3"}, headers=headers("analyst")
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    assert commands[0]["type"] == "drift.report"
    assert commands[0]["payload"]["column"] == "EXT_SOURCE_3"
    ready = {"type": "drift.report_ready", "source": "monitoring", "correlation_id": job_id,
             "payload": {"request_id": job_id, "report": {"report_id": "od-1"}, "duration_s": 1.0}}  # fmt: skip
    running.publish(ready, "monitoring.events.v1")
    assert get_job(running, job_id)["result_url"] == "/v1/monitoring/reports/od-1"


# --- training and registry ----------------------------------------------------------------------------------------


def capture(topic: str, into: list[dict[str, Any]]) -> Callable[[KafkaBroker], None]:
    def setup(broker: KafkaBroker) -> None:
        @broker.subscriber(topic)
        async def service(body: dict[str, Any]) -> None:
            into.append(body)

    return setup


def test_model_families_describe_their_parameters(gw: Running) -> None:
    families = gw.client.get("/v1/models/families", headers=headers("viewer")).json()
    lightgbm = next(f for f in families if f["family"] == "lightgbm")
    leaves = next(p for p in lightgbm["parameters"] if p["name"] == "num_leaves")
    assert (leaves["kind"], leaves["default"], leaves["low"], leaves["high"]) == ("int", 31, 2, 4096)
    one = gw.client.get("/v1/models/families/logistic_regression", headers=headers("viewer")).json()
    assert one["family"] == "logistic_regression"
    assert_problem(gw.client.get("/v1/models/families/xgboost", headers=headers("viewer")), 422)


def test_a_training_is_validated_against_its_family_then_published(start: Callable[..., Running]) -> None:
    commands: list[dict[str, Any]] = []
    running = start(capture("training.commands.v1", commands))
    body = {"dataset_id": DATASET, "run_name": "lgbm", "family": "lightgbm", "params": {"num_leaves": 63}}
    response = running.client.post("/v1/training", json=body, headers=headers("analyst"))
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    assert commands[0]["type"] == "model.train"
    assert commands[0]["payload"]["request_id"] == job_id
    bad = {**body, "params": {"num_leaves": 1, "nope": 2}}
    problem = assert_problem(running.client.post("/v1/training", json=bad, headers=headers("analyst")), 422)
    assert "num_leaves" in problem["detail"]
    assert len(commands) == 1
    trained = {"type": "model.trained", "source": "training", "correlation_id": job_id,
               "payload": {"request_id": job_id, "run_id": "r1", "version": "4"}}  # fmt: skip
    running.publish(trained, "training.events.v1")
    assert get_job(running, job_id)["result_url"] == "/v1/registry/versions/4"


def test_promotion_is_for_administrators_and_publishes_the_promote_command(start: Callable[..., Running]) -> None:
    commands: list[dict[str, Any]] = []
    running = start(capture("training.commands.v1", commands))
    body = {"version": "2"}
    assert_problem(running.client.post("/v1/registry/aliases/champion", json=body, headers=headers("analyst")), 403)
    response = running.client.post("/v1/registry/aliases/challenger", json=body, headers=headers("admin"))
    assert response.status_code == 202, response.text
    payload = commands[0]["payload"]
    assert (commands[0]["type"], payload["alias"], payload["version"]) == ("model.promote", "challenger", "2")
    assert payload["requested_by"] == "development admin"
    assert_problem(running.client.post("/v1/registry/aliases/king", json=body, headers=headers("admin")), 422)


def test_the_registry_lists_versions_with_their_aliases(gw: Running) -> None:
    registry = gw.client.get("/v1/registry", headers=headers("viewer")).json()
    assert registry["aliases"] == {"champion": "1"}
    assert [v["version"] for v in registry["versions"]] == ["2", "1"]
    one = gw.client.get("/v1/registry/versions/1", headers=headers("viewer")).json()
    assert one["aliases"] == ["champion"]
    assert_problem(gw.client.get("/v1/registry/versions/9", headers=headers("viewer")), 404)


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


# --- raw tables ---------------------------------------------------------------------------------------------------


@pytest.fixture
def raw_gw(start: Callable[..., Running], sample_data: Path) -> Running:
    """A gateway showing the real sample tables (skipped when the sample is absent)."""
    return start(sample_dir=sample_data / "joinable_capstone", raw_sample_rows=500)


def test_raw_tables_are_listed_with_their_sizes(raw_gw: Running) -> None:
    listed = {t["name"]: t for t in raw_gw.client.get("/v1/raw/tables", headers=headers("viewer")).json()}
    assert {"application_train", "bureau", "previous_application"} <= set(listed)
    assert listed["application_train"]["rows"] == 1000
    assert listed["bureau"]["source"] == "sample"
    assert listed["bureau"]["key"] == ["SK_ID_BUREAU"]


def test_a_raw_table_has_its_schema_with_the_glossary_and_a_cached_sample(raw_gw: Running) -> None:
    view = headers("viewer")
    columns = {c["name"]: c for c in raw_gw.client.get("/v1/raw/tables/bureau/columns", headers=view).json()}
    assert columns["CREDIT_ACTIVE"]["type"] == "category"
    assert columns["CREDIT_ACTIVE"]["description"]
    entry = raw_gw.client.get("/v1/raw/tables/application_train/columns/EXT_SOURCE_3", headers=view).json()
    assert entry["label"] == "External credit score 3"
    page = raw_gw.client.get("/v1/raw/tables/application_train/rows?offset=10&limit=5", headers=view).json()
    assert (len(page["rows"]), page["total"], page["sampled"]) == (5, 500, True)
    assert json.dumps(page["rows"])  # missing values travel as null
    cache = raw_gw.app.state.gateway.data
    loads = cache.loads
    raw_gw.client.get("/v1/raw/tables/application_train/rows?offset=20", headers=view)
    assert cache.loads == loads


def test_raw_distributions_and_correlations_are_chart_data(raw_gw: Running) -> None:
    view = headers("viewer")
    gender = raw_gw.client.get("/v1/raw/tables/application_train/columns/CODE_GENDER/distribution", headers=view)
    assert gender.json()["kind"] == "categorical"
    assert sum(c["count"] for c in gender.json()["categories"]) + gender.json()["missing"] == 500
    amounts = raw_gw.client.get("/v1/raw/tables/bureau/columns/AMT_CREDIT_SUM/distribution?bins=10", headers=view)
    assert amounts.json()["kind"] == "numeric"
    assert len(amounts.json()["bins"]) == 10
    spread = raw_gw.client.get("/v1/raw/tables/application_train/correlations?top=5", headers=view).json()
    assert spread["columns"] > 50
    assert len(spread["top"]) == 5
    assert abs(spread["top"][0]["r"]) >= abs(spread["top"][-1]["r"])
    assert all(not p["a"].startswith("SK_ID") for p in spread["top"])


def test_unknown_raw_tables_and_columns_are_404(raw_gw: Running) -> None:
    view = headers("viewer")
    assert_problem(raw_gw.client.get("/v1/raw/tables/passwords/rows", headers=view), 404)
    assert_problem(raw_gw.client.get("/v1/raw/tables/application_test/rows", headers=view), 404)  # not in the sample
    assert_problem(raw_gw.client.get("/v1/raw/tables/bureau/columns/NOPE/distribution", headers=view), 404)


def test_without_raw_data_the_list_is_empty(gw: Running) -> None:
    assert gw.client.get("/v1/raw/tables", headers=headers("viewer")).json() == []


# --- experiments and runs -----------------------------------------------------------------------------------------


def test_runs_give_metrics_tables_figures_cv_results_and_cards(gw: Running) -> None:
    view, run = headers("viewer"), FakeRuns.RUN
    assert gw.client.get("/v1/experiments", headers=view).json()[0]["experiment_id"] == "1"
    table = gw.client.get("/v1/experiments/1/runs?metrics=test_", headers=view).json()
    assert table[0]["metrics"] == {"test_roc_auc": 0.77}
    assert gw.client.get(f"/v1/runs/{run}/figures/roc_curve_test", headers=view).json() == {"x": [0, 1], "y": [0, 1]}
    png = gw.client.get(f"/v1/runs/{run}/figures/roc_curve_test/png", headers=view)
    assert png.headers["content-type"] == "image/png"
    assert gw.client.get(f"/v1/runs/{run}/cv-results", headers=view).json()["rows"][0]["param_num_leaves"] == 31
    assert gw.client.get(f"/v1/runs/{run}/model-card", headers=view).json()["markdown"] == "# Card"
    assert_problem(gw.client.get(f"/v1/runs/{run}/figures/other", headers=view), 404)
    assert_problem(gw.client.get("/v1/experiments/2/runs", headers=view), 404)
    assert_problem(gw.client.delete(f"/v1/runs/{run}", headers=headers("analyst")), 403)
    assert gw.client.delete(f"/v1/runs/{run}", headers=headers("admin")).status_code == 204
    assert_problem(gw.client.get(f"/v1/runs/{run}", headers=view), 404)


# --- batches and clients ------------------------------------------------------------------------------------------


def test_a_batch_is_decided_in_order_with_the_mean_contribution_of_each_feature(start: Callable[..., Running]) -> None:
    running = start(fake_scoring)
    applications = [{**EXAMPLE_APPLICATION, "SK_ID_CURR": 100001 + i} for i in range(5)]
    response = running.client.post(
        "/v1/scoring/batches", json={"applications": applications}, headers=headers("analyst")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [d["sk_id_curr"] for d in body["decisions"]] == [100001 + i for i in range(5)]
    assert body["refused"] == 5
    assert body["features"] == [
        {"feature": "EXT_SOURCE_3", "label": "External score 3", "mean_abs_contribution": 0.4, "decisions": 5}
    ]
    too_many = {"applications": [EXAMPLE_APPLICATION] * 1001}
    assert_problem(running.client.post("/v1/scoring/batches", json=too_many, headers=headers("analyst")), 422)
    bad = {"applications": [EXAMPLE_APPLICATION, {"AMT_CREDIT": 1.0}]}
    problem = assert_problem(running.client.post("/v1/scoring/batches", json=bad, headers=headers("analyst")), 422)
    assert "application 1" in problem["detail"]


@pytest.fixture
def client_gw(start: Callable[..., Running], sample_data: Path) -> tuple[Running, int]:
    running = start(fake_scoring, sample_dir=sample_data / "joinable_capstone", raw_sample_rows=200)
    rows = running.client.get("/v1/raw/tables/application_train/rows?limit=1", headers=headers("viewer")).json()
    return running, int(rows["rows"][0]["SK_ID_CURR"])


def test_a_known_client_has_its_data_and_latest_decision(client_gw: tuple[Running, int]) -> None:
    running, client = client_gw
    now = datetime.now(UTC)
    rows = [make_decision("old", client, now - timedelta(days=1)), make_decision("new", client, now)]
    db.insert_ignore(running.app.state.gateway.engine, DecisionRecord, rows, keys=["request_id"])
    body = running.client.get(f"/v1/clients/{client}", headers=headers("viewer")).json()
    assert (body["table"], body["application"]["SK_ID_CURR"]) == ("application_train", client)
    assert "TARGET" not in body["application"]
    assert (body["decision"]["request_id"], body["decision"]["model"]["version"]) == ("new", "1")
    assert_problem(running.client.get("/v1/clients/1", headers=headers("viewer")), 404)


def test_a_client_is_compared_with_all_or_similar_clients(client_gw: tuple[Running, int]) -> None:
    running, client = client_gw
    view = headers("viewer")
    everyone = running.client.get(f"/v1/clients/{client}/comparison?features=AMT_CREDIT&features=CODE_GENDER",
                                  headers=view).json()  # fmt: skip
    assert everyone["size"] == 1000
    amount, gender = everyone["features"]
    assert 0 <= amount["percentile"] <= 100
    assert amount["distribution"]["kind"] == "numeric"
    assert gender["percentile"] is None
    assert 0 < gender["same_share"] <= 100
    similar = running.client.get(f"/v1/clients/{client}/comparison?group=similar", headers=view).json()
    assert similar["size"] <= 1000
    assert similar["definition"]
    assert len(similar["features"]) >= 6
    unknown = running.client.get(f"/v1/clients/{client}/comparison?features=TARGET", headers=view)
    assert_problem(unknown, 422)


def test_what_if_decides_an_edited_copy_of_the_client(client_gw: tuple[Running, int]) -> None:
    running, client = client_gw
    SCORED.clear()
    response = running.client.post(
        f"/v1/clients/{client}/what-if", json={"changes": {"EXT_SOURCE_3": 0.7}}, headers=headers("analyst")
    )
    assert response.status_code == 200, response.text
    assert response.json()["request_id"].startswith("whatif-")
    sent = SCORED[-1]["application"]
    assert (sent["SK_ID_CURR"], sent["EXT_SOURCE_3"]) == (client, 0.7)
    assert sent["AMT_CREDIT"] is not None  # the rest of the client's data travels unchanged
    bad = running.client.post(
        f"/v1/clients/{client}/what-if", json={"changes": {"AMT_CREDIT": "lots"}}, headers=headers("analyst")
    )
    assert "AMT_CREDIT" in assert_problem(bad, 422)["detail"]
    assert len(SCORED) == 1


def test_a_batch_may_be_larger_than_a_single_request(start: Callable[..., Running]) -> None:
    running = start(fake_scoring, max_body_bytes=2048)
    applications = [{**EXAMPLE_APPLICATION, "SK_ID_CURR": 100001 + i} for i in range(20)]
    batch = running.client.post("/v1/scoring/batches", json={"applications": applications}, headers=headers("analyst"))
    assert batch.status_code == 200, batch.text
    padded = {"application": EXAMPLE_APPLICATION, "request_id": "r", "padding": "x" * 5000}
    assert_problem(running.client.post("/v1/scoring/decisions", json=padded, headers=headers("analyst")), 413)
