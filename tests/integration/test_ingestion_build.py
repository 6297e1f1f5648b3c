"""A dataset build requested over Kafka (in-memory broker here; the e2e test uses the real one) on the real sample."""

from pathlib import Path

import pandas as pd
import pytest
from faststream.kafka import TestKafkaBroker

from credit_shared import db, topics
from credit_shared.contracts.envelope import Envelope, envelope
from credit_shared.contracts.ingestion import BuildDataset
from credit_shared.datasets import list_manifests, read_manifest
from credit_shared.online_features import feature_set_columns, read_history
from credit_shared.settings import DatabaseSettings, MlflowSettings, PlatformSettings
from ingestion_service.app import build
from ingestion_service.settings import Settings

pytestmark = pytest.mark.integration


def make_settings(home: Path, sample: Path) -> Settings:
    url = f"sqlite:///{home / 'app.db'}"
    db.migrate(url)
    return Settings(
        platform=PlatformSettings(home=home),
        database=DatabaseSettings(url=url),
        mlflow=MlflowSettings(tracking_uri=f"sqlite:///{home / 'mlflow.db'}"),
        sample_dir=sample,
    )


@pytest.mark.anyio
async def test_build_command_produces_dataset_online_features_experiment_and_progress(
    tmp_path: Path, sample_data: Path
) -> None:
    settings = make_settings(tmp_path, sample_data / "joinable_capstone")
    worker, _ = build(settings)
    events: list[Envelope[dict]] = []  # type: ignore[type-arg]

    @worker.broker.subscriber(topics.DATASET_EVENTS.name)
    async def collect(event: Envelope[dict]) -> None:  # type: ignore[type-arg]
        events.append(event)

    command = BuildDataset(request_id="build-1", name="sample", source="sample", max_missing_rate=0.9)
    async with TestKafkaBroker(worker.broker) as broker:
        await broker.publish(envelope(command, type_="dataset.build", source="test", correlation_id="job-1"),
                             topics.DATASET_COMMANDS.name)  # fmt: skip
        await broker.publish(envelope(command, type_="dataset.build", source="test", correlation_id="job-1"),
                             topics.DATASET_COMMANDS.name)  # fmt: skip

    types = [e.type for e in events]
    assert "dataset.progress" in types
    assert types.count("dataset.built") == 2  # the repeat answers with the same dataset, built once
    assert all(e.correlation_id == "job-1" for e in events)
    manifests = list_manifests(settings.platform.datasets_dir)
    assert len(manifests) == 1
    manifest = read_manifest(settings.platform.datasets_dir, manifests[0].dataset_id)
    assert manifest.sizes["train"] == 1000
    assert manifest.baseline_run_id
    assert manifest.mlflow_experiment_id
    assert all(f.label for f in manifest.features)
    train = pd.read_parquet(settings.platform.datasets_dir / manifest.dataset_id / "train.parquet")
    assert list(train.columns) == ["SK_ID_CURR", *[f.name for f in manifest.features], "TARGET"]
    engine = db.make_engine(settings.database)
    columns = feature_set_columns(engine, manifest.dataset_id)
    assert columns == [f.name for f in manifest.features if f.online == "history"]
    client = int(train["SK_ID_CURR"].iloc[0])
    stored = read_history(engine, manifest.dataset_id, columns, [client]).values[0]
    expected = train.loc[train["SK_ID_CURR"] == client, columns].to_numpy(dtype=float)[0]
    assert pd.Series(stored).equals(pd.Series(expected))


@pytest.mark.anyio
async def test_missing_source_gives_a_failed_event_with_the_reason(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, tmp_path / "nowhere")
    worker, _ = build(settings)
    events: list[Envelope[dict]] = []  # type: ignore[type-arg]

    @worker.broker.subscriber(topics.DATASET_EVENTS.name)
    async def collect(event: Envelope[dict]) -> None:  # type: ignore[type-arg]
        events.append(event)

    command = BuildDataset(request_id="build-2", name="x", source="sample")
    async with TestKafkaBroker(worker.broker) as broker:
        await broker.publish(envelope(command, type_="dataset.build", source="test"), topics.DATASET_COMMANDS.name)
    assert [e.type for e in events] == ["dataset.failed"]
    assert "INGESTION_SAMPLE_DIR" in events[0].payload["detail"]
    assert list_manifests(settings.platform.datasets_dir) == []


@pytest.mark.anyio
async def test_a_folder_of_application_tables_only_builds_a_dataset_that_names_the_absent_tables(
    tmp_path: Path, sample_data: Path
) -> None:
    only = tmp_path / "applications-only"
    only.mkdir()
    for table in ("application_train.csv", "application_test.csv"):
        (only / table).symlink_to(sample_data / table)
    settings = make_settings(tmp_path, only)
    worker, _ = build(settings)
    events: list[Envelope[dict]] = []  # type: ignore[type-arg]

    @worker.broker.subscriber(topics.DATASET_EVENTS.name)
    async def collect(event: Envelope[dict]) -> None:  # type: ignore[type-arg]
        events.append(event)

    command = BuildDataset(request_id="build-apps", name="applications only", source="sample")
    async with TestKafkaBroker(worker.broker) as broker:
        await broker.publish(envelope(command, type_="dataset.build", source="test", correlation_id="job-2"),
                             topics.DATASET_COMMANDS.name)  # fmt: skip

    built = next(e.payload for e in events if e.type == "dataset.built")
    side = ["bureau", "bureau_balance", "previous_application", "POS_CASH_balance", "installments_payments",
            "credit_card_balance"]  # fmt: skip
    assert sorted(built["absent_tables"]) == sorted(side)
    assert built["rows_train"] == 6999
    assert built["rows_production"] == 199
    manifest = read_manifest(settings.platform.datasets_dir, built["dataset_id"])
    assert sorted(manifest.absent_tables) == sorted(side)
    names = {f.name for f in manifest.features}
    assert {"EXT_SOURCE_3", "PAYMENT_RATE"} <= names
    assert not {n for n in names if n.startswith(("BURO_", "PREV_", "INSTAL_", "POS_", "CC_"))}, "no history at all"
    assert not names & {"CODE_GENDER", "NAME_FAMILY_STATUS"}, "protected attributes are never features"
    assert manifest.aside == ["CODE_GENDER", "NAME_FAMILY_STATUS"]
    assert "prohibited basis" in manifest.excluded["CODE_GENDER"]
    folder = settings.platform.datasets_dir / built["dataset_id"]
    assert not {"CODE_GENDER", "NAME_FAMILY_STATUS"} & set(pd.read_parquet(folder / "train.parquet").columns)
    aside = pd.read_parquet(folder / "train_aside.parquet")
    assert list(aside.columns) == ["SK_ID_CURR", "CODE_GENDER", "NAME_FAMILY_STATUS"]
    assert len(aside) == 6999
    assert set(aside["CODE_GENDER"].dropna().astype(str)) <= {"F", "M", "XNA"}, "kept aside for fairness"
    progress = " ".join(str(e.payload.get("message")) for e in events if e.type == "dataset.progress")
    assert "no bureau" in progress
