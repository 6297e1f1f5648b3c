"""Training over Kafka (in-memory broker) against a real MLflow server, on real application rows."""

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from faststream.kafka import TestKafkaBroker

from credit_shared import db, topics
from credit_shared.contracts import training as contract
from credit_shared.contracts.envelope import Envelope, envelope
from credit_shared.contracts.training import PromoteModel, TrainModel
from credit_shared.model_loading import load_model
from credit_shared.settings import DatabaseSettings, MlflowSettings, PlatformSettings
from training_service.app import build
from training_service.sample import write_application_dataset
from training_service.service import TrainingContext, run_promotion, run_training
from training_service.settings import Settings
from training_service.tracking import MlflowTracker, PromotionRefused
from training_service.trainer import TrainingError

pytestmark = pytest.mark.integration

ROWS = 1500


@pytest.fixture(scope="module")
def datasets_dir(tmp_path_factory: pytest.TempPathFactory, sample_data: Path) -> Path:
    folder = tmp_path_factory.mktemp("datasets")
    write_application_dataset(sample_data / "application_train.csv", folder, "sample-app", rows=ROWS)
    return folder


def make_settings(home: Path, datasets: Path, mlflow_uri: str, model_name: str) -> Settings:
    """Settings of a worker whose ``CREDIT_HOME`` is ``home`` and whose datasets are those of ``datasets``."""
    home.mkdir()
    (home / "datasets").symlink_to(datasets)
    url = f"sqlite:///{home / 'app.db'}"
    db.migrate(url)
    return Settings(
        platform=PlatformSettings(home=home),
        database=DatabaseSettings(url=url),
        mlflow=MlflowSettings(tracking_uri=mlflow_uri, model_name=model_name),
    )


def train_command(request_id: str, **overrides: Any) -> TrainModel:
    values: dict[str, Any] = {
        "request_id": request_id,
        "dataset_id": "sample-app",
        "run_name": "it-logistic",
        "family": "logistic_regression",
        "imbalance": "class_weight",
        "folds": 3,
    }
    return TrainModel(**{**values, **overrides})


def message(payload: Any, type_: str) -> Envelope[Any]:
    return envelope(payload, type_=type_, source="test", correlation_id=payload.request_id)


@pytest.mark.anyio
async def test_train_then_promote_over_kafka_registers_a_complete_version(
    tmp_path: Path, datasets_dir: Path, mlflow_server: str
) -> None:
    settings = make_settings(tmp_path / "home", datasets_dir, mlflow_server, "it-kafka")
    worker, _ = build(settings)
    events: list[Envelope[dict]] = []  # type: ignore[type-arg]

    @worker.broker.subscriber(topics.TRAINING_EVENTS.name)
    async def collect(event: Envelope[dict]) -> None:  # type: ignore[type-arg]
        events.append(event)

    command = train_command("train-1")
    async with TestKafkaBroker(worker.broker) as broker:
        await broker.publish(message(command, contract.TRAIN), topics.TRAINING_COMMANDS.name)
        await broker.publish(message(command, contract.TRAIN), topics.TRAINING_COMMANDS.name)  # redelivered
        trained = next(e for e in events if e.type == contract.TRAINED).payload
        promote = PromoteModel(request_id="promote-1", version=trained["version"], alias="champion")
        await broker.publish(message(promote, contract.PROMOTE), topics.TRAINING_COMMANDS.name)

    types = [e.type for e in events]
    assert types.count(contract.TRAINED) == 2  # the repeat answers with the same version, trained once
    assert types[-1] == contract.PROMOTED
    progress = [e.payload["message"] for e in events if e.type == contract.PROGRESS]
    assert any("of 3" in (m or "") for m in progress)  # throttled: at least one fold of the three is reported
    assert all(e.correlation_id in {"train-1", "promote-1"} for e in events)

    tracker = MlflowTracker(settings.mlflow)
    versions = tracker.client.search_model_versions("name = 'it-kafka'")
    assert [v.version for v in versions] == [trained["version"]]
    version = versions[0]
    assert version.tags["dataset_id"] == "sample-app"
    assert (version.tags["cost_fn"], version.tags["cost_fp"]) == ("10", "1")
    assert float(version.tags["threshold"]) == pytest.approx(trained["threshold"], abs=1e-6)
    run = tracker.client.get_run(version.run_id)
    for split in ("cv", "train", "test"):
        assert f"{split}_roc_auc" in run.data.metrics
        assert f"{split}_business_cost" in run.data.metrics
    artifacts = {a.path for a in tracker.client.list_artifacts(run.info.run_id)}
    assert {"model_card.md", "cv_results.csv", "features.json", "fairness.json", "figures"} <= artifacts
    figures = {a.path for a in tracker.client.list_artifacts(run.info.run_id, "figures")}
    assert {"figures/roc_curve.json", "figures/roc_curve.png", "figures/shap_summary.png"} <= figures

    model = load_model(settings.mlflow, "it-kafka", "champion")
    assert model.version == trained["version"]
    assert model.threshold == pytest.approx(trained["threshold"])
    rows = pd.read_parquet(datasets_dir / "sample-app" / "train.parquet").head(10)
    probabilities = model.predict_proba(rows[model.feature_names])
    contributions, base = model.contributions(rows[model.feature_names])
    assert probabilities.shape == (10,)
    logit = (contributions.sum(axis=1) + base).to_numpy()
    assert logit == pytest.approx(np.log(probabilities / (1 - probabilities)), abs=1e-6)
    assert list(contributions.columns) == model.feature_names


@pytest.mark.anyio
async def test_bad_commands_fail_with_the_reason_and_register_nothing(
    tmp_path: Path, datasets_dir: Path, mlflow_server: str
) -> None:
    settings = make_settings(tmp_path / "home", datasets_dir, mlflow_server, "it-bad")
    worker, _ = build(settings)
    events: list[Envelope[dict]] = []  # type: ignore[type-arg]

    @worker.broker.subscriber(topics.TRAINING_EVENTS.name)
    async def collect(event: Envelope[dict]) -> None:  # type: ignore[type-arg]
        events.append(event)

    bad_family = {"request_id": "bad-1", "dataset_id": "sample-app", "run_name": "x", "family": "svm"}
    empty_search = {**bad_family, "request_id": "bad-2", "family": "lightgbm", "search": {"parameters": {}}}
    unknown_param = {**bad_family, "request_id": "bad-3", "family": "lightgbm", "params": {"depth": 3}}
    async with TestKafkaBroker(worker.broker) as broker:
        for payload in (bad_family, empty_search, unknown_param):
            body = {
                "type": contract.TRAIN,
                "source": "test",
                "correlation_id": payload["request_id"],
                "payload": payload,
            }
            await broker.publish(body, topics.TRAINING_COMMANDS.name)
        missing = train_command("bad-4", dataset_id="no-such-dataset")
        await broker.publish(message(missing, contract.TRAIN), topics.TRAINING_COMMANDS.name)

    failed = {e.payload["request_id"]: e.payload for e in events if e.type == contract.FAILED}
    assert set(failed) == {"bad-1", "bad-2", "bad-3", "bad-4"}
    assert "family: Input should be" in failed["bad-1"]["detail"]
    assert "empty search space" in failed["bad-2"]["detail"]
    assert "unknown parameter 'depth' for lightgbm" in failed["bad-3"]["detail"]
    assert failed["bad-4"]["reason"] == "dataset_not_found"
    assert "'no-such-dataset' does not exist" in failed["bad-4"]["detail"]
    assert MlflowTracker(settings.mlflow).client.search_model_versions("name = 'it-bad'") == []


def test_champion_gate_refuses_a_model_no_better_than_the_baseline_unless_forced(
    tmp_path: Path, datasets_dir: Path, mlflow_server: str
) -> None:
    tracker = MlflowTracker(MlflowSettings(tracking_uri=mlflow_server, model_name="it-gate"))
    ctx = TrainingContext(datasets_dir, tracker)

    dummy = run_training(train_command("gate-1", family="dummy", imbalance="none"), ctx, lambda *a: None)
    # a command redelivered after a crash between registering and acknowledging finds its version: no retraining
    again = run_training(train_command("gate-1", family="dummy", imbalance="none"), ctx, lambda *a: None)
    assert again == dummy
    assert len(tracker.client.search_model_versions("name = 'it-gate'")) == 1
    with pytest.raises(PromotionRefused, match=r"test ROC AUC 0\.5000 does not beat the dataset baseline 0\.5000"):
        run_promotion(PromoteModel(request_id="p-1", version=dummy.version), ctx)
    challenger = run_promotion(PromoteModel(request_id="p-2", version=dummy.version, alias="challenger"), ctx)
    assert challenger.alias == "challenger"
    forced = run_promotion(PromoteModel(request_id="p-3", version=dummy.version, force=True), ctx)
    assert forced.forced
    assert tracker.client.get_model_version_by_alias("it-gate", "champion").version == dummy.version
    with pytest.raises(TrainingError, match="has no version 99"):
        run_promotion(PromoteModel(request_id="p-4", version="99"), ctx)


def test_champion_gate_refuses_probabilities_that_are_not_calibrated_unless_forced(
    tmp_path: Path, datasets_dir: Path, mlflow_server: str
) -> None:
    tracker = MlflowTracker(MlflowSettings(tracking_uri=mlflow_server, model_name="it-calibration"))
    ctx = TrainingContext(datasets_dir, tracker)
    trained = run_training(train_command("cal-1"), ctx, lambda *a: None)
    version = tracker.client.get_model_version("it-calibration", trained.version)
    ratio = tracker.client.get_run(version.run_id).data.metrics["test_expected_observed_ratio"]
    assert 0.8 <= ratio <= 1.25, "the trainer's own model is calibrated"
    model = load_model(tracker.settings, "it-calibration", version=trained.version)
    assert model.calibrator is not None, "the registered pipeline carries its calibrator"
    assert model.explains_probability
    tracker.client.log_metric(version.run_id, "test_expected_observed_ratio", 1.6)  # as an uncalibrated model does
    with pytest.raises(PromotionRefused, match=r"expects 1\.6000 times the default rate .* allowed 0\.8 to 1\.25"):
        run_promotion(PromoteModel(request_id="cal-p1", version=trained.version), ctx)
    forced = run_promotion(PromoteModel(request_id="cal-p2", version=trained.version, force=True), ctx)
    assert forced.forced
    assert forced.test_expected_observed_ratio == pytest.approx(1.6)
