"""The datasets page against a fake gateway: build with live progress, list, browse parts and columns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from streamlit.testing.v1 import AppTest
from test_frontend_client import FakeGateway, open_page, problem, sse, texts

from credit_frontend.client import use_client_factory

pytestmark = pytest.mark.unit

DATASET = "ds-20261124-a1"


def make_dataset_summary(**overrides: Any) -> dict[str, Any]:
    summary = {
        "dataset_id": DATASET,
        "name": "baseline",
        "description": "",
        "created_at": "2026-11-24T10:00:00Z",
        "source_kind": "synthetic",
        "features": 2,
        "dropped": 2,
        "sizes": {"train": 12345, "production": 678},
        "target_rate": 0.0807,
        "url": f"/v1/datasets/{DATASET}",
    }
    return summary | overrides


def make_manifest() -> dict[str, Any]:
    features = [
        {
            "name": "EXT_SOURCE_3",
            "type": "float",
            "label": "External credit score 3",
            "source": "application",
            "online": "request",
        },
        {
            "name": "BUREAU_DAYS_CREDIT_MAX",
            "type": "float",
            "label": "Most recent bureau credit",
            "source": "bureau",
            "online": "history",
        },
    ]
    return make_dataset_summary() | {
        "features": features,
        "parameters": {"max_missing_rate": 0.8},
        "dropped": {"FLAG_DOCUMENT_2": "variance: constant", "OWN_CAR_AGE": "missing: 66 % > 60 %"},
    }


def make_rows(part: str) -> dict[str, Any]:
    rows = [{"SK_ID_CURR": 100001 + i, "EXT_SOURCE_3": 0.1 * i} for i in range(3)]
    return {
        "dataset_id": DATASET,
        "part": part,
        "offset": 0,
        "limit": 50,
        "total": 12345,
        "columns": ["SK_ID_CURR", "EXT_SOURCE_3"],
        "rows": rows,
        "next": None,
    }


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway()
    use_client_factory(fake.client)
    yield fake
    use_client_factory(None)


def with_dataset(gateway: FakeGateway) -> FakeGateway:
    gateway.on("GET", "/v1/datasets", [make_dataset_summary()]).on("GET", f"/v1/datasets/{DATASET}", make_manifest())
    for part in ("train", "target", "production"):
        gateway.on("GET", f"/v1/datasets/{DATASET}/parts/{part}/rows", make_rows(part))
    bins = [{"left": 0.0, "right": 0.5, "count": 5000}, {"left": 0.5, "right": 1.0, "count": 7000}]
    for column in ("EXT_SOURCE_3", "BUREAU_DAYS_CREDIT_MAX"):
        distribution = {"column": column, "kind": "numeric", "count": 12000, "missing": 345, "bins": bins}
        gateway.on("GET", f"/v1/datasets/{DATASET}/columns/{column}/distribution", distribution)
    return gateway


def build(at: AppTest, name: str) -> AppTest:
    at.text_input[0].input(name)
    next(b for b in at.button if b.label == "Build").click()
    return at.run()


def test_lists_datasets_with_sizes_and_what_cleaning_dropped(gateway: FakeGateway) -> None:
    with_dataset(gateway)
    at = open_page("datasets")
    assert not at.exception
    listing = at.dataframe[0].value
    assert listing["Training rows"].tolist() == ["12,345"]
    assert listing["Default rate"].tolist() == ["8.1 %"]
    dropped = next(d.value for d in at.dataframe if "Why dropped" in d.value.columns)
    assert dropped["Column"].tolist() == ["FLAG_DOCUMENT_2", "OWN_CAR_AGE"]
    assert "**1** variance" in texts(at, "markdown")
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert chart["layout"]["title"]["text"] == "Distribution of External credit score 3 (EXT_SOURCE_3)"
    assert "12,000 values, 345 missing." in texts(at, "caption")


def test_browses_another_part_and_column(gateway: FakeGateway) -> None:
    with_dataset(gateway)
    at = open_page("datasets")
    next(r for r in at.radio if r.label == "Part").set_value("production").run()
    next(s for s in at.selectbox if s.label == "Column").set_value("BUREAU_DAYS_CREDIT_MAX").run()
    assert not at.exception
    paths = [(r.url.path, r.url.params.get("part")) for r in gateway.calls]
    assert (f"/v1/datasets/{DATASET}/parts/production/rows", None) in paths
    assert (f"/v1/datasets/{DATASET}/columns/BUREAU_DAYS_CREDIT_MAX/distribution", "production") in paths


def test_builds_a_dataset_and_follows_its_progress(gateway: FakeGateway) -> None:
    with_dataset(gateway)
    job = {"job_id": "b1", "status": "queued", "progress": 0}
    gateway.on("POST", "/v1/datasets", httpx.Response(202, json=job))
    states = [job | {"status": "running", "progress": p, "stage": "bureau aggregates"} for p in (10, 70)]
    done = job | {"status": "succeeded", "progress": 100, "result": {"dataset_id": DATASET}}
    gateway.on("GET", "/v1/jobs/b1/events", sse(*states, done))
    at = build(open_page("datasets"), "second")
    assert not at.exception
    [sent] = gateway.sent("POST", "/v1/datasets")
    assert sent == {
        "name": "second",
        "description": "",
        "source": "auto",
        "max_missing_rate": 0.8,
        "imputation": "none",
        "max_correlation": 0.98,
        "leakage_auc": 0.95,
    }
    assert "Building second done" in texts(at, "success")


def test_a_refused_build_shows_the_problem_beside_the_field(gateway: FakeGateway) -> None:
    gateway.on("GET", "/v1/datasets", [])
    errors = [{"loc": ["body", "name"], "msg": "String should have at least 1 character", "type": "string_too_short"}]
    gateway.on(
        "POST", "/v1/datasets", problem(422, "body.name: String should have at least 1 character", errors=errors)
    )
    at = build(open_page("datasets"), " ")
    assert not at.exception
    assert "at least 1 character" in texts(at, "error")
    assert ":red[⚠️ String should have at least 1 character]" in texts(at, "caption")


def test_a_failed_build_says_why(gateway: FakeGateway) -> None:
    gateway.on("GET", "/v1/datasets", [])
    gateway.on("POST", "/v1/datasets", httpx.Response(202, json={"job_id": "b2", "status": "queued"}))
    gateway.on("GET", "/v1/jobs/b2/events", sse({"job_id": "b2", "status": "failed", "message": "no_data: empty"}))
    at = build(open_page("datasets"), "x")
    assert "no_data: empty" in texts(at, "error")


def test_no_dataset_yet_invites_to_build_one(gateway: FakeGateway) -> None:
    gateway.on("GET", "/v1/datasets", [])
    at = open_page("datasets")
    assert not at.exception
    assert "No dataset yet" in texts(at, "info")


def test_a_deleted_dataset_is_a_message(gateway: FakeGateway) -> None:
    with_dataset(gateway)
    gateway.on("GET", f"/v1/datasets/{DATASET}", problem(404, f"dataset {DATASET!r} does not exist"))
    at = open_page("datasets")
    assert not at.exception
    assert "does not exist" in texts(at, "error")
