"""The gateway's jobs: commands published on Kafka, status from the services' events, live streams.

Dataset builds, trainings, promotions and drift reports are all jobs.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from faststream.kafka import KafkaBroker
from test_gateway_api import (
    DATASET,
    FakeRegistry,
    Running,
    assert_problem,
    headers,
    write_dataset,
)

from credit_shared import db
from credit_shared.db.models import DriftReport
from credit_shared.topics import DATASET_EVENTS

pytestmark = pytest.mark.unit


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
    # the default is the first-start recipe's (15 leaves)
    assert (leaves["kind"], leaves["default"], leaves["low"], leaves["high"]) == ("int", 15, 2, 4096)
    one = gw.client.get("/v1/models/families/logistic_regression", headers=headers("viewer")).json()
    assert one["family"] == "logistic_regression"
    assert_problem(gw.client.get("/v1/models/families/xgboost", headers=headers("viewer")), 422)


def test_a_training_is_validated_against_its_family_then_published(start: Callable[..., Running]) -> None:
    commands: list[dict[str, Any]] = []
    running = start(capture("training.commands.v1", commands))
    write_dataset(running.settings.platform.datasets_dir)
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


class ForgetfulRegistry(FakeRegistry):
    """Counts how often the gateway drops its cached registry."""

    def __init__(self) -> None:
        super().__init__()
        self.forgotten = 0

    def forget(self) -> None:
        self.forgotten += 1


def test_a_trained_or_promoted_model_makes_the_cached_registry_stale(gw: Running) -> None:
    registry = ForgetfulRegistry()
    gw.app.state.gateway.models = registry
    gw.event("j-1", "dataset.progress", {"request_id": "j-1", "stage": "x", "percent": 1})
    assert registry.forgotten == 0
    gw.event("j-2", "model.trained", {"request_id": "j-2", "version": "3"})
    gw.event("j-3", "model.promoted", {"request_id": "j-3", "version": "3", "alias": "champion"})
    assert registry.forgotten == 2
