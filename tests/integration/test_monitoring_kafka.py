"""The monitoring worker on a real Kafka-protocol broker (tansu): windows of decisions, alerts, on-demand reports."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from faststream.kafka import KafkaBroker

from credit_shared import db, topics
from credit_shared.contracts import monitoring as contract
from credit_shared.contracts.envelope import envelope
from credit_shared.contracts.loans import Decision, LoanDecision, ModelRef, encode
from credit_shared.db.models import DecisionRecord
from credit_shared.decisions_view import encode_features
from credit_shared.settings import DatabaseSettings, KafkaSettings, PlatformSettings
from monitoring_service.app import build
from monitoring_service.reference import ModelInfo
from monitoring_service.settings import Settings
from monitoring_service.synthetic import shift, synthetic_frame, synthetic_kinds, write_dataset

pytestmark = pytest.mark.integration

KINDS = synthetic_kinds(numerical=20, categorical=4)
WINDOW = 1000


class Catalog:
    def describe(self, name: str, version: str) -> ModelInfo:
        if version != "1":
            raise LookupError(f"model {name} v{version} is not registered")
        return ModelInfo(name, version, "ds-synthetic", "run-1", {"NUM_000": 10.0})

    def resolve_alias(self, name: str, alias: str) -> str:
        return "1"


def decisions_with_features(engine: Any, prefix: str, frame: Any) -> list[bytes]:
    start = datetime(2026, 11, 24, 10, tzinfo=UTC)
    messages, rows = [], []
    for i, record in enumerate(frame.to_dict(orient="records")):
        moment = start + timedelta(seconds=i)
        decision = LoanDecision(
            request_id=f"{prefix}-{i}", sk_id_curr=100_000 + i, probability=0.05, threshold=0.2,
            decision=Decision.APPROVED, model=ModelRef(name="credit-default", version="1", alias="champion",
            run_id="run-1"), scored_at=moment, latency_ms=3.0,
        )  # fmt: skip
        features = {k: None if isinstance(v, float) and np.isnan(v) else v for k, v in record.items()}
        rows.append({
            "request_id": decision.request_id, "sk_id_curr": decision.sk_id_curr, "received_at": moment,
            "decided_at": moment, "input_hash": "0" * 64, "model_input": encode_features(features), "probability": 0.05,
            "threshold": 0.2, "decision": "approved", "reasons": [], "model_name": "credit-default",
            "model_version": "1", "model_alias": "champion", "run_id": "run-1", "latency_ms": 3.0,
        })  # fmt: skip
        messages.append(encode(decision))
    db.insert_ignore(engine, DecisionRecord, rows, keys=["request_id"])
    return messages


async def publish_decisions(broker: KafkaBroker, messages: list[bytes]) -> None:
    for start in range(0, len(messages), 40):  # a producer batch holds about 40 such messages
        await broker.publish_batch(*messages[start : start + 40], topic=topics.LOAN_DECISIONS.name)


async def wait_for(condition: Callable[[], bool], seen: Callable[[], object], timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s; events: {seen()}")
        await asyncio.sleep(0.1)


@pytest.mark.anyio
async def test_served_windows_reports_alert_and_on_demand_report_over_a_real_broker(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    db.migrate(url)
    engine = db.make_engine(url)
    write_dataset(
        tmp_path / "datasets", "ds-synthetic", synthetic_frame(4000, KINDS, seed=1), KINDS,
        production=shift(synthetic_frame(1000, KINDS, seed=2), ["NUM_004"], KINDS),
    )  # fmt: skip
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, session_timeout_ms=6000, heartbeat_interval_ms=500)
    settings = Settings(
        platform=PlatformSettings(home=tmp_path),
        database=DatabaseSettings(url=url),
        kafka=kafka,
        group_id=f"monitoring-{uuid.uuid4().hex[:8]}",
        window_size=WINDOW,
        html_every_windows=0,
        html_on_alert=False,
        reference_max_rows=3000,
    )
    worker, _ = build(settings, catalog=Catalog())
    events: list[dict[str, Any]] = []
    listener = KafkaBroker(kafka_bootstrap)

    @listener.subscriber(
        topics.MONITORING_EVENTS.name, group_id=f"it-events-{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest",
        session_timeout_ms=6000, heartbeat_interval_ms=500,
    )  # fmt: skip
    async def collect(event: dict[str, Any]) -> None:
        events.append(event)

    def of_type(type_: str) -> list[dict[str, Any]]:
        return [e["payload"] for e in events if e["type"] == type_]

    def seen() -> list[str]:
        return [e["type"] for e in events]

    quiet = decisions_with_features(engine, "quiet", synthetic_frame(WINDOW, KINDS, seed=10))
    moved = decisions_with_features(
        engine, "moved", shift(synthetic_frame(WINDOW, KINDS, seed=11), ["NUM_000", "NUM_003"], KINDS)
    )
    await listener.start()
    await worker.broker.start()
    for hook in worker.after_startup:
        await hook()
    try:
        # decisions spread over partitions: the second window is published once the first is reported
        await publish_decisions(worker.broker, quiet)
        await wait_for(lambda: len(of_type(contract.REPORTED)) == 1, seen)
        await publish_decisions(worker.broker, moved)
        command = contract.RequestDriftReport(request_id=f"job-{uuid.uuid4().hex[:8]}", column="NUM_004")
        await worker.broker.publish(
            envelope(command, type_=contract.REPORT, source="it", correlation_id=command.request_id),
            topic=topics.MONITORING_COMMANDS.name,
        )
        await wait_for(lambda: len(of_type(contract.REPORTED)) == 2 and len(of_type(contract.REPORT_READY)) == 1, seen)
    finally:
        for hook in worker.on_shutdown:
            await hook()
        await worker.broker.stop()
        await listener.stop()
    assert [r["severity"] for r in of_type(contract.REPORTED)] == ["green", "red"]
    alerts = of_type(contract.ALERT)
    assert [a["important_drifted"] for a in alerts] == [["NUM_000"]]
    ready = contract.DriftReportReady.model_validate(of_type(contract.REPORT_READY)[0])
    assert (ready.report.columns, ready.report.drifted) == (1, 1)
    assert (settings.reports_dir / ready.report.report_id / "report.html").is_file()
