"""What the first start leaves on the embedded platform, and what a client sees while the platform works.

The session's ``embedded_platform`` was prepared the way `make up` prepares a fresh clone: synthetic tables, a dataset
built over Kafka, a LightGBM trained with class weighting and a cost-tuned threshold, promoted to champion, all
through the gateway. These tests check the result against the ingestion and training issues' "Done when": the dataset
with its MLflow experiment, baseline run and online feature rows; a registered version with every metric and
artifact; progress a client can follow live; bad commands refused with a message and nothing registered.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import mlflow
import mlflow.artifacts
import mlflow.models
import pytest
from mlflow import MlflowClient

from tests.e2e.conftest import Running, api

pytestmark = pytest.mark.e2e

SPLITS = ("cv", "train", "test")
METRICS = ("roc_auc", "pr_auc", "business_cost", "recall", "precision", "f1", "accuracy", "balanced_accuracy",
           "brier", "refusal_rate")  # fmt: skip
FIGURES = ("roc_curve", "pr_curve", "confusion_train", "confusion_test", "cost_vs_threshold", "calibration",
           "importance_shap", "importance_model", "shap_summary")  # fmt: skip
TABLES = ("cv_results.json", "cv_results.csv", "features.json", "fairness.json", "metrics.json", "model_card.md",
          "command.json", "reference_probabilities.json")  # fmt: skip


def follow_live(client: httpx.Client, job: dict[str, Any], timeout_s: float = 600.0) -> list[dict[str, Any]]:
    """Every state of a job as its server-sent-events stream delivers it, until the stream ends."""
    states: list[dict[str, Any]] = []
    with client.stream("GET", job["events_url"], timeout=timeout_s) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data:"):
                states.append(json.loads(line[len("data:") :]))
    return states


def test_the_first_dataset_has_its_experiment_baseline_run_and_online_feature_rows(embedded_platform: Running) -> None:
    with api(embedded_platform, "viewer") as client:
        dataset = client.get(f"/v1/datasets/{embedded_platform.served.dataset_id}").raise_for_status().json()
    assert dataset["source_kind"] == "synthetic"
    assert dataset["sizes"]["train"] > 0
    assert dataset["sizes"]["production"] > 0
    assert len(dataset["features"]) > 100, "the history aggregates are there, not only the application columns"

    tracking = MlflowClient(tracking_uri=embedded_platform.platform.urls["mlflow"])
    experiment = tracking.get_experiment(dataset["mlflow_experiment_id"])
    baseline = tracking.get_run(dataset["baseline_run_id"])
    assert baseline.info.experiment_id == experiment.experiment_id
    assert baseline.data.tags["baseline"] == "true"
    assert 0.45 <= baseline.data.metrics["test_roc_auc"] <= 0.55, "a most-frequent-class baseline has no skill"

    database = embedded_platform.home / "credit.db"
    with sqlite3.connect(database) as db:
        (rows,) = db.execute(
            "SELECT count(*) FROM online_features WHERE dataset_id = ?", (dataset["dataset_id"],)
        ).fetchone()
        (declared,) = db.execute(
            "SELECT rows FROM online_feature_sets WHERE dataset_id = ?", (dataset["dataset_id"],)
        ).fetchone()
    applicants = dataset["sizes"]["train"] + dataset["sizes"]["production"]
    assert rows == declared > 0.9 * applicants, "nearly every applicant has a history (the rest get missing values)"


def test_the_champion_is_a_complete_registered_version(embedded_platform: Running, tmp_path: Path) -> None:
    version = embedded_platform.served.version
    with api(embedded_platform, "viewer") as client:
        registry = client.get("/v1/registry").raise_for_status().json()
    assert registry["aliases"]["champion"] == version

    tracking = MlflowClient(tracking_uri=embedded_platform.platform.urls["mlflow"])
    registered = tracking.get_model_version("credit-default", version)
    tags = registered.tags
    assert tags["dataset_id"] == embedded_platform.served.dataset_id
    assert 0.0 < float(tags["threshold"]) < 1.0
    assert (tags["cost_fn"], tags["cost_fp"]) == ("10", "1")
    assert tags["family"] == "lightgbm"
    assert tags["imbalance"] == "class_weight"

    run_id = registered.run_id
    assert run_id, "the version was registered from a run"
    run = tracking.get_run(run_id)
    for split in SPLITS:
        for metric in METRICS:
            assert f"{split}_{metric}" in run.data.metrics, f"{split}_{metric} is not logged"
    for metric in ("training_time_s", "inference_ms_per_row", "test_cost_at_0_5", "test_cost_accept_all"):
        assert metric in run.data.metrics, f"{metric} is not logged"
    assert run.data.metrics["test_business_cost"] < run.data.metrics["test_cost_accept_all"]

    artifacts = {a.path for a in tracking.list_artifacts(run_id)}
    figures = {a.path for a in tracking.list_artifacts(run_id, "figures")}
    for figure in FIGURES:
        assert {f"figures/{figure}.json", f"figures/{figure}.png"} <= figures, f"figure {figure} is missing"
    assert set(TABLES) <= artifacts, set(TABLES) - artifacts

    url = embedded_platform.platform.urls["mlflow"]
    location = tracking.get_model_version_download_uri("credit-default", version)
    mlmodel = mlflow.artifacts.download_artifacts(f"{location}/MLmodel", dst_path=str(tmp_path), tracking_uri=url)
    info = mlflow.models.Model.load(mlmodel)
    assert info.signature is not None
    assert info.signature.inputs is not None


def test_a_client_follows_a_dataset_build_live(embedded_platform: Running) -> None:
    with api(embedded_platform, "analyst") as client:
        response = client.post("/v1/datasets", json={"name": "followed live", "description": "e2e"})
        assert response.status_code == 202, response.text
        job = response.json()
        states = follow_live(client, job)
    assert states, "the stream delivered the job's states"
    assert states[-1]["status"] == "succeeded", states[-1]
    progress = [s["progress"] for s in states]
    assert progress == sorted(progress), "progress never goes back"
    assert len({s["stage"] for s in states if s["stage"]}) >= 2, "the stages are reported as they happen"
    assert states[-1]["result_url"].startswith("/v1/datasets/")
    with api(embedded_platform, "viewer") as client:
        built = client.get(states[-1]["result_url"]).raise_for_status().json()
        assert built["name"] == "followed live"
        assert client.delete(states[-1]["result_url"], headers=embedded_platform.headers("admin")).status_code == 204


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"family": "xgboost"}, "family"),
        ({"params": {"no_such_parameter": 1}}, "no_such_parameter"),
        ({"search": {"method": "random", "budget": 4, "parameters": {}}}, "search"),
    ],
    ids=["unknown-family", "unknown-parameter", "empty-search-space"],
)
def test_a_bad_training_command_is_refused_with_a_message_and_registers_nothing(
    embedded_platform: Running, change: dict[str, Any], reason: str
) -> None:
    command = {"dataset_id": embedded_platform.served.dataset_id, "run_name": "bad", "family": "lightgbm", **change}
    with api(embedded_platform, "analyst") as client:
        before = client.get("/v1/registry").raise_for_status().json()["versions"]
        response = client.post("/v1/training", json=command)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert reason in response.text
        assert client.get("/v1/registry").raise_for_status().json()["versions"] == before


def test_training_on_a_missing_dataset_fails_with_the_reason(embedded_platform: Running) -> None:
    command = {"dataset_id": "ds-20200101-000000-000000", "run_name": "nothing", "family": "logistic_regression"}
    with api(embedded_platform, "analyst") as client:
        before = client.get("/v1/registry").raise_for_status().json()["versions"]
        response = client.post("/v1/training", json=command)
        if response.status_code == 202:  # accepted, then the training service says why it failed
            states = follow_live(client, response.json())
            assert states[-1]["status"] == "failed", states[-1]
            assert "ds-20200101-000000-000000" in (states[-1]["message"] or "")
        else:
            assert response.status_code in {404, 422}, response.text
            assert "ds-20200101-000000-000000" in response.text
        assert client.get("/v1/registry").raise_for_status().json()["versions"] == before
