"""The experiments page against a fake gateway: metrics, overlaid curves, one run's figures, CV, card, promotion."""

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

EXPERIMENT = "7"
FIGURES = ["roc_curve", "pr_curve", "confusion_test", "cost_vs_threshold", "importance_shap", "shap_summary"]


def make_run(run_id: str, family: str, auc: float) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "run_name": f"{family}-run",
        "status": "FINISHED",
        "start_time": "2026-11-24T10:00:00Z",
        "params": {"family": family, "num_leaves": "31"},
        "tags": {},
        "metrics": {"test_roc_auc": auc, "train_roc_auc": auc + 0.05, "test_cost": 0.5, "threshold": 0.09},
        "figures": FIGURES,
    }


def make_figures(auc: float) -> dict[str, Any]:
    """Figure data as the training service writes it (``figures/<name>.json``)."""
    roc = {"fpr": [0, 0.2, 1], "tpr": [0, 0.6, 1], "auc": auc}
    pr = {"recall": [0, 1], "precision": [1, 0.1], "prevalence": 0.08}
    cost = {"threshold": [0.1, 0.5], "cost": [0.3, 0.5]}
    return {
        "roc_curve": {"kind": "roc", "series": {"train": roc, "test": roc}},
        "pr_curve": {"kind": "precision_recall", "series": {"test": pr}},
        "confusion_test": {
            "kind": "confusion_matrix",
            "split": "test",
            "threshold": 0.09,
            "matrix": [[90, 10], [3, 7]],
            "rows": ["repaid", "defaulted"],
            "columns": ["approved", "refused"],
        },
        "cost_vs_threshold": {
            "kind": "cost_vs_threshold",
            "threshold": 0.09,
            "fn": 10,
            "fp": 1,
            "series": {"test": cost},
        },
        "importance_shap": {
            "kind": "importance",
            "title": "Mean |SHAP| (test sample)",
            "features": ["EXT_SOURCE_3", "AMT_CREDIT"],
            "values": [0.4, 0.1],
        },
        "shap_summary": {
            "kind": "shap_summary",
            "rows": 2,
            "features": [
                {"name": "EXT_SOURCE_3", "contribution": [0.3, -0.2], "value": [0.1, None]}
            ],  # a missing value
        },
    }


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway()
    use_client_factory(fake.client)
    yield fake
    use_client_factory(None)


def with_runs(gateway: FakeGateway) -> FakeGateway:
    runs = [make_run("r1", "lightgbm", 0.77), make_run("r2", "logistic_regression", 0.74)]
    gateway.on("GET", "/v1/experiments", [{"experiment_id": EXPERIMENT, "name": "dataset baseline"}])
    gateway.on("GET", f"/v1/experiments/{EXPERIMENT}/runs", runs)
    for run in runs:
        run_id = run["run_id"]
        gateway.on("GET", f"/v1/runs/{run_id}", run)
        for name, data in make_figures(run["metrics"]["test_roc_auc"]).items():
            gateway.on("GET", f"/v1/runs/{run_id}/figures/{name}", data)
        cv = {
            "rows": [
                {"param_num_leaves": 15, "mean_test_score": -0.52},
                {"param_num_leaves": 63, "mean_test_score": -0.49},
            ]
        }
        gateway.on("GET", f"/v1/runs/{run_id}/cv-results", cv)
        gateway.on("GET", f"/v1/runs/{run_id}/model-card", {"markdown": "# Model card\nTrained on baseline."})
    registry = {
        "name": "credit-default",
        "aliases": {"champion": "1"},
        "versions": [
            {"version": "2", "run_id": "r2", "aliases": []},
            {"version": "1", "run_id": "r1", "aliases": ["champion"]},
        ],
    }
    gateway.on("GET", "/v1/registry", registry)
    return gateway


def chart_titles(at: AppTest) -> list[str]:
    return [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in at.get("plotly_chart")]


def test_metric_table_by_family_and_a_bar_chart_of_one_metric(gateway: FakeGateway) -> None:
    with_runs(gateway)
    at = open_page("experiments")
    assert not at.exception
    table = at.dataframe[0].value
    assert table["Run"].tolist() == ["lightgbm-run · lightgbm", "logistic_regression-run · logistic_regression"]
    assert {"Test ROC AUC", "Training ROC AUC"} <= set(table.columns)  # names for people, not test_roc_auc
    assert not any(str(v) == "None" for v in table.to_numpy().ravel())
    next(m for m in at.multiselect if m.label == "Model families").set_value(["lightgbm"]).run()
    assert at.dataframe[0].value["Run"].tolist() == ["lightgbm-run · lightgbm"]


def test_a_run_without_the_charted_metric_is_named_under_the_chart(gateway: FakeGateway) -> None:
    with_runs(gateway)
    baseline = make_run("r3", "dummy", 0.5)
    baseline["metrics"] = {"test_cost": 0.8}  # a baseline has no ROC AUC
    gateway.on("GET", f"/v1/experiments/{EXPERIMENT}/runs", [make_run("r1", "lightgbm", 0.77), baseline])
    at = open_page("experiments")
    next(s for s in at.selectbox if s.label == "Metric to chart").set_value("Test ROC AUC").run()
    assert not at.exception
    assert "Not drawn, without a value of Test ROC AUC: dummy-run · dummy." in texts(at, "caption")


def test_overlays_the_curves_of_the_chosen_runs(gateway: FakeGateway) -> None:
    with_runs(gateway)
    at = open_page("experiments")
    charts = {
        json.loads(c.proto.spec)["layout"]["title"]["text"]: json.loads(c.proto.spec) for c in at.get("plotly_chart")
    }
    roc = charts["ROC curves (test split)"]
    assert [t["name"] for t in roc["data"]] == [
        "lightgbm-run · lightgbm (AUC 0.770)",
        "logistic_regression-run · logistic_regression (AUC 0.740)",
        "chance",
    ]
    assert roc["layout"]["showlegend"]
    assert roc["layout"]["xaxis"]["title"]["text"] == "False positive rate"
    pr = charts["Precision-recall curves (test split)"]
    chance = pr["data"][-1]  # precision without skill: the split's default rate, drawn flat across recall
    assert chance["name"] == "chance: default rate 8.0%"
    assert chance["y"] == [0.08, 0.08]
    assert chance["x"] == [0, 1]


def test_one_run_shows_its_other_figures_cv_results_and_model_card(gateway: FakeGateway) -> None:
    with_runs(gateway)
    at = open_page("experiments")
    next(s for s in at.selectbox if s.label == "Run to inspect").set_value("r2").run()
    assert not at.exception
    titles = chart_titles(at)
    assert "Confusion matrix (test split, threshold 0.090)" in titles
    assert "Business cost against the decision threshold" in titles
    assert "Mean |SHAP| (test sample)" in titles
    assert "SHAP summary (2 test rows): right of 0 raises the risk" in titles
    assert "mean test score against num leaves" in titles  # no param_ prefix
    assert "# Model card" in texts(at, "markdown")


def test_an_admin_promotes_a_version_of_this_experiment(gateway: FakeGateway) -> None:
    with_runs(gateway)
    job = {"job_id": "p1", "status": "queued"}
    gateway.on("POST", "/v1/registry/aliases/challenger", httpx.Response(202, json=job))
    gateway.on("GET", "/v1/jobs/p1/events", sse(job | {"status": "succeeded", "progress": 100}))
    at = open_page("experiments")
    next(r for r in at.radio if r.label == "Make it").set_value("challenger")
    next(b for b in at.button if b.label == "Promote").click()
    at.run()
    assert not at.exception
    assert gateway.sent("POST", "/v1/registry/aliases/challenger") == [{"version": "2", "force": False}]
    assert "Promotion of version 2 to challenger done" in texts(at, "success")


def test_a_non_admin_is_told_promotion_needs_the_admin_role(gateway: FakeGateway) -> None:
    with_runs(gateway)
    gateway.on("POST", "/v1/registry/aliases/champion", problem(403, "this action needs the admin role"))
    at = open_page("experiments")
    next(b for b in at.button if b.label == "Promote").click()
    at.run()
    assert "needs the admin role" in texts(at, "error")


def test_empty_and_missing_experiments(gateway: FakeGateway) -> None:
    at = open_page("experiments")
    assert not at.exception
    assert "/v1/experiments" in texts(at, "info")
    gateway.on("GET", "/v1/experiments", [])
    assert "No experiment yet" in texts(open_page("experiments"), "info")
    gateway.on("GET", "/v1/experiments", [{"experiment_id": EXPERIMENT, "name": "x"}])
    gateway.on("GET", f"/v1/experiments/{EXPERIMENT}/runs", [])
    assert "no run yet" in texts(open_page("experiments"), "info")


def test_a_run_without_search_or_card_says_so_without_error(gateway: FakeGateway) -> None:
    with_runs(gateway)
    for run_id in ("r1", "r2"):
        gateway.on("GET", f"/v1/runs/{run_id}/cv-results", problem(404, f"run {run_id!r} has no artifact 'x'"))
        gateway.on("GET", f"/v1/runs/{run_id}/model-card", problem(404, f"run {run_id!r} has no artifact 'y'"))
    at = open_page("experiments")
    assert not at.exception
    assert not at.error
    assert "no cross-validation results" in texts(at, "info")
    assert "no model card" in texts(at, "info")


def test_the_page_opens_on_the_champions_experiment(gateway: FakeGateway) -> None:
    with_runs(gateway)
    newer = {"experiment_id": "8", "name": "dataset newer"}  # newest first, holds only a baseline
    gateway.on("GET", "/v1/experiments", [newer, {"experiment_id": EXPERIMENT, "name": "dataset baseline"}])
    gateway.on("GET", "/v1/experiments/8/runs", [make_run("b8", "dummy", 0.5)])
    gateway.on("GET", "/v1/runs/r1", {**make_run("r1", "lightgbm", 0.77), "experiment_id": EXPERIMENT})
    at = open_page("experiments")
    assert not at.exception
    assert next(s for s in at.selectbox if s.label == "Experiment").value == EXPERIMENT
    assert at.dataframe[0].value["Run"].tolist()[0] == "lightgbm-run · lightgbm"
