"""Every capability of the original API (its 38 routes), through the ``/v1`` resource that replaces it, against the
embedded platform as `make up` starts it (synthetic data, a dataset, a LightGBM champion).

Each test names the original route(s) it stands for; the mapping is documented in ``docs/api-mapping.md``. Each
checks the substance of the answer (sizes, sums, orders, links between resources), not only its status. The slow
work (a dataset build, a training with a search, two drift reports, a batch of 1,000 decisions) is started once per
module and shared by the tests that read its outcome; the deletions come last.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from credit_local.bootstrap import follow
from tests.e2e.conftest import Running

pytestmark = pytest.mark.e2e

JOB_TIMEOUT_S = 600.0
FAMILY = "lightgbm"
SEARCHED = {"num_leaves": [7, 15]}  # two candidates: a CV table with a parameter to select and plot
BATCH = 1000  # the original `/production/inference/sample1000`


@dataclass
class Api:
    """The gateway of the shared platform, one HTTP client per role."""

    running: Running
    clients: dict[str, httpx.Client] = field(default_factory=dict)
    _paths: dict[str, Any] | None = None

    def client(self, role: str) -> httpx.Client:
        if role not in self.clients:
            self.clients[role] = httpx.Client(
                base_url=self.running.platform.urls["api"], headers=self.running.headers(role), timeout=180.0
            )
        return self.clients[role]

    def call(self, method: str, path: str, role: str = "viewer", *, expect: int = 200, **kwargs: Any) -> httpx.Response:
        """Send a request (waiting out rate limits: the tests share one key per role) and check its status."""
        deadline = time.monotonic() + 60
        while True:
            response = self.client(role).request(method, path, **kwargs)
            if response.status_code != 429 or time.monotonic() > deadline:
                break
            time.sleep(float(response.headers.get("Retry-After") or 1))
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text[:800]}"
        return response

    def get(self, path: str, role: str = "viewer", **params: Any) -> Any:
        return self.call("GET", path, role, params=params).json()

    def start(self, path: str, body: dict[str, Any], role: str = "analyst") -> dict[str, Any]:
        """Start an asynchronous request: 202, a Location, a job."""
        response = self.call("POST", path, role, json=body, expect=202)
        job: dict[str, Any] = response.json()
        assert response.headers["Location"].endswith(job["url"])
        assert job["status"] in {"queued", "running", "succeeded"}
        return job

    def finish(self, job: dict[str, Any], stage: str) -> dict[str, Any]:
        """Follow a job to success; its result."""
        return follow(self.client("viewer"), job, stage, lambda *_: None, JOB_TIMEOUT_S)

    def route(self, method: str, pattern: str) -> str | None:
        """The API's path matching ``pattern`` for ``method`` (None when the gateway has no such route)."""
        if self._paths is None:
            self._paths = self.get("/openapi.json")["paths"]
        return next((p for p, ops in self._paths.items() if re.fullmatch(pattern, p) and method.lower() in ops), None)

    def schema(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.get("/openapi.json")["components"]["schemas"].get(name, {})
        return found


@pytest.fixture(scope="module")
def api(embedded_platform: Running) -> Iterator[Api]:
    gateway = Api(embedded_platform)
    try:
        yield gateway
    finally:
        for client in gateway.clients.values():
            client.close()


@pytest.fixture(scope="module")
def dataset(api: Api) -> dict[str, Any]:
    """The served dataset's manifest."""
    manifest: dict[str, Any] = api.get(f"/v1/datasets/{api.running.served.dataset_id}")
    return manifest


@pytest.fixture(scope="module")
def applications(api: Api) -> list[dict[str, Any]]:
    """Up to 1,000 applications of the raw application tables (as a lending team would send them)."""
    found: list[dict[str, Any]] = []
    for table in ("application_test", "application_train"):
        page = api.get(f"/v1/raw/tables/{table}/rows", limit=BATCH)
        found += [{k: v for k, v in row.items() if k != "TARGET"} for row in page["rows"]]
    return found[:BATCH]


@pytest.fixture(scope="module")
def jobs(api: Api, dataset: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The slow requests, started together so that the services work on them side by side."""
    column = next(f["name"] for f in dataset["features"] if f["type"] == "float")
    training = {
        "dataset_id": dataset["dataset_id"],
        "run_name": "capabilities-grid",
        "family": FAMILY,
        "folds": 2,
        "params": {"n_estimators": 60, "learning_rate": 0.1, "early_stopping_rounds": 10},
        "search": {"method": "grid", "parameters": {k: {"values": v} for k, v in SEARCHED.items()}},
        "description": "e2e: a grid search for the CV results",
    }
    return {
        "build": api.start("/v1/datasets", {"name": "capabilities", "description": "e2e", "max_missing_rate": 0.6}),
        "training": api.start("/v1/training", training),
        "drift_column": api.start("/v1/monitoring/reports", {"column": column, "max_rows": 1000}),
        "drift_full": api.start("/v1/monitoring/reports", {"max_rows": 1000}),
    }


@pytest.fixture(scope="module")
def built(api: Api, jobs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return api.finish(jobs["build"], "dataset build")


@pytest.fixture(scope="module")
def searched(api: Api, jobs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The trained model of the grid search (run id, experiment, registered version)."""
    return api.finish(jobs["training"], "training")


@pytest.fixture(scope="module")
def champion_run(api: Api) -> dict[str, Any]:
    registry = api.get("/v1/registry")
    version = next(v for v in registry["versions"] if v["version"] == registry["aliases"]["champion"])
    run: dict[str, Any] = api.get(f"/v1/runs/{version['run_id']}")
    return run


@pytest.fixture(scope="module")
def batch(api: Api, applications: list[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = api.call(
        "POST", "/v1/scoring/batches", "analyst", json={"applications": applications}
    ).json()
    return result


# ------------------------------------------------------------------------------------------------ `/` and raw data
def test_home_health_and_readiness(api: Api) -> None:
    """`/` (the original's liveness page): `/health` and `/ready` with every dependency checked."""
    assert api.call("GET", "/health").status_code == 200
    ready = api.get("/ready")
    assert ready["ready"] is True
    assert ready["checks"] == {"broker": True, "mlflow": True, "database": True}


def test_raw_tables_are_listed_with_their_sizes(api: Api) -> None:
    """`/initial_data_select`: the raw tables, with rows and columns."""
    tables = {t["name"]: t for t in api.get("/v1/raw/tables")}
    assert {"application_train", "application_test", "bureau", "previous_application"} <= set(tables)
    train = tables["application_train"]
    assert train["rows"] > 1000
    assert train["columns"] == 122
    assert train["key"] == ["SK_ID_CURR"]
    assert train["source"] == "synthetic"


def test_raw_sample_rows(api: Api) -> None:
    """`/initial_data_select/to_df`: a table's rows as data, paginated."""
    first = api.get("/v1/raw/tables/application_train/rows", limit=20)
    second = api.get("/v1/raw/tables/application_train/rows", limit=20, offset=20)
    assert len(first["rows"]) == len(second["rows"]) == 20
    assert {"SK_ID_CURR", "TARGET", "AMT_CREDIT"} <= set(first["columns"])
    ids = [r["SK_ID_CURR"] for r in first["rows"] + second["rows"]]
    assert len(set(ids)) == 40  # two different pages
    assert {r["TARGET"] for r in first["rows"]} <= {0, 1}


@pytest.mark.parametrize(("column", "kind"), [("AMT_CREDIT", "numeric"), ("NAME_CONTRACT_TYPE", "categorical")])
def test_raw_column_distribution(api: Api, column: str, kind: str) -> None:
    """`/initial_data_select/to_figure`: one column's distribution as chart data (a histogram or counts)."""
    found = api.get(f"/v1/raw/tables/application_train/columns/{column}/distribution", bins=10)
    assert found["column"] == column
    assert found["kind"] == kind
    if kind == "numeric":
        assert len(found["bins"]) == 10
        assert sum(b["count"] for b in found["bins"]) == found["count"] > 0
        assert found["min"] <= found["quantiles"]["p50"] <= found["max"]
    else:
        counts = [c["count"] for c in found["categories"]]
        assert counts == sorted(counts, reverse=True)
        assert sum(counts) + (found["other"] or 0) == found["count"]
        assert {c["value"] for c in found["categories"]} <= {"Cash loans", "Revolving loans"}


def test_raw_correlation_spread(api: Api) -> None:
    """`/initial_data_select/corelations_plotter`: the distribution of the pairwise correlations."""
    spread = api.get("/v1/raw/tables/application_train/correlations", top=5)
    assert spread["columns"] > 50
    assert sum(b["count"] for b in spread["bins"]) == spread["pairs"] > 0
    assert spread["bins"][0]["left"] == 0.0
    assert spread["bins"][-1]["right"] == 1.0
    strengths = [abs(p["r"]) for p in spread["top"]]
    assert len(strengths) == 5
    assert strengths == sorted(strengths, reverse=True)


def test_glossary_of_a_column(api: Api) -> None:
    """The glossary text of a column (the original showed the Kaggle descriptions beside the data)."""
    entry = api.get("/v1/raw/tables/application_train/columns/AMT_CREDIT")
    assert entry["label"] == "Credit amount"
    assert "credit" in entry["description"].lower()
    every = api.get("/v1/raw/tables/application_train/columns")
    assert len(every) == 122
    assert all(c["label"] for c in every)


# ------------------------------------------------------------------------------------------------------- datasets
def test_dataset_build_is_a_job_that_ends_in_a_listed_dataset(api: Api, built: dict[str, Any]) -> None:
    """`/experiment_start/create` and `/experiment_start`: build a dataset (asynchronous), then list the datasets."""
    listed = {d["dataset_id"]: d for d in api.get("/v1/datasets")}
    assert built["dataset_id"] in listed
    assert api.running.served.dataset_id in listed
    mine = listed[built["dataset_id"]]
    assert mine["name"] == "capabilities"
    assert mine["features"] > 0
    assert mine["sizes"]["train"] > 0
    assert api.get(f"/v1/datasets/{built['dataset_id']}")["parameters"]["max_missing_rate"] == 0.6


def test_dataset_detail(api: Api, dataset: dict[str, Any]) -> None:
    """`/experiment_start/select`: a dataset's parameters, sizes, features and what cleaning dropped."""
    assert dataset["sizes"]["train"] > 1000
    assert dataset["sizes"]["production"] > 0
    names = {f["name"] for f in dataset["features"]}
    assert "SK_ID_CURR" not in names
    assert "TARGET" not in names
    assert len(names) > 50
    assert dataset["dropped"]
    assert all(column not in names and why for column, why in dataset["dropped"].items())
    assert set(dataset["parameters"]) >= {"max_missing_rate", "imputation", "max_correlation"}


def test_dataset_rows_paginated(api: Api, dataset: dict[str, Any]) -> None:
    """`/experiment_start/select`: the train and target parts, page by page."""
    base = f"/v1/datasets/{dataset['dataset_id']}/parts"
    page = api.get(f"{base}/train/rows", limit=50)
    assert page["total"] == dataset["sizes"]["train"]
    assert len(page["rows"]) == 50
    following = api.get(page["next"].split("?")[0], offset=50, limit=50)
    assert following["rows"][0]["SK_ID_CURR"] != page["rows"][0]["SK_ID_CURR"]
    target = api.get(f"{base}/target/rows", limit=1000)
    assert target["columns"] == ["SK_ID_CURR", "TARGET"]
    assert {r["TARGET"] for r in target["rows"]} == {0, 1}


def test_dataset_column_distribution(api: Api, dataset: dict[str, Any]) -> None:
    """`/experiment_start/select/to_figure`: one column of a dataset as chart data."""
    column = next(f["name"] for f in dataset["features"] if f["type"] == "float")
    found = api.get(f"/v1/datasets/{dataset['dataset_id']}/columns/{column}/distribution", bins=15)
    assert found["column"] == column
    assert len(found["bins"]) == 15
    assert found["count"] + found["missing"] == dataset["sizes"]["train"]


def test_dataset_runs(api: Api, dataset: dict[str, Any], champion_run: dict[str, Any]) -> None:
    """`/experiment_start/select/runs` and `/experiments/runs`: a dataset's experiment and its runs."""
    experiments = api.get("/v1/experiments")
    mine = [e for e in experiments if e["tags"].get("dataset_id") == dataset["dataset_id"]]
    assert [e["experiment_id"] for e in mine] == [dataset["mlflow_experiment_id"]]
    runs = api.get(f"/v1/experiments/{mine[0]['experiment_id']}/runs")
    assert champion_run["run_id"] in {r["run_id"] for r in runs}
    assert all(r["experiment_id"] == mine[0]["experiment_id"] for r in runs)
    assert {"lightgbm", "dummy"} <= {r["params"].get("family") for r in runs}  # the champion and the baseline


# ------------------------------------------------------------------------------------------- model families, training
def test_model_families(api: Api) -> None:
    """`/experiment_start/select/model_selection`: the model families one may train."""
    families = {f["family"]: f for f in api.get("/v1/models/families")}
    assert {"logistic_regression", "lightgbm", "random_forest"} <= set(families)
    assert families["lightgbm"]["handles_missing"] is True
    assert families["lightgbm"]["early_stopping"] is True


@pytest.mark.parametrize(
    ("kind", "name"), [("int", "num_leaves"), ("float", "learning_rate"), ("categorical", "boosting_type")]
)
def test_family_parameters_with_types_and_ranges(api: Api, kind: str, name: str) -> None:
    """`.../manual_params`, `.../int_params`, `.../float_params`: parameters with defaults, types and ranges."""
    parameters = {p["name"]: p for p in api.get(f"/v1/models/families/{FAMILY}")["parameters"]}
    parameter = parameters[name]
    assert parameter["kind"] == kind
    if kind == "categorical":
        assert parameter["default"] in parameter["choices"]
    else:
        assert parameter["low"] <= parameter["default"] <= parameter["high"]


def test_parameters_are_checked_before_a_training_starts(api: Api, dataset: dict[str, Any]) -> None:
    """`.../merge_params`: fixed and searched parameters merged and checked, each problem named (422)."""
    body = {"dataset_id": dataset["dataset_id"], "run_name": "bad", "family": FAMILY,
            "params": {"num_leaves": 1, "not_a_parameter": 3}}  # fmt: skip
    problem = api.call("POST", "/v1/training", "analyst", json=body, expect=422).json()
    assert "num_leaves" in problem["detail"]
    assert "not_a_parameter" in problem["detail"]
    api.call("POST", "/v1/training", "viewer", json=body, expect=403)


def test_training_with_a_search_runs_to_completion(api: Api, searched: dict[str, Any], dataset: dict[str, Any]) -> None:
    """`.../hyper_param_tuning`: a training with a grid search, followed as a job to a registered version."""
    assert searched["dataset_id"] == dataset["dataset_id"]
    assert searched["family"] == FAMILY
    assert searched["best_params"]["num_leaves"] in SEARCHED["num_leaves"]
    run = api.get(f"/v1/runs/{searched['run_id']}")
    assert run["status"] == "FINISHED"
    assert run["name"] == "capabilities-grid"
    versions = {v["version"]: v for v in api.get("/v1/registry")["versions"]}
    assert versions[searched["version"]]["run_id"] == searched["run_id"]


# ---------------------------------------------------------------------------------------------- experiments and runs
def test_metrics_table_by_metric_family(api: Api, searched: dict[str, Any]) -> None:
    """`/experiments/runs/metrics`: the metrics table of an experiment's runs, for chosen metric families."""
    runs = api.get(f"/v1/experiments/{searched['experiment_id']}/runs", metrics=["train_", "test_"])
    assert searched["run_id"] in {r["run_id"] for r in runs}
    assert len(runs) >= 2
    for run in runs:
        assert run["metrics"]
        assert all(k.startswith(("train_", "test_")) for k in run["metrics"])
    mine = next(r for r in runs if r["run_id"] == searched["run_id"])
    assert mine["metrics"]["test_roc_auc"] == pytest.approx(searched["metrics"]["test_roc_auc"])


def test_compare_runs(api: Api, searched: dict[str, Any], champion_run: dict[str, Any]) -> None:
    """`/experiments/runs/metrics/compare`: several runs side by side (metrics and the same figures)."""
    runs = [api.get(f"/v1/runs/{r}") for r in (searched["run_id"], champion_run["run_id"])]
    assert runs[0]["params"]["search"] != runs[1]["params"]["search"]
    assert set(runs[0]["figures"]) == set(runs[1]["figures"]) >= {"roc_curve", "pr_curve", "cost_vs_threshold"}
    for run in runs:
        assert 0.5 < run["metrics"]["test_roc_auc"] <= 1.0


def test_cross_validation_results(api: Api, searched: dict[str, Any]) -> None:
    """`/experiments/runs/metrics/cv_results`: one row per candidate of the search, the chosen one marked."""
    rows = api.get(f"/v1/runs/{searched['run_id']}/cv-results")["rows"]
    assert sorted(r["param_num_leaves"] for r in rows) == SEARCHED["num_leaves"]
    chosen = [r for r in rows if r["chosen"]]
    assert len(chosen) == 1
    assert chosen[0]["param_num_leaves"] == searched["best_params"]["num_leaves"]


def test_cv_parameter_selector_and_plotter_data(api: Api, searched: dict[str, Any]) -> None:
    """`.../cv_results/param_selector` and `.../param_plotter`: the searched parameters to choose from and the
    metric of each candidate against them (the dashboard draws the scatter from these rows)."""
    rows = api.get(f"/v1/runs/{searched['run_id']}/cv-results")["rows"]
    family = {p["name"] for p in api.get(f"/v1/models/families/{FAMILY}")["parameters"]}
    selectable = {k.removeprefix("param_") for r in rows for k in r if k.startswith("param_")}
    assert "num_leaves" in selectable
    assert selectable <= family
    points = [(r["param_num_leaves"], r["mean_roc_auc"]) for r in rows]
    assert len(points) == 2
    assert all(0.0 <= auc <= 1.0 for _, auc in points)


@pytest.mark.parametrize("split", ["train", "test"])
def test_confusion_matrices(api: Api, champion_run: dict[str, Any], split: str) -> None:
    """`/experiments/runs/metrics/train_cm` and `/test_cm`: at the run's threshold, as data and as a PNG."""
    run_id = champion_run["run_id"]
    figure = api.get(f"/v1/runs/{run_id}/figures/confusion_{split}")
    assert figure["split"] == split
    assert figure["threshold"] == pytest.approx(champion_run["metrics"]["threshold"])
    (tn, fp), (fn, tp) = figure["matrix"]
    assert min(tn, fp, fn, tp) >= 0
    assert tp + fn > 0
    refused = (fp + tp) / (tn + fp + fn + tp)
    assert refused == pytest.approx(champion_run["metrics"][f"{split}_refusal_rate"], abs=1e-6)
    png = api.call("GET", f"/v1/runs/{run_id}/figures/confusion_{split}/png")
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")


@pytest.mark.parametrize("split", ["train", "test"])
def test_roc_curves(api: Api, champion_run: dict[str, Any], split: str) -> None:
    """`/experiments/runs/metrics/train_roc_curve` and `/test_roc_curve`: the curve's points and its area."""
    series = api.get(f"/v1/runs/{champion_run['run_id']}/figures/roc_curve")["series"][split]
    fpr, tpr = series["fpr"], series["tpr"]
    assert fpr[0] == tpr[0] == 0.0
    assert fpr[-1] == tpr[-1] == 1.0
    assert fpr == sorted(fpr)
    assert tpr == sorted(tpr)
    area = sum((x1 - x0) * (y0 + y1) / 2 for x0, x1, y0, y1 in zip(fpr, fpr[1:], tpr, tpr[1:], strict=False))
    assert series["auc"] == pytest.approx(champion_run["metrics"][f"{split}_roc_auc"])
    assert area == pytest.approx(series["auc"], abs=0.02)  # the curve is thinned to at most 400 points


@pytest.mark.parametrize("name", ["importance_model", "importance_shap"])
def test_feature_importance(api: Api, champion_run: dict[str, Any], dataset: dict[str, Any], name: str) -> None:
    """`/experiments/runs/metrics/feature_importance`: every feature's importance, largest first (and SHAP)."""
    figure = api.get(f"/v1/runs/{champion_run['run_id']}/figures/{name}")
    features = {f["name"] for f in dataset["features"]}
    assert figure["kind"] == "importance"
    assert set(figure["features"]) <= features
    assert figure["features"]
    assert figure["values"] == sorted(figure["values"], reverse=True)
    assert figure["values"][0] > 0
    summary = api.get(f"/v1/runs/{champion_run['run_id']}/figures/shap_summary")
    assert summary["rows"] > 0
    assert {f["name"] for f in summary["features"]} <= features


def test_model_card(api: Api, champion_run: dict[str, Any]) -> None:
    """The run's model card (new; the original had none)."""
    card = api.get(f"/v1/runs/{champion_run['run_id']}/model-card")["markdown"]
    assert card.startswith("#")
    assert "lightgbm" in card.lower()


# ------------------------------------------------------------------------------------------------------ production
def test_production_part_import(api: Api, dataset: dict[str, Any]) -> None:
    """`/production/import_data`: the unlabelled applicants of a dataset, paginated."""
    page = api.get(f"/v1/datasets/{dataset['dataset_id']}/parts/production/rows", limit=100)
    assert page["total"] == dataset["sizes"]["production"]
    assert "TARGET" not in page["columns"]
    assert len(page["rows"]) == min(100, page["total"])


def test_production_feature_selection(api: Api, dataset: dict[str, Any]) -> None:
    """`/production/import_data/features_select`: the features of a dataset, then only the chosen columns."""
    chosen = [f["name"] for f in dataset["features"][:3]]
    page = api.get(f"/v1/datasets/{dataset['dataset_id']}/parts/production/rows", columns=chosen, limit=10)
    assert page["columns"] == ["SK_ID_CURR", *chosen]
    assert all(set(row) == set(page["columns"]) for row in page["rows"])


def test_production_feature_distribution(api: Api, dataset: dict[str, Any]) -> None:
    """`/production/import_data/features_select/distribution`: a feature's distribution in production."""
    column = next(f["name"] for f in dataset["features"] if f["type"] == "category")
    found = api.get(f"/v1/datasets/{dataset['dataset_id']}/columns/{column}/distribution", part="production")
    assert found["kind"] == "categorical"
    assert found["count"] + found["missing"] == dataset["sizes"]["production"]


def test_inference_decides_one_application(api: Api, applications: list[dict[str, Any]]) -> None:
    """`/production/inference`: one application decided now by the champion, with reasons, and audited."""
    request_id = f"caps-{int(time.time() * 1000)}"
    decision = api.call("POST", "/v1/scoring/decisions", "analyst",
                        json={"request_id": request_id, "application": applications[0]}).json()  # fmt: skip
    assert decision["sk_id_curr"] == applications[0]["SK_ID_CURR"]
    assert decision["request_id"] == request_id
    assert 0.0 <= decision["probability"] <= 1.0
    assert decision["decision"] == ("refused" if decision["probability"] >= decision["threshold"] else "approved")
    assert decision["model"]["version"] == api.running.served.version
    assert all(r["contribution"] > 0 for r in decision["reasons"])
    audited = api.get(f"/v1/decisions/{request_id}")
    assert audited["probability"] == pytest.approx(decision["probability"])
    assert audited["features"]


def test_inference_on_a_batch_of_1000(api: Api, batch: dict[str, Any], applications: list[dict[str, Any]]) -> None:
    """`/production/inference/sample1000`: up to 1,000 decided at once, with each feature's mean contribution."""
    decisions = batch["decisions"]
    assert [d["sk_id_curr"] for d in decisions] == [a["SK_ID_CURR"] for a in applications]
    assert batch["refused"] == sum(d["decision"] == "refused" for d in decisions)
    weights = [f["mean_abs_contribution"] for f in batch["features"]]
    assert weights
    assert weights == sorted(weights, reverse=True)
    assert weights[0] > 0


def test_inference_explanation(api: Api, applications: list[dict[str, Any]]) -> None:
    """`/production/inference/shap_explainer/no_plot`: every contribution and the base value of one client."""
    if api.route("get", r"/v1/clients/\{sk_id_curr\}/explanation") is None:
        pytest.skip("the gateway has no GET /v1/clients/{sk_id_curr}/explanation yet (being added)")
    sk_id = applications[0]["SK_ID_CURR"]
    explanation = api.get(f"/v1/clients/{sk_id}/explanation")
    contributions = explanation["contributions"]
    assert len(contributions) > 50
    assert {"feature", "label", "value", "contribution"} <= set(contributions[0])
    sizes = [abs(c["contribution"]) for c in contributions]
    assert sizes == sorted(sizes, reverse=True)
    score = explanation["base_value"] + sum(c["contribution"] for c in contributions)
    assert 1 / (1 + math.exp(-score)) == pytest.approx(explanation["probability"], abs=1e-6)


def test_inference_with_a_named_version(api: Api, searched: dict[str, Any], applications: list[dict[str, Any]]) -> None:
    """Analysts may name a registered version instead of the champion (new)."""
    if "model_version" not in api.schema("DecideRequest").get("properties", {}):
        pytest.skip("POST /v1/scoring/decisions does not take a model_version yet (being added)")
    body = {"application": applications[1], "model_version": searched["version"]}
    decision = api.call("POST", "/v1/scoring/decisions", "analyst", json=body).json()
    assert decision["model"]["version"] == searched["version"]
    assert decision["model"]["alias"] is None
    api.call("POST", "/v1/scoring/decisions", "analyst", json={**body, "model_version": "99999"}, expect=404)


@pytest.mark.parametrize(("part", "sample"), [("production", None), ("train", BATCH)], ids=["full", "sample1000"])
def test_inference_on_a_dataset_part(api: Api, dataset: dict[str, Any], part: str, sample: int | None) -> None:
    """`/production/inference/full` and `/production/inference/sample1000`: score every applicant of a dataset part,
    or a seeded random sample of 1,000 (asynchronous), then read the stored scoring and its rows."""
    base = f"/v1/datasets/{dataset['dataset_id']}/scorings"
    result = api.finish(api.start(base, {"part": part, "sample_size": sample}), "dataset scoring")
    assert result["part_rows"] == dataset["sizes"][part]
    assert result["rows"] == (sample or dataset["sizes"][part])
    assert result["model"]["version"] == api.running.served.version
    quantiles = result["probability"]
    assert quantiles["min"] <= quantiles["p50"] <= quantiles["max"]
    stored = api.get(f"{base}/{result['scoring_id']}")
    assert stored["refused"] == result["refused"]
    assert stored["sample_size"] == sample
    refused = api.get(stored["rows_url"], decision="refused", limit=1000)
    assert refused["total"] == result["refused"]
    assert all(r["probability"] >= result["threshold"] for r in refused["rows"])
    assert result["scoring_id"] in {s["scoring_id"] for s in api.get(base)}


# ------------------------------------------------------------------------------------------------------ monitoring
def _report(api: Api, job: dict[str, Any]) -> dict[str, Any]:
    result = api.finish(job, "drift report")
    report: dict[str, Any] = api.get(f"/v1/monitoring/reports/{result['report']['report_id']}")
    html = api.call("GET", report["html_url"])
    assert html.headers["content-type"].startswith("text/html")
    assert len(html.text) > 1000
    return report


def test_drift_of_a_single_column(api: Api, jobs: dict[str, dict[str, Any]]) -> None:
    """`/production/datadrift/single_column`: one column of production against the model's training data."""
    report = _report(api, jobs["drift_column"])
    column = jobs["drift_column"]["request"]["column"]
    assert report["columns"] == 1
    assert [c["column"] for c in report["summary"]["all_columns"]] == [column]
    verdict = report["summary"]["all_columns"][0]
    assert verdict["score"] is not None
    assert report["drifted"] == int(verdict["drifted"])


def test_drift_of_every_column(api: Api, jobs: dict[str, dict[str, Any]], dataset: dict[str, Any]) -> None:
    """`/production/datadrift/full_column`: every feature column, a verdict for each and the dataset's severity."""
    report = _report(api, jobs["drift_full"])
    verdicts = report["summary"]["all_columns"]
    assert report["columns"] == len(verdicts) > 50
    assert {v["column"] for v in verdicts} <= {f["name"] for f in dataset["features"]}
    assert report["drifted"] == sum(v["drifted"] for v in verdicts)
    assert report["severity"] in {"green", "orange", "red"}
    assert report["dataset_id"] == dataset["dataset_id"]


def test_model_performance_drift_of_served_inputs(api: Api, batch: dict[str, Any]) -> None:
    """`/prodction/model_performance`: the inputs the champion served, compared with its training data (a window
    report closes every 1,000 decisions; the batch above is one)."""
    assert len(batch["decisions"]) == BATCH
    deadline = time.monotonic() + 300
    while not (windows := api.get("/v1/monitoring/reports", kind="window")):
        assert time.monotonic() < deadline, "no window report 300 s after 1,000 decisions"
        time.sleep(2)
    window = api.get(windows[0]["url"])
    assert window["model_version"] == api.running.served.version
    assert window["rows"] >= 100
    assert window["window_start"] <= window["window_end"]
    assert window["summary"]["all_columns"]
    alerts = api.get("/v1/monitoring/alerts")
    assert all(a["severity"] in {"orange", "red"} for a in alerts)


# ------------------------------------------------------------------------------------------ deletions (kept last)
def test_delete_a_run(api: Api, searched: dict[str, Any]) -> None:
    """`/experiments/runs/metrics/delete`: administrators delete a run; it is gone from its experiment."""
    path = f"/v1/runs/{searched['run_id']}"
    api.call("DELETE", path, "analyst", expect=403)
    api.call("DELETE", path, "admin", expect=204)
    api.call("GET", path, expect=404)
    runs = api.get(f"/v1/experiments/{searched['experiment_id']}/runs")
    assert searched["run_id"] not in {r["run_id"] for r in runs}
    assert runs


def test_delete_a_dataset(api: Api, built: dict[str, Any]) -> None:
    """`/experiment_start/delete`: administrators delete a dataset; it is gone from the list and its parts."""
    path = f"/v1/datasets/{built['dataset_id']}"
    api.call("DELETE", path, "analyst", expect=403)
    api.call("DELETE", path, "admin", expect=204)
    api.call("GET", path, expect=404)
    api.call("GET", f"{path}/parts/train/rows", expect=404)
    assert built["dataset_id"] not in {d["dataset_id"] for d in api.get("/v1/datasets")}
