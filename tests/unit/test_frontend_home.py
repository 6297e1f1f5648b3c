"""The dashboard's home page and navigation against a fake gateway."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from streamlit.testing.v1 import AppTest
from test_frontend_client import FakeGateway, open_page, problem, texts

from credit_frontend.client import use_client_factory

pytestmark = pytest.mark.unit

APP = Path(__file__).resolve().parents[2] / "frontend" / "src" / "credit_frontend" / "app.py"
READY = {"ready": True, "service": "gateway", "checks": {"broker": True, "mlflow": True, "database": True}}


def make_registry(**aliases: str) -> dict[str, Any]:
    versions = [
        {
            "name": "credit-default",
            "version": v,
            "aliases": [a for a, x in aliases.items() if x == v],
            "run_id": f"run-{v}",
            "status": "READY",
            "created_at": "2026-11-24T10:00:00Z",
            "description": None,
            "tags": {},
        }
        for v in ("2", "1")
    ]
    return {"name": "credit-default", "aliases": aliases, "versions": versions}


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway().on("GET", "/ready", READY)
    use_client_factory(fake.client)
    yield fake
    use_client_factory(None)


def test_shows_every_component_status_and_the_champion_with_its_threshold(gateway: FakeGateway) -> None:
    gateway.on("GET", "/v1/registry", make_registry(champion="2"))
    gateway.on(
        "GET",
        "/v1/runs/run-2",
        {"run_id": "run-2", "params": {}, "metrics": {"threshold": 0.091, "test_roc_auc": 0.771, "test_cost": 0.49}},
    )
    gateway.on(
        "GET",
        "/v1/monitoring/alerts",
        [
            {
                "severity": "red",
                "message": "17 of 798 columns drifted",
                "model_version": "2",
                "created_at": "2026-11-24T11:00:00Z",
            }
        ],
    )
    at = open_page("home")
    assert not at.exception
    status = at.dataframe[0].value
    assert set(status["Component"]) == {"gateway", "broker", "mlflow", "database"}
    assert set(status["Status"]) == {"✅ up"}
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Decision threshold"] == "9.1 %"
    assert metrics["Test ROC AUC"] == "0.771"
    assert "version **2**" in texts(at, "markdown")
    assert "🔴 Red" in texts(at, "markdown")
    assert "17 of 798 columns drifted" in texts(at, "markdown")


def test_names_the_component_that_is_down(gateway: FakeGateway) -> None:
    gateway.on("GET", "/ready", httpx.Response(503, json={"ready": False, "checks": {"broker": False, "mlflow": True}}))
    at = open_page("home")
    assert "❌ down" in set(at.dataframe[0].value["Status"])
    assert "broker does not answer" in texts(at, "warning")


def test_without_a_champion_or_alert_says_what_to_do(gateway: FakeGateway) -> None:
    gateway.on("GET", "/v1/registry", make_registry()).on("GET", "/v1/monitoring/alerts", [])
    at = open_page("home")
    assert not at.exception
    assert "No champion yet" in texts(at, "info")
    assert "No drift alert" in texts(at, "success")


def test_resources_the_gateway_lacks_are_not_available_yet_not_a_crash(gateway: FakeGateway) -> None:
    at = open_page("home")
    assert not at.exception
    assert "Not available yet" in texts(at, "info")
    assert "/v1/monitoring/alerts" in texts(at, "info")


def test_a_registry_error_is_a_message_with_what_to_do(gateway: FakeGateway) -> None:
    gateway.on("GET", "/v1/registry", problem(503, "the model registry (MLflow) is not reachable; try again later"))
    at = open_page("home")
    assert not at.exception
    assert "MLflow" in texts(at, "error")
    assert "./credit status" in texts(at, "error")


def test_a_gateway_that_is_down_gives_one_banner(gateway: FakeGateway) -> None:
    gateway.down = True
    at = open_page("home")
    assert not at.exception
    assert len(at.error) == 1
    assert "make up" in at.error[0].value


def test_the_app_opens_on_home_and_a_down_gateway_is_a_banner(gateway: FakeGateway) -> None:
    gateway.on("GET", "/v1/registry", make_registry()).on("GET", "/v1/monitoring/alerts", [])
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value.endswith("Credit-scoring platform")
    gateway.down = True
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert at.error[0].value.startswith("**The gateway does not answer.**")
