"""The gateway's requests to the scoring service that name a model version or ask for a full explanation (in-memory
broker, a fake scoring service answering like the real one)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from faststream.kafka import KafkaBroker
from test_gateway_api import Running, assert_problem, decision_for, headers, make_decision

from credit_shared import db
from credit_shared.contracts.loans import EXAMPLE_APPLICATION
from credit_shared.db.models import DecisionRecord
from credit_shared.topics import LOAN_APPLICATIONS

pytestmark = pytest.mark.unit

UNKNOWN = "9"
SENT: list[dict[str, Any]] = []
CONTRIBUTIONS = [
    {"feature": "EXT_SOURCE_3", "label": "External score 3", "value": 0.1, "contribution": 0.7},
    {"feature": "AMT_CREDIT", "label": "Credit amount", "value": 400000.0, "contribution": -0.2},
]


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """What the scoring service replies: an error for an unknown version, an explanation, or a decision."""
    version = body.get("model_version")
    if version == UNKNOWN:
        error = f"credit-default has no version {version}"
        return {"correlation_id": body["correlation_id"], "error": error, "reason": "unknown_model_version"}
    model = {"name": "credit-default", "version": version or "3", "alias": None if version else "champion",
             "run_id": "r"}  # fmt: skip
    if body.get("explain") == "full":
        return {
            "request_id": body["request_id"], "sk_id_curr": body["application"]["SK_ID_CURR"], "probability": 0.4,
            "threshold": 0.1, "base_value": -0.9, "contributions": CONTRIBUTIONS, "model": model,
            "correlation_id": body["correlation_id"],
        }  # fmt: skip
    return {**decision_for(body), "model": model}


def scoring(broker: KafkaBroker) -> None:
    @broker.subscriber(LOAN_APPLICATIONS.name)
    async def on_application(body: dict[str, Any]) -> None:
        SENT.append(body)
        await broker.publish(answer(body), topic=body["reply_to"])


@pytest.fixture
def gw(start: Callable[..., Running]) -> Running:
    SENT.clear()
    return start(scoring)


def test_an_analyst_may_name_a_registered_version_for_one_decision(gw: Running) -> None:
    body = {"application": EXAMPLE_APPLICATION, "model_version": "4"}
    response = gw.client.post("/v1/scoring/decisions", json=body, headers=headers("analyst"))
    assert response.status_code == 200, response.text
    assert response.json()["model"]["version"] == "4"
    assert response.json()["model"]["alias"] is None
    assert (SENT[-1]["model_version"], SENT[-1]["explain"]) == ("4", None)
    champion = gw.client.post("/v1/scoring/decisions", json={"application": EXAMPLE_APPLICATION},
                              headers=headers("analyst"))  # fmt: skip
    assert (champion.json()["model"]["alias"], SENT[-1]["model_version"]) == ("champion", None)


def test_a_batch_is_decided_by_the_named_version(gw: Running) -> None:
    applications = [{**EXAMPLE_APPLICATION, "SK_ID_CURR": 100001 + i} for i in range(3)]
    response = gw.client.post("/v1/scoring/batches", json={"applications": applications, "model_version": "5"},
                              headers=headers("analyst"))  # fmt: skip
    assert response.status_code == 200, response.text
    assert {d["model"]["version"] for d in response.json()["decisions"]} == {"5"}
    assert [s["model_version"] for s in SENT] == ["5"] * 3


def test_an_unknown_version_is_a_404_problem_naming_it(gw: Running) -> None:
    one = {"application": EXAMPLE_APPLICATION, "model_version": UNKNOWN}
    body = assert_problem(gw.client.post("/v1/scoring/decisions", json=one, headers=headers("analyst")), 404)
    assert f"no version {UNKNOWN}" in body["detail"]
    batch = {"applications": [EXAMPLE_APPLICATION] * 2, "model_version": UNKNOWN}
    assert_problem(gw.client.post("/v1/scoring/batches", json=batch, headers=headers("analyst")), 404)


def test_a_version_that_is_not_a_number_is_refused_before_anything_is_sent(gw: Running) -> None:
    for version in ["champion", "../1", "0", "1 OR 1", "12345678901"]:
        body = {"application": EXAMPLE_APPLICATION, "model_version": version}
        assert_problem(gw.client.post("/v1/scoring/decisions", json=body, headers=headers("analyst")), 422)
    assert SENT == []


def test_a_viewer_cannot_decide_nor_name_a_version(gw: Running) -> None:
    body = {"application": EXAMPLE_APPLICATION, "model_version": "4"}
    assert_problem(gw.client.post("/v1/scoring/decisions", json=body, headers=headers("viewer")), 403)
    assert SENT == []


# --- a client's full explanation ----------------------------------------------------------------------------------


@pytest.fixture
def client_gw(start: Callable[..., Running], sample_data: Path) -> tuple[Running, int]:
    SENT.clear()
    running = start(scoring, sample_dir=sample_data / "joinable_capstone", raw_sample_rows=200)
    rows = running.client.get("/v1/raw/tables/application_train/rows?limit=1", headers=headers("viewer")).json()
    return running, int(rows["rows"][0]["SK_ID_CURR"])


def test_a_viewer_gets_a_clients_full_explanation_from_the_served_model(client_gw: tuple[Running, int]) -> None:
    running, client = client_gw
    response = running.client.get(f"/v1/clients/{client}/explanation", headers=headers("viewer"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["base_value"], body["contributions"], body["model"]["alias"]) == (-0.9, CONTRIBUTIONS, "champion")
    sent = SENT[-1]
    assert (sent["explain"], sent["model_version"], sent["application"]["SK_ID_CURR"]) == ("full", None, client)
    assert sent["request_id"].startswith("explain-")
    assert sent["application"]["AMT_CREDIT"] is not None  # the client's own data, from the raw tables


def test_only_an_analyst_may_explain_with_a_named_version(client_gw: tuple[Running, int]) -> None:
    running, client = client_gw
    path = f"/v1/clients/{client}/explanation?model_version=4"
    assert "analyst" in assert_problem(running.client.get(path, headers=headers("viewer")), 403)["detail"]
    assert SENT == []
    named = running.client.get(path, headers=headers("analyst"))
    assert (named.status_code, named.json()["model"]["version"]) == (200, "4")
    unknown = running.client.get(f"/v1/clients/{client}/explanation?model_version={UNKNOWN}",
                                 headers=headers("analyst"))  # fmt: skip
    assert_problem(unknown, 404)


def test_a_named_version_decision_is_not_the_clients_latest_decision(client_gw: tuple[Running, int]) -> None:
    running, client = client_gw
    now = datetime.now(UTC)
    rows = [make_decision("lending", client, now - timedelta(hours=1)),
            make_decision("what-if", client, now, model_version="4", model_alias=None)]  # fmt: skip
    db.insert_ignore(running.app.state.gateway.engine, DecisionRecord, rows, keys=["request_id"])
    body = running.client.get(f"/v1/clients/{client}", headers=headers("viewer")).json()
    assert (body["decision"]["request_id"], body["decision"]["model"]["alias"]) == ("lending", "champion")


def test_an_unknown_client_has_no_explanation(client_gw: tuple[Running, int]) -> None:
    running, _ = client_gw
    assert_problem(running.client.get("/v1/clients/1/explanation", headers=headers("viewer")), 404)
    assert SENT == []


def test_an_explanation_without_a_reply_in_time_is_504(start: Callable[..., Running], sample_data: Path) -> None:
    running = start(sample_dir=sample_data / "joinable_capstone", raw_sample_rows=200, decision_timeout_s=0.2)
    rows = running.client.get("/v1/raw/tables/application_train/rows?limit=1", headers=headers("viewer")).json()
    client = int(rows["rows"][0]["SK_ID_CURR"])
    body = assert_problem(running.client.get(f"/v1/clients/{client}/explanation", headers=headers("viewer")), 504)
    assert "explanation" in body["detail"]
    assert running.app.state.gateway.replies.pending == 0
