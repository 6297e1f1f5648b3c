"""The monitoring page against a fake gateway: alerts, drift over time, one report, on-demand reports, audit log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from test_frontend_client import FakeGateway, open_page, problem, sse, texts

from credit_frontend.client import use_client_factory

pytestmark = pytest.mark.unit


def make_summary(report_id: str, hour: int, severity: str, drifted: int) -> dict[str, Any]:
    """A report as the gateway lists it (``ReportSummary``)."""
    return {
        "report_id": report_id,
        "kind": "window",
        "model_version": "3",
        "dataset_id": "ds-1",
        "window_start": f"2026-11-24T{hour - 1:02d}:00:00Z",
        "window_end": f"2026-11-24T{hour:02d}:00:00Z",
        "rows": 1000,
        "columns": 100,
        "drifted": drifted,
        "severity": severity,
        "created_at": f"2026-11-24T{hour:02d}:00:05Z",
        "url": f"/v1/monitoring/reports/{report_id}",
        "html_url": f"/v1/monitoring/reports/{report_id}/html",
    }


def make_detail(summary: dict[str, Any], **event: Any) -> dict[str, Any]:
    """A report as the gateway gives it alone (``ReportDetail``: the stored ``drift.reported`` event in ``summary``)."""
    verdict = {
        "column": "EXT_SOURCE_3",
        "kind": "numerical",
        "method": "wasserstein",
        "threshold": 0.1,
        "score": 0.31,
        "drifted": True,
        "importance": 0.2,
    }
    hour = int(summary["window_end"][11:13])
    stored = {
        "report_id": summary["report_id"],
        "kind": "window",
        "model_name": "credit-default",
        "model_version": "3",
        "rows": 1000,
        "columns": 100,
        "drifted": summary["drifted"],
        "drift_share": summary["drifted"] / 100,
        "severity": summary["severity"],
        "important_drifted": [],
        "top_drifted": [verdict],
        "html": True,
        "prediction": {
            "psi": 0.05 * hour,
            "reference": "first_window",
            "approval_rate": 0.9,
            "reference_approval_rate": 0.92,
            "approval_rate_shift": -0.02,
        },
    }
    return summary | {"summary": stored | event}


def make_decision_view(request_id: str, decision: str) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "sk_id_curr": 100001,
        "received_at": "2026-11-24T10:00:00Z",
        "decided_at": "2026-11-24T10:00:01Z",
        "probability": 0.2,
        "threshold": 0.1,
        "decision": decision,
        "reasons": [],
        "model_name": "credit-default",
        "model_version": "3",
        "model_alias": "champion",
        "run_id": "r",
        "shadow": None,
        "latency_ms": 4.25,
        "input_hash": "h",
    }


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway()
    fake.on("GET", "/v1/datasets", []).on("GET", "/v1/decisions", {"items": [], "next_before": None})
    use_client_factory(fake.client)
    yield fake
    use_client_factory(None)


def with_reports(gateway: FakeGateway) -> FakeGateway:
    reports = [make_summary("w-2", 11, "red", 20), make_summary("w-1", 10, "green", 2)]
    gateway.on("GET", "/v1/monitoring/reports", reports)
    columns = [
        {
            "column": "EXT_SOURCE_3",
            "kind": "numerical",
            "method": "wasserstein",
            "threshold": 0.1,
            "score": 0.31,
            "drifted": True,
        },
        {
            "column": "AMT_CREDIT",
            "kind": "numerical",
            "method": "wasserstein",
            "threshold": 0.1,
            "score": 0.01,
            "drifted": False,
        },
    ]
    gateway.on(
        "GET",
        "/v1/monitoring/reports/w-2",
        make_detail(reports[0], important_drifted=["EXT_SOURCE_3"], all_columns=columns),
    )
    gateway.on("GET", "/v1/monitoring/reports/w-1", make_detail(reports[1]))
    gateway.on(
        "GET", "/v1/monitoring/reports/w-2/html", httpx.Response(200, text="<html><body>evidently report</body></html>")
    )
    gateway.on("GET", "/v1/monitoring/alerts", [reports[0]])
    return gateway


def test_shows_alerts_with_severity_in_words_and_drift_over_time(gateway: FakeGateway) -> None:
    with_reports(gateway)
    at = open_page("monitoring")
    assert not at.exception
    alerts = at.dataframe[0].value
    assert alerts["Severity"].tolist() == ["🔴 Red: strong drift, act"]
    assert alerts["What happened"].tolist() == ["20 of 100 columns drifted"]
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    titles = [c["layout"]["title"]["text"] for c in charts]
    assert "Share of drifted model inputs per report (label = severity)" in titles
    assert "Prediction drift: PSI of the probabilities and approval rate" in titles
    over_time = charts[titles.index("Share of drifted model inputs per report (label = severity)")]["data"][0]
    assert over_time["y"] == [2.0, 20.0]  # oldest first
    assert over_time["text"] == ["green", "red"]  # severity in words: emoji alone are boxes without an emoji font
    assert "these drifted: EXT_SOURCE_3" in texts(at, "warning")


def test_lists_only_drifted_columns_until_asked_and_embeds_the_evidently_html(gateway: FakeGateway) -> None:
    with_reports(gateway)
    at = open_page("monitoring")
    verdicts = next(d.value for d in at.dataframe if "Drifted" in d.value.columns)
    assert verdicts["Column"].tolist() == ["EXT_SOURCE_3"]
    assert verdicts["Method"].tolist() == ["Wasserstein distance (in standard deviations)"]  # not "wasserstein"
    at.checkbox[0].uncheck().run()
    verdicts = next(d.value for d in at.dataframe if "Drifted" in d.value.columns)
    assert verdicts["Column"].tolist() == ["EXT_SOURCE_3", "AMT_CREDIT"]
    at.toggle[0].set_value(True).run()
    assert not at.exception
    (frame,) = [e.proto.srcdoc for e in at.get("iframe")]
    assert frame.startswith("<script>")  # scaled to the frame: no column cut off
    assert "style.zoom" in frame
    assert frame.endswith("<html><body>evidently report</body></html>")


def test_an_on_demand_report_is_followed_until_ready(gateway: FakeGateway) -> None:
    job = {"job_id": "j1", "status": "queued", "progress": 0}
    gateway.on("POST", "/v1/monitoring/reports", httpx.Response(202, json=job))
    gateway.on("GET", "/v1/monitoring/reports", [])
    gateway.on("GET", "/v1/monitoring/alerts", [])
    gateway.on(
        "GET",
        "/v1/jobs/j1/events",
        sse(
            job,
            job | {"status": "running", "progress": 50, "stage": "drift"},
            job | {"status": "succeeded", "progress": 100},
        ),
    )
    at = open_page("monitoring")
    assert "No drift report yet" in texts(at, "info")
    at.text_input[0].input("EXT_SOURCE_3")
    next(b for b in at.button if b.label == "Compute the report").click()
    at.run()
    assert not at.exception
    assert gateway.sent("POST", "/v1/monitoring/reports") == [
        {"dataset_id": None, "part": "production", "column": "EXT_SOURCE_3"}
    ]
    assert "Drift report done" in texts(at, "success")


def test_recent_decisions_are_filterable(gateway: FakeGateway) -> None:
    gateway.on("GET", "/v1/decisions", {"items": [make_decision_view("a", "refused")], "next_before": None})
    at = open_page("monitoring")
    table = at.dataframe[-1].value
    assert table["Decision"].tolist() == ["⛔ Refused"]
    assert table["Probability"].tolist() == ["20.0 %"]
    assert table["Explain"].tolist() == ["/client?client=100001"]
    next(s for s in at.selectbox if s.label == "Decision").set_value("refused").run()
    params = [r.url.params for r in gateway.calls if r.url.path == "/v1/decisions"]
    assert params[-1]["decision"] == "refused"


def test_missing_monitoring_resources_are_not_available_yet(gateway: FakeGateway) -> None:
    at = open_page("monitoring")
    assert not at.exception
    assert "/v1/monitoring/alerts" in texts(at, "info")
    assert "/v1/monitoring/reports" in texts(at, "info")
    assert "No decision matches" in texts(at, "info")


def test_an_unreadable_report_is_a_message(gateway: FakeGateway) -> None:
    with_reports(gateway)
    gateway.on("GET", "/v1/monitoring/reports/w-2", problem(404, "report 'w-2' does not exist"))
    at = open_page("monitoring")
    assert not at.exception
    assert "report 'w-2' does not exist" in texts(at, "error")
