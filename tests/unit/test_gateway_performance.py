"""``/v1/performance``: the stored report through the performance view, filtered per version and alias."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from test_gateway_api import Running, headers

from credit_shared import db
from credit_shared.contracts.performance import PerformanceReport
from credit_shared.performance_view import write_performance

pytestmark = pytest.mark.unit
FIGURES = {"decisions": 10, "approved": 8, "approval_rate": 0.8, "predicted_default_rate": 0.1,
           "expected_cost_per_applicant": 0.9, "outcomes": 4, "defaults": 1, "observed_default_rate": 0.25,
           "expected_default_rate": 0.2, "expected_observed_ratio": 0.8, "realized_auc": 0.75,
           "realized_cost_per_applicant": 1.5}  # fmt: skip


def test_performance_is_empty_before_monitoring_computed_it(gw: Running) -> None:
    answer = gw.client.get("/v1/performance", headers=headers("viewer")).json()
    assert (answer["versions"], answer["computed_at"]) == ([], None)
    assert gw.client.get("/v1/performance").status_code == 401


def test_performance_answers_versions_vintages_and_grades(gw: Running) -> None:
    report = PerformanceReport.model_validate(
        {
            "computed_at": datetime(2026, 12, 2, tzinfo=UTC),
            "outcomes_received": 4,
            "outcomes_held": 0,
            "versions": [
                {**FIGURES, "version": "1", "model_name": "credit-default", "alias": "champion", "threshold": 0.09},
                {**FIGURES, "version": "2", "model_name": "credit-default", "alias": "challenger", "threshold": 0.1},
            ],
            "vintages": [
                {**FIGURES, "version": v, "alias": a, "vintage": "2026-12"}
                for v, a in (("1", "champion"), ("2", "challenger"))
            ],
            "grades": [{**FIGURES, "version": "1", "alias": "champion", "grade": "C"}],
        }
    )
    write_performance(db.make_engine(gw.settings.database), report)
    view = headers("viewer")
    answer = gw.client.get("/v1/performance", headers=view).json()
    assert [(v["version"], v["alias"], v["realized_auc"]) for v in answer["versions"]] == [
        ("1", "champion", 0.75),
        ("2", "challenger", 0.75),
    ]
    vintages = gw.client.get("/v1/performance/vintages?alias=challenger", headers=view).json()
    assert [(v["version"], v["vintage"]) for v in vintages] == [("2", "2026-12")]
    assert len(gw.client.get("/v1/performance/grades?version=1", headers=view).json()) == 1
    assert gw.client.get("/v1/performance/alerts", headers=view).json() == []
    assert gw.client.get("/v1/performance/grades?version=x", headers=view).status_code == 422
