"""The training page against a fake gateway: the family's parameters drive the form; launch, follow, 422 by field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from streamlit.testing.v1 import AppTest
from test_frontend_client import FakeGateway, open_page, problem, sse, texts

from credit_frontend.client import use_client_factory

pytestmark = pytest.mark.unit


def make_family(family: str = "lightgbm", **overrides: Any) -> dict[str, Any]:
    parameters = [
        {
            "name": "learning_rate",
            "kind": "float",
            "default": 0.03,
            "low": 1e-4,
            "high": 1.0,
            "log": True,
            "choices": None,
            "description": "Shrinkage",
        },
        {
            "name": "num_leaves",
            "kind": "int",
            "default": 31,
            "low": 2,
            "high": 4096,
            "log": True,
            "choices": None,
            "description": "Maximum leaves per tree",
        },
        {
            "name": "boosting_type",
            "kind": "categorical",
            "default": "gbdt",
            "low": None,
            "high": None,
            "log": False,
            "choices": ["gbdt", "dart"],
            "description": "Boosting algorithm",
        },
    ]
    spec = {
        "family": family,
        "label": "LightGBM",
        "handles_missing": True,
        "early_stopping": True,
        "default_scaling": False,
        "parameters": parameters,
    }
    return spec | overrides


OPENAPI = {
    "components": {
        "schemas": {
            "Imbalance": {"enum": ["none", "class_weight", "smote"]},
            "SearchMethod": {"enum": ["random", "grid"]},
        }
    }
}
DATASETS = [{"dataset_id": "ds-1", "name": "baseline", "sizes": {"train": 100}}]


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway().on("GET", "/v1/datasets", DATASETS).on("GET", "/openapi.json", OPENAPI)
    fake.on("GET", "/v1/models/families", [make_family(), make_family("dummy", label="Baseline", parameters=[])])
    use_client_factory(fake.client)
    yield fake
    use_client_factory(None)


def launch(at: AppTest) -> AppTest:
    next(b for b in at.button if "Launch" in b.label).click()
    return at.run()


def test_the_form_comes_from_the_family_parameters(gateway: FakeGateway) -> None:
    at = open_page("training")
    assert not at.exception
    labels = [r.label for r in at.radio]
    assert any("learning_rate" in label and "default 0.03" in label for label in labels)
    assert any(label.startswith("**Boosting algorithm** · `boosting_type` (one of a list") for label in labels)
    assert any("boosting_type" in label for label in labels)
    assert next(s for s in at.selectbox if s.label == "Class imbalance").options == [
        "None",
        "Class weights (defaults count more)",
        "SMOTE (synthetic defaults)",
    ]


def test_launches_with_fixed_and_searched_parameters_and_follows_the_job(gateway: FakeGateway) -> None:
    job = {"job_id": "t1", "status": "queued", "progress": 0}
    gateway.on("POST", "/v1/training", httpx.Response(202, json=job))
    gateway.on(
        "GET",
        "/v1/jobs/t1/events",
        sse(
            job | {"status": "running", "progress": 60, "stage": "search"},
            job | {"status": "succeeded", "progress": 100, "result": {"version": "4"}},
        ),
    )
    at = open_page("training")
    at.radio(key="mode-num_leaves").set_value("fix").run()
    next(n for n in at.number_input if n.label == "Value of num_leaves").set_value(63).run()
    at.radio(key="mode-learning_rate").set_value("search").run()
    at = launch(at)
    assert not at.exception
    [sent] = gateway.sent("POST", "/v1/training")
    assert sent["dataset_id"] == "ds-1"
    assert sent["family"] == "lightgbm"
    assert sent["params"] == {"num_leaves": 63}
    assert sent["search"]["parameters"]["learning_rate"] == {"low": 0.015, "high": 0.06, "scale": "log", "num": 3}
    assert sent["search"]["method"] == "random"
    assert sent["cost"] == {"fn": 10.0, "fp": 1.0}
    assert sent["scaling"] is None
    assert "Training LightGBM done" in texts(at, "success")
    assert "version **4**" in texts(at, "markdown")


def test_without_a_search_no_search_is_sent(gateway: FakeGateway) -> None:
    gateway.on("POST", "/v1/training", httpx.Response(202, json={"job_id": "t2", "status": "queued"}))
    gateway.on("GET", "/v1/jobs/t2/events", sse({"job_id": "t2", "status": "failed", "message": "no rows"}))
    at = launch(open_page("training"))
    [sent] = gateway.sent("POST", "/v1/training")
    assert sent["search"] is None
    assert sent["params"] == {}
    assert "no rows" in texts(at, "error")


def test_a_refused_parameter_is_shown_beside_its_field(gateway: FakeGateway) -> None:
    message = "Value error, parameter 'num_leaves' must lie in [2, 4096], got 1; folds too small"
    errors = [{"loc": ["body"], "msg": message, "type": "value_error"}]
    gateway.on("POST", "/v1/training", problem(422, f"body: {message}", errors=errors))
    at = launch(open_page("training"))
    assert not at.exception
    assert "must lie in [2, 4096]" in texts(at, "error")
    beside = [c.value for c in at.caption if "num_leaves" in c.value]
    assert beside == [":red[⚠️ parameter 'num_leaves' must lie in [2, 4096], got 1]"]


def test_no_dataset_says_to_build_one(gateway: FakeGateway) -> None:
    gateway.on("GET", "/v1/datasets", [])
    at = open_page("training")
    assert "build one on the **Datasets** page" in texts(at, "info")


def test_a_gateway_without_families_is_not_available_yet(gateway: FakeGateway) -> None:
    del gateway.routes[("GET", "/v1/models/families")]
    at = open_page("training")
    assert not at.exception
    assert "/v1/models/families" in texts(at, "info")


def test_a_viewer_key_is_told_it_lacks_the_role(gateway: FakeGateway) -> None:
    gateway.on("POST", "/v1/training", problem(403, "this action needs the analyst role; the key has viewer"))
    at = launch(open_page("training"))
    assert "needs the analyst role" in texts(at, "error")
    assert "ask an administrator" in texts(at, "error")
