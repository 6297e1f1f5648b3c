"""``/v1/datasets/{dataset_id}/scorings``: the scoring job's command and status, then the stored scoring (written by
the scoring service's own code) read back as a summary and as paginated rows."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from faststream.kafka import KafkaBroker

from credit_shared.contracts.scoring import SCORE_DATASET, ScoreDataset
from credit_shared.scorings import scorings_dir
from credit_shared.topics import SCORING_COMMANDS, SCORING_EVENTS
from scoring_service.dataset_scoring import ScoringPlaces, score_dataset
from tests.unit.test_gateway_api import PATH_TRICKS, Running, assert_problem, headers, raw_get
from tests.unit.test_scoring_datasets import DATASET, ROWS, write_feature_dataset
from tests.unit.test_scoring_stream import FakeModel

pytestmark = pytest.mark.unit

BASE = f"/v1/datasets/{DATASET}/scorings"


@pytest.fixture
def gw(start: Callable[..., Running]) -> Running:
    running = start()
    write_feature_dataset(running.settings.platform.datasets_dir)
    return running


def stored_scoring(gw: Running, scoring_id: str = "s-1", **values: Any) -> None:
    """A scoring stored by the scoring service's code, with the fake model (threshold 0.5: half refused)."""
    home = gw.settings.platform.home
    places = ScoringPlaces(home / "datasets", scorings_dir(home), chunk_rows=100)
    command = ScoreDataset(request_id=scoring_id, dataset_id=DATASET, **values)
    score_dataset(command, FakeModel(threshold=0.5), places, lambda *_: None)


def test_a_scoring_request_publishes_its_command_and_answers_202_with_the_job(start: Callable[..., Running]) -> None:
    commands: list[dict[str, Any]] = []

    def setup(broker: KafkaBroker) -> None:
        @broker.subscriber(SCORING_COMMANDS.name)
        async def scoring(body: dict[str, Any]) -> None:
            commands.append(body)

    gw = start(setup)
    write_feature_dataset(gw.settings.platform.datasets_dir)
    response = gw.client.post(BASE, json={"sample_size": 1000, "seed": 7}, headers=headers("analyst"))
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["Location"] == job["url"] == f"/v1/jobs/{job['job_id']}"
    assert (job["kind"], job["status"]) == (SCORE_DATASET, "queued")
    [command] = commands
    assert (command["type"], command["correlation_id"]) == (SCORE_DATASET, job["job_id"])
    payload = command["payload"]
    assert payload["request_id"] == job["job_id"]
    assert (payload["dataset_id"], payload["part"], payload["sample_size"], payload["seed"]) == (
        DATASET, "production", 1000, 7,
    )  # fmt: skip
    assert payload["model_version"] is None
    assert payload["requested_by"]


def test_the_job_follows_the_scoring_events_to_the_stored_result(gw: Running) -> None:
    job_id = gw.client.post(BASE, json={}, headers=headers("analyst")).json()["job_id"]

    def event(type_: str, payload: dict[str, Any]) -> None:
        body = {"type": type_, "source": "scoring", "correlation_id": job_id, "payload": payload}
        gw.publish(body, SCORING_EVENTS.name)

    event("scoring.progress", {"request_id": job_id, "stage": "scoring", "percent": 40, "message": "16 of 40 rows"})
    job = gw.client.get(f"/v1/jobs/{job_id}", headers=headers("viewer")).json()
    assert (job["status"], job["stage"], job["progress"]) == ("running", "scoring", 40.0)
    stored_scoring(gw, job_id)
    event("scoring.dataset_scored", {"request_id": job_id, "scoring_id": job_id, "dataset_id": DATASET, "rows": ROWS})
    job = gw.client.get(f"/v1/jobs/{job_id}", headers=headers("viewer")).json()
    assert job["status"] == "succeeded"
    assert job["result_url"] == f"{BASE}/{job_id}"
    assert gw.client.get(job["result_url"], headers=headers("viewer")).status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "role", "status"),
    [
        ("/v1/datasets/ds-nowhere/scorings", {}, "analyst", 404),
        (BASE, {"model_version": "9"}, "analyst", 404),
        (BASE, {"part": "everything"}, "analyst", 422),
        (BASE, {"sample_size": 0}, "analyst", 422),
        (BASE, {}, "viewer", 403),
    ],
)
def test_a_scoring_request_that_cannot_run_is_refused_before_any_command(
    gw: Running, path: str, body: dict[str, Any], role: str, status: int
) -> None:
    assert_problem(gw.client.post(path, json=body, headers=headers(role)), status)
    assert gw.client.get("/v1/jobs", headers=headers("viewer")).json() == []


def test_without_a_champion_only_a_named_version_can_score(gw: Running) -> None:
    gw.app.state.gateway.models.registry.aliases = {}
    problem = assert_problem(gw.client.post(BASE, json={}, headers=headers("analyst")), 409)
    assert "champion" in problem["detail"]
    assert gw.client.post(BASE, json={"model_version": "2"}, headers=headers("analyst")).status_code == 202


def test_a_stored_scoring_reads_as_a_summary_and_as_pages_of_rows(gw: Running) -> None:
    stored_scoring(gw, "s-1")
    stored_scoring(gw, "s-2", sample_size=10, seed=3)
    listed = gw.client.get(BASE, headers=headers("viewer")).json()
    assert [s["scoring_id"] for s in listed] == ["s-2", "s-1"]
    assert listed[0]["rows_url"] == f"{BASE}/s-2/rows"
    assert "features" not in listed[0]

    summary = gw.client.get(f"{BASE}/s-1", headers=headers("viewer")).json()
    assert (summary["rows"], summary["refused"], summary["part"]) == (ROWS, ROWS // 2, "production")
    assert summary["model"]["version"] == "1"
    assert summary["features"][0]["feature"] == "EXT_SOURCE_3"
    assert set(summary["probability"]) >= {"p05", "p50", "p95", "mean"}

    page = gw.client.get(f"{BASE}/s-1/rows?limit=15", headers=headers("viewer")).json()
    assert (page["total"], len(page["rows"])) == (ROWS, 15)
    assert page["next"] == f"{BASE}/s-1/rows?offset=15&limit=15"
    last = gw.client.get(f"{BASE}/s-1/rows?offset=30&limit=15", headers=headers("viewer")).json()
    assert (len(last["rows"]), last["next"]) == (10, None)
    refused = gw.client.get(f"{BASE}/s-1/rows?decision=refused&limit=1000", headers=headers("viewer")).json()
    assert refused["total"] == ROWS // 2
    assert all(r["decision"] == "refused" and r["reasons"] for r in refused["rows"])
    assert refused["rows"][0]["reasons"][0]["feature"] == "EXT_SOURCE_3"
    assert json.dumps(refused)  # plain JSON: no NaN


def test_unknown_scorings_and_path_tricks_get_404_or_422_never_a_file(gw: Running) -> None:
    stored_scoring(gw, "s-1")
    (gw.settings.platform.home / "secret.txt").write_text("top secret")
    assert_problem(gw.client.get(f"{BASE}/s-404", headers=headers("viewer")), 404)
    assert_problem(gw.client.get("/v1/datasets/ds-other/scorings/s-1", headers=headers("viewer")), 404)
    assert_problem(gw.client.get("/v1/datasets/ds-other/scorings", headers=headers("viewer")), 404)
    for trick in PATH_TRICKS:
        for path in (f"{BASE}/{trick}", f"{BASE}/{trick}/rows"):
            status, text = raw_get(gw, path, "viewer")  # as sent: no client-side normalisation of ".."
            assert status in (404, 422), (path, status)
            assert "top secret" not in text
