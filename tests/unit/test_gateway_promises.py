"""The REST API keeps the promises of its OpenAPI document: one test per finding of the property-based run (issue 21)
and of issue 20's API points, each showing the right answer."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from test_gateway_api import (
    DATASET,
    KEYS,
    FakeRegistry,
    Running,
    assert_problem,
    fake_scoring,
    headers,
    make_decision,
    routes,
    write_dataset,
)

from credit_shared import db
from credit_shared.contracts.loans import EXAMPLE_APPLICATION
from credit_shared.contracts.model_families import ModelFamily
from credit_shared.contracts.training import ModelTrained
from credit_shared.db.models import DecisionRecord
from gateway_service.model_registry import ModelVersionView, Registry

pytestmark = pytest.mark.unit

OPEN = {"/health", "/ready"}
MALFORMED_BODIES = [b"{bad", b"\xff\xfe", b'{"name": NaN}', b"[]", b"x" * 5000]


def api_routes(gw: Running) -> list[tuple[str, str]]:
    return [(m, p) for m, p in routes(gw.app) if p not in OPEN]


# --- authentication comes first -----------------------------------------------------------------------------------


@pytest.mark.parametrize("body", MALFORMED_BODIES, ids=["not-json", "not-utf8", "nan", "array", "large"])
def test_without_a_key_every_route_answers_401_whatever_the_body(start: Callable[..., Running], body: bytes) -> None:
    gw = start(max_body_bytes=2048)
    for method, path in api_routes(gw):
        response = gw.client.request(method, path, content=body, headers={"content-type": "application/json"})
        assert_problem(response, 401)
        assert "WWW-Authenticate" in response.headers, (method, path)


def test_without_a_key_unknown_paths_and_methods_answer_401_too(gw: Running) -> None:
    assert_problem(gw.client.get("/v1/nothing-here"), 401)
    assert_problem(gw.client.put("/v1/datasets", json={}), 401)
    assert_problem(gw.client.get("/v1/decisions?sk_id_curr=99999999999999999999999"), 401)


def test_a_wrong_key_is_401_before_the_body_is_read(gw: Running) -> None:
    response = gw.client.post("/v1/datasets", content=b"{bad", headers={"X-API-Key": "nope"})
    assert assert_problem(response, 401)["detail"] == "the API key is not valid"


def test_metrics_need_a_viewer_key_as_a_header_or_a_bearer_token_and_are_plain_text(gw: Running) -> None:
    assert_problem(gw.client.get("/metrics"), 401)
    for key_headers in (headers("viewer"), {"Authorization": f"Bearer {KEYS['viewer']}"}):
        response = gw.client.get("/metrics", headers=key_headers)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert "# TYPE" in response.text
    documented = gw.client.get("/openapi.json").json()["paths"]["/metrics"]["get"]["responses"]["200"]
    assert list(documented["content"]) == ["text/plain"]


# --- bodies, methods -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_a_nan_or_infinity_literal_in_a_json_body_is_refused(gw: Running, literal: str) -> None:
    body = '{"name": "x", "max_missing_rate": ' + literal + "}"
    response = gw.client.post(
        "/v1/datasets", content=body, headers={**headers("analyst"), "content-type": "application/json"}
    )
    assert "NaN or Infinity" in assert_problem(response, 422)["detail"]
    application = '{"application": {"SK_ID_CURR": 100001, "EXT_SOURCE_3": ' + literal + "}}"
    response = gw.client.post(
        "/v1/scoring/decisions", content=application, headers={**headers("analyst"), "content-type": "application/json"}
    )
    assert_problem(response, 422)


def test_the_letters_nan_inside_a_string_are_fine(gw: Running) -> None:
    response = gw.client.post("/v1/datasets", json={"name": "NaN and Infinity"}, headers=headers("analyst"))
    assert response.status_code == 202, response.text


def test_an_unreadable_body_is_a_documented_400(gw: Running) -> None:
    response = gw.client.post(
        "/v1/datasets", content=b'{"name": "\xff"}', headers={**headers("analyst"), "content-type": "application/json"}
    )
    assert assert_problem(response, 400)["type"].endswith("/bad-request")
    documented = gw.client.get("/openapi.json").json()["paths"]["/v1/datasets"]["post"]["responses"]
    assert {"400", "401", "413", "422"} <= set(documented)


@pytest.mark.parametrize(
    ("path", "allowed"),
    [("/v1/datasets", "GET, POST"), (f"/v1/datasets/{DATASET}", "DELETE, GET"),
     ("/v1/registry/aliases/champion", "GET, POST"), ("/v1/runs/" + "a" * 32, "DELETE, GET")],
)  # fmt: skip
def test_a_405_lists_every_method_the_path_serves(gw: Running, path: str, allowed: str) -> None:
    response = gw.client.request("PATCH", path, headers=headers("admin"))
    assert_problem(response, 405)
    assert response.headers["Allow"] == allowed


# --- identifiers: type and range once, in the contract types --------------------------------------------------------


@pytest.mark.parametrize("value", ["99999999999999999999999", "-1", "0", "9007199254740992"])
def test_an_applicant_id_outside_its_range_is_a_422_everywhere(gw: Running, value: str) -> None:
    view = headers("viewer")
    assert_problem(gw.client.get(f"/v1/decisions?sk_id_curr={value}", headers=view), 422)
    assert_problem(gw.client.get(f"/v1/clients/{value}", headers=view), 422)
    application = {**EXAMPLE_APPLICATION, "SK_ID_CURR": int(value)}
    problem = assert_problem(
        gw.client.post("/v1/scoring/decisions", json={"application": application}, headers=headers("analyst")), 422
    )
    assert "SK_ID_CURR must be a positive integer" in problem["detail"]


def test_the_documented_application_requires_a_positive_applicant_id(gw: Running) -> None:
    schemas = gw.client.get("/openapi.json").json()["components"]["schemas"]
    application = schemas["DecideRequest"]["properties"]["application"]
    assert application["required"] == ["SK_ID_CURR"]
    assert application["properties"]["SK_ID_CURR"]["minimum"] == 1
    assert application["properties"]["CNT_CHILDREN"]["anyOf"][0]["type"] == "integer"


@pytest.mark.parametrize("request_id", ["a/b", "x/../y", "100%", "é ü?#", "..", "."])
def test_a_request_id_of_any_allowed_character_can_be_looked_up(gw: Running, request_id: str) -> None:
    decided = datetime(2026, 11, 24, 10, tzinfo=UTC)
    db.insert_ignore(gw.app.state.gateway.engine, DecisionRecord, [make_decision(request_id, 7, decided)],
                     keys=["request_id"])  # fmt: skip
    by_query = gw.client.get("/v1/decisions", params={"request_id": request_id}, headers=headers("viewer")).json()
    assert [d["request_id"] for d in by_query["items"]] == [request_id]
    if request_id not in (".", ".."):  # a client rewrites these path segments: the query form is there for them
        quoted = re.sub(r"[^A-Za-z0-9_-]", lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), request_id)
        one = gw.client.get(f"/v1/decisions/{quoted}", headers=headers("viewer"))
        assert (one.status_code, one.json()["request_id"]) == (200, request_id)


def test_a_request_id_with_a_control_character_is_refused_before_it_is_sent(start: Callable[..., Running]) -> None:
    gw = start(fake_scoring)
    body = {"request_id": "bad\x00id", "application": EXAMPLE_APPLICATION}
    problem = assert_problem(gw.client.post("/v1/scoring/decisions", json=body, headers=headers("analyst")), 422)
    assert "control characters" in problem["detail"]


@pytest.mark.parametrize("moment", ["0.5", "1700000000", "2026-11-24T10:00:00", "yesterday"])
def test_a_time_that_is_not_rfc_3339_with_its_offset_is_refused(gw: Running, moment: str) -> None:
    assert_problem(gw.client.get("/v1/decisions", params={"until": moment}, headers=headers("viewer")), 422)


# --- a missing resource is a 404 whichever store holds it ---------------------------------------------------------


@pytest.mark.parametrize(
    "tail", ["", "/model-card", "/cv-results", "/figures/roc_curve_test", "/figures/roc_curve_test/png"]
)
def test_a_run_that_does_not_exist_is_404_for_every_part_of_it(gw: Running, tail: str) -> None:
    assert_problem(gw.client.get(f"/v1/runs/{'b' * 32}{tail}", headers=headers("viewer")), 404)


def test_every_operation_whose_path_names_a_resource_documents_its_404(gw: Running) -> None:
    paths = gw.client.get("/openapi.json").json()["paths"]
    named = [(p, m, op) for p, item in paths.items() for m, op in item.items() if "{" in p]
    assert len(named) > 20
    assert [(m, p) for p, m, op in named if "404" not in op["responses"]] == []


def test_every_error_answer_is_documented_as_a_problem_under_its_media_type(gw: Running) -> None:
    paths = gw.client.get("/openapi.json").json()["paths"]
    for path, item in paths.items():
        for method, operation in item.items():
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")) and path != "/ready":
                    content = answer["content"]
                    assert list(content) == ["application/problem+json"], (method, path, status)
                    assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
                    assert "/problems/" in content["application/problem+json"]["example"]["type"]


# --- commands: ranges and lengths, checked against what exists before a job starts ---------------------------------


@pytest.mark.parametrize(
    "change",
    [{"cost": {"fn": 1.77e308, "fp": 1.0}}, {"cost": {"fn": 10.0, "fp": 4.96e-74}}, {"run_name": "bell\x07"},
     {"run_name": "   "}, {"folds": True}, {"folds": "5"}, {"seed": 1.5}, {"scaling": 1}],
)  # fmt: skip
def test_a_training_command_out_of_range_or_of_the_wrong_type_is_refused(gw: Running, change: dict[str, Any]) -> None:
    write_dataset(gw.settings.platform.datasets_dir)
    body = {"dataset_id": DATASET, "run_name": "lgbm", "family": "lightgbm", **change}
    assert_problem(gw.client.post("/v1/training", json=body, headers=headers("analyst")), 422)


def test_an_integral_number_is_an_integer_as_json_schema_says(gw: Running) -> None:
    write_dataset(gw.settings.platform.datasets_dir)
    body = {"dataset_id": DATASET, "run_name": "lgbm", "family": "lightgbm", "folds": 3.0, "seed": 7.0}
    response = gw.client.post("/v1/training", json=body, headers=headers("analyst"))
    assert response.status_code == 202, response.text
    assert (response.json()["request"]["folds"], response.json()["request"]["seed"]) == (3, 7)


def test_a_training_on_a_dataset_that_does_not_exist_is_404_before_any_job(gw: Running) -> None:
    body = {"dataset_id": "ds-nowhere", "run_name": "lgbm", "family": "lightgbm"}
    assert_problem(gw.client.post("/v1/training", json=body, headers=headers("analyst")), 404)
    assert gw.client.get("/v1/jobs", headers=headers("viewer")).json() == []


def test_a_promotion_of_a_version_that_does_not_exist_is_404_and_force_must_be_a_boolean(gw: Running) -> None:
    admin = headers("admin")
    assert_problem(gw.client.post("/v1/registry/aliases/champion", json={"version": "77"}, headers=admin), 404)
    assert_problem(
        gw.client.post("/v1/registry/aliases/champion", json={"version": "2", "force": 0}, headers=admin), 422
    )
    assert gw.client.get("/v1/jobs", headers=headers("viewer")).json() == []


class TrainedRegistry(FakeRegistry):
    """The champion was trained on the unit dataset (as the training service tags a version)."""

    def __init__(self) -> None:
        super().__init__()
        first = self.registry.versions[1].model_copy(update={"dataset_id": DATASET})
        self.registry = Registry(name="credit-default", aliases={"champion": "1"},
                                 versions=[self.registry.versions[0], first])  # fmt: skip


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [({"model_name": "another-model"}, 404, "not registered"), ({"model_version": "42"}, 404, "version 42"),
     ({"alias": "challenger"}, 404, "challenger"), ({"dataset_id": "ds-nowhere"}, 404, "ds-nowhere"),
     ({"column": "NOT_A_FEATURE"}, 404, "NOT_A_FEATURE"), ({"model_name": "bad name"}, 422, "model name")],
)  # fmt: skip
def test_a_drift_report_naming_what_does_not_exist_is_refused_before_any_job(
    start: Callable[..., Running], body: dict[str, str], status: int, words: str
) -> None:
    gw = start()
    gw.app.state.gateway.models = TrainedRegistry()
    write_dataset(gw.settings.platform.datasets_dir)
    problem = assert_problem(gw.client.post("/v1/monitoring/reports", json=body, headers=headers("analyst")), status)
    assert words in problem["detail"]
    assert gw.client.get("/v1/jobs", headers=headers("viewer")).json() == []
    ok = gw.client.post("/v1/monitoring/reports", json={"column": "AMT_CREDIT"}, headers=headers("analyst"))
    assert ok.status_code == 202, ok.text


# --- the registry answers which version is champion, with real types (issue 20, point 9) ----------------------------


def test_which_version_is_champion_is_one_request(gw: Running) -> None:
    view = headers("viewer")
    champion = gw.client.get("/v1/registry/aliases/champion", headers=view)
    assert (champion.status_code, champion.json()["version"], champion.json()["aliases"]) == (200, "1", ["champion"])
    assert gw.client.get("/v1/registry/versions/champion", headers=view).json() == champion.json()
    assert "no version" in assert_problem(gw.client.get("/v1/registry/aliases/challenger", headers=view), 404)["detail"]
    problem = assert_problem(gw.client.get("/v1/registry/versions/king", headers=view), 422)
    assert "version number, or champion or challenger" in problem["detail"]
    assert "pattern" not in problem["detail"]


def test_version_tags_and_metrics_have_their_real_types() -> None:
    from types import SimpleNamespace

    from gateway_service.model_registry import _version

    event = ModelTrained(request_id="r", dataset_id="ds-1", family=ModelFamily.LIGHTGBM, run_id="abc",
                         experiment_id="1", model_name="credit-default", version="3", model_uri="models:/m/3",
                         threshold=0.0912, metrics={"test_roc_auc": 0.781, "cv_roc_auc": 0.77},
                         duration_s=3.0).model_dump_json()  # fmt: skip
    tags = {"event": event, "threshold": "0.0912", "test_roc_auc": "0.781", "cost_fn": "10", "family": "lightgbm",
            "request_id": "12e4", "promoted_champion_by": "risk team"}  # fmt: skip
    view: ModelVersionView = _version("credit-default", SimpleNamespace(version=3, tags=tags, run_id="abc"))
    assert (view.threshold, view.dataset_id, view.family) == (0.0912, "ds-1", "lightgbm")
    assert view.metrics == {"test_roc_auc": 0.781, "cv_roc_auc": 0.77}
    assert view.tags == {"threshold": 0.0912, "test_roc_auc": 0.781, "cost_fn": 10.0, "family": "lightgbm",
                         "request_id": "12e4", "promoted_champion_by": "risk team"}  # fmt: skip
    assert "event" not in view.model_dump()["tags"]


# --- the documentation pages need no network (issue 20, point 3) ----------------------------------------------------


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_documentation_pages_hold_no_external_url_and_their_assets_are_served(gw: Running, page: str) -> None:
    html = gw.client.get(page)
    assert html.status_code == 200
    assert re.findall(r"(?:https?:)?//[\w.-]+", html.text) == []
    assets = re.findall(r'(?:src|href)="([^"]+)"', html.text)
    assert assets
    for asset in assets:
        served = gw.client.get(asset)
        assert served.status_code == 200, asset
        if asset.endswith(".css"):
            assert [
                u for u in re.findall(r"url\(([^)]*)\)", served.text) if not u.strip("\"'").startswith("data:")
            ] == []


def test_every_tag_has_a_description(gw: Running) -> None:
    spec = gw.client.get("/openapi.json").json()
    described = {t["name"] for t in spec["tags"] if t.get("description")}
    used = {tag for item in spec["paths"].values() for operation in item.values() for tag in operation.get("tags", [])}
    assert used <= described, used - described
