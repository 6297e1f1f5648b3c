"""The gateway's read resources: datasets, the audit trail, raw tables, experiments and runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_gateway_api import (
    DATASET,
    FakeRuns,
    Running,
    assert_problem,
    headers,
    make_decision,
    write_dataset,
)

from credit_shared import db
from credit_shared.db.models import DecisionRecord

pytestmark = pytest.mark.unit


# --- datasets -----------------------------------------------------------------------------------------------------


def test_datasets_are_listed_and_described(gw: Running) -> None:
    write_dataset(gw.settings.platform.datasets_dir)
    listed = gw.client.get("/v1/datasets", headers=headers("viewer")).json()
    assert [(d["dataset_id"], d["features"], d["dropped"]) for d in listed] == [(DATASET, 2, 1)]
    detail = gw.client.get(f"/v1/datasets/{DATASET}", headers=headers("viewer")).json()
    assert detail["dropped"] == {"FLAG_MOBIL": "low variance"}
    assert detail["sizes"]["train"] == 25


def test_dataset_rows_are_paginated_and_missing_values_are_null(gw: Running) -> None:
    write_dataset(gw.settings.platform.datasets_dir)
    url = f"/v1/datasets/{DATASET}/parts/train/rows?offset=0&limit=10"
    page = gw.client.get(url, headers=headers("viewer")).json()
    assert (page["total"], len(page["rows"])) == (25, 10)
    assert page["rows"][0]["AMT_CREDIT"] is None
    last = gw.client.get(f"/v1/datasets/{DATASET}/parts/train/rows?offset=20&limit=10", headers=headers("viewer"))
    assert len(last.json()["rows"]) == 5
    assert last.json()["next"] is None
    assert page["next"].endswith("offset=10&limit=10")
    target = gw.client.get(f"/v1/datasets/{DATASET}/parts/target/rows", headers=headers("viewer")).json()
    assert target["columns"] == ["SK_ID_CURR", "TARGET"]
    some = gw.client.get(
        f"/v1/datasets/{DATASET}/parts/production/rows?columns=AMT_CREDIT", headers=headers("viewer")
    ).json()
    assert some["columns"] == ["SK_ID_CURR", "AMT_CREDIT"]
    assert some["total"] == 5


def test_dataset_parts_are_loaded_once_and_served_from_the_cache(gw: Running) -> None:
    write_dataset(gw.settings.platform.datasets_dir)
    cache = gw.app.state.gateway.data
    for _ in range(3):
        gw.client.get(f"/v1/datasets/{DATASET}/parts/train/rows", headers=headers("viewer"))
    assert cache.loads == 1


def test_a_dataset_column_distribution_is_chart_data(gw: Running) -> None:
    write_dataset(gw.settings.platform.datasets_dir)
    numeric = gw.client.get(
        f"/v1/datasets/{DATASET}/columns/AMT_CREDIT/distribution?bins=4", headers=headers("viewer")
    ).json()
    assert (numeric["kind"], numeric["missing"], numeric["count"]) == ("numeric", 5, 20)
    assert sum(b["count"] for b in numeric["bins"]) == 20
    assert len(numeric["bins"]) == 4
    categorical = gw.client.get(
        f"/v1/datasets/{DATASET}/columns/NAME_CONTRACT_TYPE/distribution", headers=headers("viewer")
    ).json()
    assert {c["value"]: c["count"] for c in categorical["categories"]} == {"Cash loans": 16, "Revolving loans": 9}
    unknown = gw.client.get(f"/v1/datasets/{DATASET}/columns/NOPE/distribution", headers=headers("viewer"))
    assert_problem(unknown, 404)


def test_an_unknown_column_in_a_row_selection_is_404(gw: Running) -> None:
    write_dataset(gw.settings.platform.datasets_dir)
    response = gw.client.get(f"/v1/datasets/{DATASET}/parts/train/rows?columns=NOPE", headers=headers("viewer"))
    assert_problem(response, 404)


# --- decisions (audit) --------------------------------------------------------------------------------------------


def test_decisions_are_found_by_client_time_range_and_request_id(gw: Running) -> None:
    base = datetime(2026, 11, 24, 10, tzinfo=UTC)
    rows = [
        make_decision("a", 1, base),
        make_decision("b", 1, base + timedelta(hours=1), decision="approved"),
        make_decision("c", 2, base + timedelta(hours=2)),
    ]
    db.insert_ignore(gw.app.state.gateway.engine, DecisionRecord, rows, keys=["request_id"])
    view = headers("viewer")
    by_client = gw.client.get("/v1/decisions?sk_id_curr=1", headers=view).json()
    assert [d["request_id"] for d in by_client["items"]] == ["b", "a"]
    assert by_client["items"][0]["features"] is None
    window_params = {"since": (base + timedelta(minutes=30)).isoformat(), "until": "2026-11-24T14:00:00+02:00"}
    window = gw.client.get("/v1/decisions", params=window_params, headers=view).json()
    assert [d["request_id"] for d in window["items"]] == ["b"]
    paged = gw.client.get("/v1/decisions?limit=2", headers=view).json()
    assert [d["request_id"] for d in paged["items"]] == ["c", "b"]
    rest = gw.client.get("/v1/decisions", params={"limit": 2, "before": paged["next_before"]}, headers=view).json()
    assert [d["request_id"] for d in rest["items"]] == ["a"]
    one = gw.client.get("/v1/decisions/c", headers=view).json()
    assert (one["sk_id_curr"], one["features"]) == (2, {"AMT_CREDIT": 1.0})
    assert one["decided_at"].endswith("Z") or one["decided_at"].endswith("+00:00")
    assert_problem(gw.client.get("/v1/decisions/zzz", headers=view), 404)
    # the range is since <= decided_at < until, as the schema allows any two times: an empty one holds nothing
    # (it was a 422 for since >= until, although the schema said nothing of it)
    for since, until in [("2026-11-25T00:00:00Z", "2026-11-24T00:00:00Z"), (base.isoformat(), base.isoformat())]:
        empty = gw.client.get("/v1/decisions", params={"since": since, "until": until}, headers=view)
        assert (empty.status_code, empty.json()["items"]) == (200, [])


# --- raw tables ---------------------------------------------------------------------------------------------------


@pytest.fixture
def raw_gw(start: Callable[..., Running], sample_data: Path) -> Running:
    """A gateway showing the real sample tables (skipped when the sample is absent)."""
    return start(sample_dir=sample_data / "joinable_capstone", raw_sample_rows=500)


def test_raw_tables_are_listed_with_their_sizes(raw_gw: Running) -> None:
    listed = {t["name"]: t for t in raw_gw.client.get("/v1/raw/tables", headers=headers("viewer")).json()}
    assert {"application_train", "bureau", "previous_application"} <= set(listed)
    assert listed["application_train"]["rows"] == 1000
    assert listed["bureau"]["source"] == "sample"
    assert listed["bureau"]["key"] == ["SK_ID_BUREAU"]


def test_a_raw_table_has_its_schema_with_the_glossary_and_a_cached_sample(raw_gw: Running) -> None:
    view = headers("viewer")
    columns = {c["name"]: c for c in raw_gw.client.get("/v1/raw/tables/bureau/columns", headers=view).json()}
    assert columns["CREDIT_ACTIVE"]["type"] == "category"
    assert columns["CREDIT_ACTIVE"]["description"]
    entry = raw_gw.client.get("/v1/raw/tables/application_train/columns/EXT_SOURCE_3", headers=view).json()
    assert entry["label"] == "External credit score 3"
    page = raw_gw.client.get("/v1/raw/tables/application_train/rows?offset=10&limit=5", headers=view).json()
    assert (len(page["rows"]), page["total"], page["sampled"]) == (5, 500, True)
    assert json.dumps(page["rows"])  # missing values travel as null
    cache = raw_gw.app.state.gateway.data
    loads = cache.loads
    raw_gw.client.get("/v1/raw/tables/application_train/rows?offset=20", headers=view)
    assert cache.loads == loads


def test_raw_distributions_and_correlations_are_chart_data(raw_gw: Running) -> None:
    view = headers("viewer")
    gender = raw_gw.client.get("/v1/raw/tables/application_train/columns/CODE_GENDER/distribution", headers=view)
    assert gender.json()["kind"] == "categorical"
    assert sum(c["count"] for c in gender.json()["categories"]) + gender.json()["missing"] == 500
    amounts = raw_gw.client.get("/v1/raw/tables/bureau/columns/AMT_CREDIT_SUM/distribution?bins=10", headers=view)
    assert amounts.json()["kind"] == "numeric"
    assert len(amounts.json()["bins"]) == 10
    spread = raw_gw.client.get("/v1/raw/tables/application_train/correlations?top=5", headers=view).json()
    assert spread["columns"] > 50
    assert len(spread["top"]) == 5
    assert abs(spread["top"][0]["r"]) >= abs(spread["top"][-1]["r"])
    assert all(not p["a"].startswith("SK_ID") for p in spread["top"])


def test_unknown_raw_tables_and_columns_are_404(raw_gw: Running) -> None:
    view = headers("viewer")
    assert_problem(raw_gw.client.get("/v1/raw/tables/passwords/rows", headers=view), 404)
    assert_problem(raw_gw.client.get("/v1/raw/tables/application_test/rows", headers=view), 404)  # not in the sample
    assert_problem(raw_gw.client.get("/v1/raw/tables/bureau/columns/NOPE/distribution", headers=view), 404)


def test_without_raw_data_the_list_is_empty(gw: Running) -> None:
    assert gw.client.get("/v1/raw/tables", headers=headers("viewer")).json() == []


# --- experiments and runs -----------------------------------------------------------------------------------------


def test_runs_give_metrics_tables_figures_cv_results_and_cards(gw: Running) -> None:
    view, run = headers("viewer"), FakeRuns.RUN
    assert gw.client.get("/v1/experiments", headers=view).json()[0]["experiment_id"] == "1"
    table = gw.client.get("/v1/experiments/1/runs?metrics=test_", headers=view).json()
    assert table[0]["metrics"] == {"test_roc_auc": 0.77}
    assert gw.client.get(f"/v1/runs/{run}/figures/roc_curve_test", headers=view).json() == {"x": [0, 1], "y": [0, 1]}
    png = gw.client.get(f"/v1/runs/{run}/figures/roc_curve_test/png", headers=view)
    assert png.headers["content-type"] == "image/png"
    assert gw.client.get(f"/v1/runs/{run}/cv-results", headers=view).json()["rows"][0]["param_num_leaves"] == 31
    assert gw.client.get(f"/v1/runs/{run}/model-card", headers=view).json()["markdown"] == "# Card"
    assert_problem(gw.client.get(f"/v1/runs/{run}/figures/other", headers=view), 404)
    assert_problem(gw.client.get("/v1/experiments/2/runs", headers=view), 404)
    assert_problem(gw.client.delete(f"/v1/runs/{run}", headers=headers("analyst")), 403)
    assert gw.client.delete(f"/v1/runs/{run}", headers=headers("admin")).status_code == 204
    assert_problem(gw.client.get(f"/v1/runs/{run}", headers=view), 404)
