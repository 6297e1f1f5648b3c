"""Monitoring on the embedded platform: served decisions become window reports, a shift raises an alert, and
on-demand reports work for one column and for every column.

Applications are rows of the platform's own synthetic ``application_train.csv`` (the distribution the champion was
trained on), published on ``loan-applications`` the way a client does; the scoring service decides them and the
monitoring service compares every 1,000 decisions (the shared platform's window) with the champion's training
reference.
Then the same rows are published again with their external scores and income moved: the window holding them
drifts on those columns, and an alert is published on ``monitoring.events.v1`` and listed by the gateway.

The platform is shared with other tests, so the window that closes first may also hold their decisions: 1,000
shifted decisions guarantee that the shifted rows fill at least the part of a window that the earlier ones left.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.conftest import TEST_WINDOW, Running, api, follow_job
from tests.e2e.outside import (
    DECISIONS,
    TopicReader,
    application_message,
    kaggle_rows,
    make_producer,
    request_ids,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]  # the first test also starts the shared platform

EVENTS = "monitoring.events.v1"
WINDOW = TEST_WINDOW  # MONITORING_WINDOW_SIZE on the shared platform
SHIFTED = ("EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3")
WAIT_S = 600.0


@dataclass
class Traffic:
    """What was published and what the monitoring service answered."""

    baseline: list[str]
    shifted: list[str]
    events: list[dict[str, Any]]  # envelopes read from the monitoring events topic

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [e["payload"] for e in self.events if e.get("type") == type_]

    def shift_alerts(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(alert, window report) pairs whose report counts a shifted column among its drifted ones."""
        reports = {r["report_id"]: r for r in self.of_type("drift.reported") if r["kind"] == "window"}
        return [
            (alert, reports[alert["report_id"]])
            for alert in self.of_type("drift.alert")
            if alert["report_id"] in reports
            and {c["column"] for c in reports[alert["report_id"]]["top_drifted"]} & set(SHIFTED)
        ]


def training_rows(running: Running, count: int) -> list[dict[str, Any]]:
    """Rows of the synthetic table the platform trained on, as a client sends them (without TARGET)."""
    rows = kaggle_rows(running.home / "raw" / "synthetic", count, "application_train.csv")
    return [{k: v for k, v in row.items() if k != "TARGET"} for row in rows]


def shifted(row: dict[str, Any]) -> dict[str, Any]:
    """The row with its external scores pushed to the bottom and its income multiplied by five."""
    moved = {k: (None if row.get(k) is None else round(0.05 + 0.1 * float(row[k]), 6)) for k in SHIFTED}
    income = row.get("AMT_INCOME_TOTAL")
    return {**row, **moved, "AMT_INCOME_TOTAL": None if income is None else float(income) * 5}


def publish_and_wait(running: Running, applications: dict[str, dict[str, Any]]) -> None:
    """Publish applications on ``loan-applications`` and wait for every decision."""
    kafka = running.platform.urls["kafka"]
    decisions = TopicReader(kafka, DECISIONS)
    producer = make_producer(kafka, **{"linger.ms": 20})
    try:
        for request_id, application in applications.items():
            producer.produce("loan-applications", value=application_message(request_id, application),
                             key=str(application["SK_ID_CURR"]).encode())  # fmt: skip
            producer.poll(0)
        assert producer.flush(60) == 0, "applications not delivered"
        wanted = set(applications)
        seen: set[str] = set()

        def done(messages: list[Any]) -> bool:
            seen.update(str(r) for r in request_ids(messages))
            messages.clear()
            return wanted <= seen

        decisions.read_until(done, f"decisions for {len(wanted)} applications", WAIT_S)
    finally:
        decisions.close()


@pytest.fixture(scope="module")
def traffic(embedded_platform: Running) -> Iterator[Traffic]:
    """A window's worth of ordinary applications, then a window's worth of shifted ones; the events they caused."""
    run = uuid.uuid4().hex[:8]
    rows = training_rows(embedded_platform, WINDOW)
    assert len(rows) == WINDOW
    events = TopicReader(embedded_platform.platform.urls["kafka"], EVENTS)
    try:
        baseline = {f"mon-{run}-base-{i}": row for i, row in enumerate(rows)}
        publish_and_wait(embedded_platform, baseline)
        moved = {f"mon-{run}-shift-{i}": shifted(row) for i, row in enumerate(rows)}
        publish_and_wait(embedded_platform, moved)

        def alerted(messages: list[Any]) -> bool:
            return bool(Traffic([], [], [json.loads(m.value()) for m in messages]).shift_alerts())

        messages = events.read_until(alerted, "a drift alert naming the shifted columns", WAIT_S)
        yield Traffic(list(baseline), list(moved), [json.loads(m.value()) for m in messages])
    finally:
        events.close()


def test_served_decisions_make_window_reports_and_a_shift_raises_an_alert(
    embedded_platform: Running, traffic: Traffic
) -> None:
    reported = traffic.of_type("drift.reported")
    windows = [r for r in reported if r["kind"] == "window"]
    assert windows, "no window report"
    assert all(r["rows"] > 0 and r["columns"] > 0 for r in windows)
    alert, report = traffic.shift_alerts()[0]
    moved = {c["column"] for c in report["top_drifted"]}
    assert alert["severity"] in {"orange", "red"}
    assert report["prediction"]["reference"] == "training_run"  # the champion logged its test probabilities
    with api(embedded_platform) as client:
        alerts = client.get("/v1/monitoring/alerts").raise_for_status().json()
        assert alert["report_id"] in {a["report_id"] for a in alerts}
        detail = client.get(f"/v1/monitoring/reports/{alert['report_id']}").raise_for_status().json()
        assert detail["summary"]["drifted"] == report["drifted"]
        assert {c["column"] for c in detail["summary"]["all_columns"] if c["drifted"]} >= moved


@pytest.mark.parametrize("column", ["EXT_SOURCE_2", None], ids=["one-column", "all-columns"])
def test_on_demand_report_of_the_production_part(embedded_platform: Running, column: str | None) -> None:
    with api(embedded_platform) as client:
        body = {"part": "production", "column": column, "max_rows": 5_000}
        job = client.post("/v1/monitoring/reports", json=body).raise_for_status().json()
        ready = follow_job(client, job, WAIT_S)
        report_id = ready["report"]["report_id"]
        detail = client.get(f"/v1/monitoring/reports/{report_id}").raise_for_status().json()
        columns = detail["summary"]["all_columns"]
        if column is None:
            assert len(columns) == detail["columns"] > 1
        else:
            assert [c["column"] for c in columns] == [column]
        assert all(c["score"] is not None for c in columns if c["drifted"])
        html = client.get(f"/v1/monitoring/reports/{report_id}/html")
        assert html.status_code == 200
        assert "Data Drift Summary" in html.text
        assert f"out of {detail['columns']})" in html.text
