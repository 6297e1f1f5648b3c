"""The main flow's set-up on real parts, shared by the integration tests that need a served champion.

The ingestion, training and scoring services run in the test's process (their brokers and start-up hooks) against
the session's tansu broker and MLflow server and a SQLite application database. :func:`start_flow` builds a dataset
from the real sample over Kafka, trains a small LightGBM over Kafka and promotes it to champion; the tests then
publish on the running services' topics and read every event with :class:`Events`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import BaseModel

from credit_shared import db, topics
from credit_shared.contracts.envelope import envelope
from credit_shared.contracts.ingestion import BuildDataset
from credit_shared.contracts.training import PromoteModel, TrainModel
from credit_shared.homecredit.application import APPLICATION, ID
from credit_shared.runtime import Worker
from credit_shared.settings import DatabaseSettings, KafkaSettings, MlflowSettings, PlatformSettings

EVENT_TOPICS = (
    topics.DATASET_EVENTS,
    topics.TRAINING_EVENTS,
    topics.SCORING_EVENTS,
    topics.LOAN_DECISIONS,
)
Predicate = Callable[[str, dict[str, Any]], bool]


@asynccontextmanager
async def running(*workers: Worker) -> AsyncIterator[None]:
    """Start the workers as their runtime does (hooks, broker, after-start hooks); stop them at the end."""
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
    """Every event of the event topics and every decision, read by a plain consumer from the start."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = AIOKafkaConsumer(
            *(t.name for t in EVENT_TOPICS),
            bootstrap_servers=bootstrap,
            group_id=f"flow-{uuid.uuid4().hex[:6]}",
            auto_offset_reset="earliest",
        )
        self.seen: list[tuple[str, dict[str, Any]]] = []

    async def wait(self, predicate: Predicate, timeout_s: float) -> dict[str, Any]:
        """The first event matching ``predicate``, read within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for topic, event in self.seen:
                if predicate(topic, event):
                    return event
            batches = await self.consumer.getmany(timeout_ms=500)
            for records in batches.values():
                self.seen += [(r.topic, json.loads(r.value)) for r in records]
        raise AssertionError(f"no matching event in {timeout_s} s; seen types {[e.get('type') for _, e in self.seen]}")

    def matching(self, predicate: Predicate) -> list[dict[str, Any]]:
        """Every event read so far that matches ``predicate``."""
        return [event for topic, event in self.seen if predicate(topic, event)]


def event_of(kind: str, request_id: str) -> Predicate:
    """Matches the envelope of type ``kind`` whose payload has ``request_id``."""
    return lambda _topic, e: e.get("type") == kind and e.get("payload", {}).get("request_id") == request_id


def decision_of(request_id: str) -> Predicate:
    """Matches the ``loan-decisions`` message of ``request_id``."""
    return lambda topic, e: topic == topics.LOAN_DECISIONS.name and e.get("request_id") == request_id


def plain(value: Any) -> Any:
    """A CSV value as JSON carries it: NaN becomes null, numpy scalars Python ones."""
    if isinstance(value, float) and np.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


@dataclass
class Flow:
    """The running services, the dataset and the champion they serve, and the clients of the test."""

    home: Path
    database_url: str
    mlflow: MlflowSettings
    sample_dir: Path
    dataset_id: str
    version: str
    events: Events
    producer: AIOKafkaProducer

    async def send(self, topic: str, message: BaseModel, key: bytes | None = None) -> None:
        """Publish a contract as JSON."""
        await self.producer.send_and_wait(topic, message.model_dump_json().encode(), key=key)

    async def apply(self, request_id: str, sk_id_curr: int) -> None:
        """Publish the real application of ``sk_id_curr`` (from the sample's CSV) on ``loan-applications``."""
        raw = self.applications()
        application = {c: plain(raw.at[sk_id_curr, c]) for c in APPLICATION.names if c != ID and c in raw.columns}
        body = {"request_id": request_id, "application": {ID: int(sk_id_curr), **application}}
        await self.producer.send_and_wait(
            topics.LOAN_APPLICATIONS.name, json.dumps(body).encode(), key=str(sk_id_curr).encode()
        )

    def applications(self) -> pd.DataFrame:
        """The sample's application rows, by ``SK_ID_CURR``."""
        return pd.read_csv(self.sample_dir / "application_train.csv").set_index(ID)


@asynccontextmanager
async def start_flow(home: Path, bootstrap: str, mlflow_server: str, sample_data: Path) -> AsyncIterator[Flow]:
    """Start ingestion, training and scoring; build a dataset, train a LightGBM and promote it to champion."""
    from ingestion_service.app import build as build_ingestion
    from ingestion_service.settings import Settings as IngestionSettings
    from scoring_service.app import build as build_scoring
    from scoring_service.settings import Settings as ScoringSettings
    from training_service.app import build as build_training
    from training_service.settings import Settings as TrainingSettings

    url = f"sqlite:///{home / 'app.db'}"
    db.migrate(url)
    group = uuid.uuid4().hex[:6]
    mlflow = MlflowSettings(tracking_uri=mlflow_server, model_name=f"credit-default-{group}")
    common: dict[str, Any] = {
        "platform": PlatformSettings(home=home / "home"),
        "kafka": KafkaSettings(bootstrap_servers=bootstrap, session_timeout_ms=6000, heartbeat_interval_ms=500),
        "mlflow": mlflow,
        "database": DatabaseSettings(url=url),
    }
    sample_dir = sample_data / "joinable_capstone"
    ingestion, _ = build_ingestion(IngestionSettings(**common, group_id=f"i-{group}", sample_dir=sample_dir))
    training, _ = build_training(TrainingSettings(**common, group_id=f"t-{group}"))
    scoring, _ = build_scoring(ScoringSettings(**common, group_id=f"s-{group}", reload_interval_s=2.0))

    events = Events(bootstrap)
    await events.consumer.start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    flow = Flow(home / "home", url, mlflow, sample_dir, "", "", events, producer)
    try:
        async with running(ingestion, training, scoring):
            build = BuildDataset(request_id=f"b-{group}", name="flow", source="sample", max_missing_rate=0.95)
            await flow.send(topics.DATASET_COMMANDS.name, envelope(build, type_="dataset.build", source="test"))
            built = await events.wait(event_of("dataset.built", build.request_id), 240)
            flow.dataset_id = built["payload"]["dataset_id"]

            train = TrainModel(
                request_id=f"t-{group}",
                dataset_id=flow.dataset_id,
                run_name="flow-lgbm",
                family="lightgbm",
                imbalance="class_weight",
                folds=3,
                params={"n_estimators": 60, "num_leaves": 15},
            )
            await flow.send(topics.TRAINING_COMMANDS.name, envelope(train, type_="model.train", source="test"))
            trained = await events.wait(event_of("model.trained", train.request_id), 400)
            flow.version = trained["payload"]["version"]

            promote = PromoteModel(request_id=f"p-{group}", version=flow.version, alias="champion", force=True)
            await flow.send(topics.TRAINING_COMMANDS.name, envelope(promote, type_="model.promote", source="test"))
            await events.wait(event_of("model.promoted", promote.request_id), 120)
            yield flow
    finally:
        await producer.stop()
        await events.consumer.stop()
