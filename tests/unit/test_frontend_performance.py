"""The performance page against a fake gateway: empty before decisions, then tables and charts for people."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from test_frontend_client import FakeGateway, open_page, texts

from credit_frontend.client import use_client_factory
from monitoring_service.performance import Cell, performance_report, realized_frame

pytestmark = pytest.mark.unit


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway()
    use_client_factory(fake.client)
    yield fake
    use_client_factory(None)


def report() -> dict[str, object]:
    rows = [
        (f"r-{i}", v, role, "2026-11", "C", 0.02 + 0.001 * i + (0.01 if v == "2" else 0), i % 2 == 0, i % 7 == 0)
        for i in range(200)
        for v, role in (("1", "champion"), ("2", "challenger"))
    ]
    cells = [
        Cell(v, role, "2026-11", "C", "credit-default", 400, 300, 30.0, 80.0, 36.0)
        for v, role in (("1", "champion"), ("2", "challenger"))
    ]
    found = performance_report(
        cells, realized_frame(rows), {}, outcomes_received=200, outcomes_held=3, now=datetime(2026, 12, 2, tzinfo=UTC)
    )
    return found.model_dump(mode="json")


def test_says_why_it_is_empty_before_any_decision(gateway: FakeGateway) -> None:
    gateway.on(
        "GET",
        "/v1/performance",
        {
            "versions": [],
            "comparisons": [],
            "alerts": [],
            "computed_at": None,
            "outcomes_received": 0,
            "outcomes_held": 0,
            "population": "x",
        },
    )
    at = open_page("performance")
    assert not at.exception
    assert "once outcomes are published" in texts(at, "info")


def test_shows_versions_vintages_calibration_grades_and_the_comparison(gateway: FakeGateway) -> None:
    full = report()
    gateway.on("GET", "/v1/performance", {k: v for k, v in full.items() if k not in ("vintages", "grades")})
    gateway.on("GET", "/v1/performance/vintages", full["vintages"])
    gateway.on("GET", "/v1/performance/grades", full["grades"])
    at = open_page("performance")
    assert not at.exception
    versions = at.dataframe[0].value
    assert versions["Model"].tolist() == ["v1 champion (decides)", "v2 challenger (shadow)"]
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert titles == [
        "Default rate by month of decision: observed (solid), expected on the same loans (dashed), mean PD of all "
        "decisions (dotted)",
        "Observed against expected default rate, by tenth of the PD",
    ]
    assert [m.label for m in at.metric][:2] == ["Cost per applicant, champion v1", "Cost per applicant, challenger v2"]
    assert "3 waiting for their decision" in texts(at, "caption")
