"""The main flow on real parts: a dataset built over Kafka, a LightGBM trained and promoted over Kafka, applications
published on `loan-applications` decided by the scoring service, with the probabilities of the registered pipeline.

The services run in this process (their brokers and start-up hooks), against a real tansu broker, a real MLflow
server and a SQLite application database.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import func, select

from credit_shared import db, topics
from credit_shared.contracts.envelope import envelope
from credit_shared.contracts.ingestion import BuildDataset
from credit_shared.contracts.training import PromoteModel, TrainModel
from credit_shared.datasets import PRODUCTION, TRAIN, dataset_dir
from credit_shared.db.models import DecisionRecord
from credit_shared.homecredit.application import APPLICATION, ID, TARGET
from credit_shared.models import load_model
from credit_shared.runtime import Worker
from credit_shared.settings import DatabaseSettings, KafkaSettings, MlflowSettings, PlatformSettings

pytestmark = pytest.mark.integration


@asynccontextmanager
async def running(*workers: Worker) -> AsyncIterator[None]:
    for worker in workers:
        for hook in worker.on_startup:
            await hook()
        await worker.broker.start()
        for hook in worker.after_startup:
            await hook()
    try:
        yield
    finally:
        for worker in workers:
            for hook in worker.on_shutdown:
                await hook()
            await worker.broker.stop()


class Events:
    """Every event of the event topics, read by a plain consumer from the start."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = AIOKafkaConsumer(
            topics.DATASET_EVENTS.name, topics.TRAINING_EVENTS.name, topics.LOAN_DECISIONS.name,
            bootstrap_servers=bootstrap, group_id=f"flow-{uuid.uuid4().hex[:6]}", auto_offset_reset="earliest",
        )  # fmt: skip
        self.seen: list[tuple[str, dict[str, Any]]] = []

    async def wait(self, predicate: Any, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for topic, event in self.seen:
                if predicate(topic, event):
                    return event
            batches = await self.consumer.getmany(timeout_ms=500)
            for records in batches.values():
                self.seen += [(r.topic, json.loads(r.value)) for r in records]
        raise AssertionError(f"no matching event in {timeout_s} s; seen types {[e.get('type') for _, e in self.seen]}")


def event_of(kind: str, request_id: str) -> Any:
    return lambda _topic, e: e.get("type") == kind and e["payload"].get("request_id") == request_id


@pytest.mark.anyio
async def test_build_train_promote_then_decide_with_the_registered_pipeline(
    tmp_path: Path, kafka_bootstrap: str, mlflow_server: str, sample_data: Path
) -> None:
    from ingestion_service.app import build as build_ingestion
    from ingestion_service.settings import Settings as IngestionSettings
    from scoring_service.app import build as build_scoring
    from scoring_service.settings import Settings as ScoringSettings
    from training_service.app import build as build_training
    from training_service.settings import Settings as TrainingSettings

    url = f"sqlite:///{tmp_path / 'app.db'}"
    db.migrate(url)
    model_name = f"credit-default-{uuid.uuid4().hex[:6]}"
    group = uuid.uuid4().hex[:6]
    common: dict[str, Any] = {
        "platform": PlatformSettings(home=tmp_path / "home"),
        "kafka": KafkaSettings(bootstrap_servers=kafka_bootstrap, session_timeout_ms=6000, heartbeat_interval_ms=500),
        "mlflow": MlflowSettings(tracking_uri=mlflow_server, model_name=model_name),
        "database": DatabaseSettings(url=url),
    }
    ingestion, _ = build_ingestion(
        IngestionSettings(**common, group_id=f"i-{group}", sample_dir=sample_data / "joinable_capstone")
    )
    training, _ = build_training(TrainingSettings(**common, group_id=f"t-{group}"))
    scoring, _ = build_scoring(ScoringSettings(**common, group_id=f"s-{group}", reload_interval_s=2.0))

    events = Events(kafka_bootstrap)
    await events.consumer.start()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()

    async def send(topic: str, message: Any, key: bytes | None = None) -> None:
        await producer.send_and_wait(topic, message.model_dump_json().encode(), key=key)

    try:
        async with running(ingestion, training, scoring):
            build = BuildDataset(request_id=f"b-{group}", name="flow", source="sample", max_missing_rate=0.95)
            await send(topics.DATASET_COMMANDS.name, envelope(build, type_="dataset.build", source="test"))
            built = await events.wait(event_of("dataset.built", build.request_id), 240)
            dataset_id = built["payload"]["dataset_id"]

            train = TrainModel(
                request_id=f"t-{group}",
                dataset_id=dataset_id,
                run_name="flow-lgbm",
                family="lightgbm",
                imbalance="class_weight",
                folds=3,
                params={"n_estimators": 60, "num_leaves": 15},
            )
            await send(topics.TRAINING_COMMANDS.name, envelope(train, type_="model.train", source="test"))
            trained = await events.wait(event_of("model.trained", train.request_id), 400)
            version = trained["payload"]["version"]

            promote = PromoteModel(request_id=f"p-{group}", version=version, alias="champion", force=True)
            await send(topics.TRAINING_COMMANDS.name, envelope(promote, type_="model.promote", source="test"))
            await events.wait(event_of("model.promoted", promote.request_id), 120)

            train_part = pd.read_parquet(dataset_dir(tmp_path / "home" / "datasets", dataset_id) / TRAIN)
            rows = train_part.head(40)
            raw = pd.read_csv(sample_data / "joinable_capstone" / "application_train.csv").set_index(ID)
            for k, sk_id in enumerate(rows[ID]):
                application = {c: _plain(raw.at[sk_id, c]) for c in APPLICATION.names if c != ID and c in raw.columns}
                body = {"request_id": f"flow-{group}-{k}", "application": {ID: int(sk_id), **application}}
                await producer.send_and_wait(
                    topics.LOAN_APPLICATIONS.name, json.dumps(body).encode(), key=str(sk_id).encode()
                )
            decisions = {}
            for k in range(len(rows)):
                event = await events.wait(
                    lambda t, e, rid=f"flow-{group}-{k}": (
                        t == topics.LOAN_DECISIONS.name and e.get("request_id") == rid
                    ),
                    120,
                )
                decisions[event["request_id"]] = event
    finally:
        await producer.stop()
        await events.consumer.stop()

    model = load_model(MlflowSettings(tracking_uri=mlflow_server, model_name=model_name), alias="champion")
    expected = model.predict_proba(rows.drop(columns=[ID, TARGET]))
    got = np.array([decisions[f"flow-{group}-{k}"]["probability"] for k in range(len(rows))])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    for decision in decisions.values():
        assert decision["model"]["version"] == version
        assert decision["threshold"] == pytest.approx(model.threshold)
        if decision["decision"] == "refused":
            assert 1 <= len(decision["reasons"]) <= 4
            assert all(r["contribution"] > 0 and r["label"] for r in decision["reasons"])
    engine = db.make_engine(url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(DecisionRecord)) == len(rows)
    assert (dataset_dir(tmp_path / "home" / "datasets", dataset_id) / PRODUCTION).is_file()


def _plain(value: Any) -> Any:
    if isinstance(value, float) and np.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value
