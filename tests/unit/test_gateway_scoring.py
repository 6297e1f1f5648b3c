"""The gateway's scoring resources: synchronous decisions over request/reply, batches, known clients, what-if."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_gateway_api import (
    SCORED,
    Running,
    assert_problem,
    fake_scoring,
    headers,
    make_decision,
)

from credit_shared import db
from credit_shared.contracts.loans import EXAMPLE_APPLICATION
from credit_shared.db.models import DecisionRecord

pytestmark = pytest.mark.unit


# --- synchronous decision -----------------------------------------------------------------------------------------


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


def test_a_batch_fails_with_504_only_when_no_decision_arrives_for_the_stall_timeout(
    start: Callable[..., Running],
) -> None:
    running = start(decision_timeout_s=0.1, batch_stall_timeout_s=0.3)  # nobody answers
    applications = [{**EXAMPLE_APPLICATION, "SK_ID_CURR": 100001 + i} for i in range(5)]
    response = running.client.post(
        "/v1/scoring/batches", json={"applications": applications}, headers=headers("analyst")
    )
    body = assert_problem(response, 504)
    assert "0.3 s while 5 of the batch waited" in body["detail"]
    assert running.app.state.gateway.replies.pending == 0
