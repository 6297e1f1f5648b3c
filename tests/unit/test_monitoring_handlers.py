"""The monitoring worker over the in-memory broker: decisions become window reports and alerts; commands reports."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from faststream.kafka import TestKafkaBroker
from sqlalchemy import func, select

from credit_shared import db, topics
from credit_shared.contracts import monitoring as contract
from credit_shared.contracts.envelope import Envelope, envelope
from credit_shared.contracts.loans import Decision, LoanDecision, ModelRef, encode
from credit_shared.db.models import DecisionRecord, DriftReport
from credit_shared.decisions_view import encode_features
from credit_shared.runtime import Worker
from credit_shared.settings import DatabaseSettings, PlatformSettings
from monitoring_service.app import build
from monitoring_service.reference import ModelInfo
from monitoring_service.settings import Settings
from monitoring_service.synthetic import shift, synthetic_frame, synthetic_kinds, write_dataset

pytestmark = pytest.mark.unit

KINDS = synthetic_kinds(numerical=20, categorical=4)
WINDOW = 1000  # smaller windows are noisy for distance methods (normed Wasserstein ~ 1/sqrt(n))


@dataclass
class FakeCatalog:
    def describe(self, name: str, version: str) -> ModelInfo:
        if version != "1":
            raise LookupError(f"model {name} v{version} is not registered")
        return ModelInfo(name, version, "ds-synthetic", "run-1", {"NUM_000": 10.0, "NUM_001": 5.0})

    def resolve_alias(self, name: str, alias: str) -> str:
        if alias != "champion":
            raise LookupError(f"model {name}@{alias} is not registered")
        return "1"


def make_worker(tmp_path: Path) -> tuple[Worker, Settings]:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    db.migrate(url)
    train = synthetic_frame(4000, KINDS, seed=1)
    write_dataset(tmp_path / "datasets", "ds-synthetic", train, KINDS, production=synthetic_frame(500, KINDS, seed=2))
    settings = Settings(
        platform=PlatformSettings(home=tmp_path),
        database=DatabaseSettings(url=url),
        window_size=WINDOW,
        html_every_windows=0,
        html_on_alert=False,  # rendering is tested with the service; importing Evidently costs seconds
        reference_max_rows=3000,
    )
    return build(settings, catalog=FakeCatalog())


def record_decisions(settings: Settings, frame: pd.DataFrame, prefix: str) -> list[LoanDecision]:
    """Audit rows with their features (as the scoring service writes them) and the matching decision messages."""
    start = datetime(2026, 11, 24, 10, tzinfo=UTC)
    decisions, rows = [], []
    for i, features in enumerate(frame.to_dict(orient="records")):
        clean = {k: None if isinstance(v, float) and np.isnan(v) else v for k, v in features.items()}
        probability = 0.05 + 0.001 * (i % 100)
        decision = LoanDecision(
            request_id=f"{prefix}-{i}",
            sk_id_curr=100_000 + i,
            probability=probability,
            threshold=0.2,
            decision=Decision.APPROVED,
            model=ModelRef(name="credit-default", version="1", alias="champion", run_id="run-1"),
            scored_at=start + timedelta(seconds=i),
            latency_ms=3.0,
        )
        decisions.append(decision)
        rows.append(
            {
                "request_id": decision.request_id,
                "sk_id_curr": decision.sk_id_curr,
                "received_at": decision.scored_at,
                "decided_at": decision.scored_at,
                "input_hash": "0" * 64,
                "model_input": encode_features(clean),
                "probability": probability,
                "threshold": 0.2,
                "decision": "approved",
                "reasons": [],
                "model_name": "credit-default",
                "model_version": "1",
                "model_alias": "champion",
                "run_id": "run-1",
                "latency_ms": 3.0,
            }
        )
    db.insert_ignore(db.make_engine(settings.database), DecisionRecord, rows, keys=["request_id"])
    return decisions


async def wait_for(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.05)


def of_type(events: list[Envelope[Any]], type_: str) -> list[dict[str, Any]]:
    return [e.payload for e in events if e.type == type_]


@pytest.mark.anyio
async def test_decisions_become_window_reports_and_a_shift_raises_an_alert(tmp_path: Path) -> None:
    worker, settings = make_worker(tmp_path)
    events: list[Envelope[Any]] = []

    @worker.broker.subscriber(topics.MONITORING_EVENTS.name)
    async def collect(event: Envelope[dict[str, Any]]) -> None:
        events.append(event)

    quiet = record_decisions(settings, synthetic_frame(WINDOW, KINDS, seed=10), "quiet")
    moved = shift(synthetic_frame(WINDOW, KINDS, seed=11), ["NUM_000", "NUM_005"], KINDS)
    shifted = record_decisions(settings, moved, "shifted")
    async with TestKafkaBroker(worker.broker) as broker:
        for hook in worker.after_startup:
            await hook()
        try:
            await broker.publish_batch(*[encode(d) for d in quiet], topic=topics.LOAN_DECISIONS.name)
            await broker.publish(b"not a decision", topic=topics.LOAN_DECISIONS.name)
            await wait_for(lambda: len(of_type(events, contract.REPORTED)) == 1)
            await broker.publish_batch(*[encode(d) for d in shifted], topic=topics.LOAN_DECISIONS.name)
            await wait_for(lambda: len(of_type(events, contract.ALERT)) == 1)
        finally:
            for hook in worker.on_shutdown:
                await hook()
    first, second = (contract.DriftReported.model_validate(p) for p in of_type(events, contract.REPORTED))
    assert (first.severity, first.rows, first.columns) == ("green", WINDOW, len(KINDS))
    assert (
        second.severity == "red"
    )  # the two moved inputs, far past their thresholds, carry over half of the importance
    assert second.important_drifted == ["NUM_000"]
    assert {"NUM_000", "NUM_005"} <= {c.column for c in second.top_drifted}
    alert = contract.DriftAlert.model_validate(of_type(events, contract.ALERT)[0])
    assert alert.report_id == second.report_id
    with db.make_sessionmaker(db.make_engine(settings.database))() as session:
        assert session.scalar(select(func.count()).select_from(DriftReport)) == 2
        stored = session.get(DriftReport, second.report_id)
    assert stored is not None
    assert (stored.kind, stored.severity, stored.model_version) == ("window", "red", "1")
    assert (settings.reports_dir / second.report_id / "summary.json").is_file()


@pytest.mark.anyio
async def test_a_report_command_gives_progress_and_report_ready_once_per_request_id(tmp_path: Path) -> None:
    worker, settings = make_worker(tmp_path)
    events: list[Envelope[Any]] = []

    @worker.broker.subscriber(topics.MONITORING_EVENTS.name)
    async def collect(event: Envelope[dict[str, Any]]) -> None:
        events.append(event)

    command = contract.RequestDriftReport(request_id="job-1", column="NUM_002")
    message = envelope(command, type_=contract.REPORT, source="test", correlation_id="job-1")
    async with TestKafkaBroker(worker.broker) as broker:
        await broker.publish(message, topic=topics.MONITORING_COMMANDS.name)
        await wait_for(lambda: len(of_type(events, contract.REPORT_READY)) == 1)
        await broker.publish(message, topic=topics.MONITORING_COMMANDS.name)
        await wait_for(lambda: len(of_type(events, contract.REPORT_READY)) == 2)
        for hook in worker.on_shutdown:
            await hook()
    assert of_type(events, contract.PROGRESS)
    assert all(e.correlation_id == "job-1" for e in events)
    first, again = (contract.DriftReportReady.model_validate(p) for p in of_type(events, contract.REPORT_READY))
    assert first.report.report_id == again.report.report_id
    assert (first.report.columns, first.report.kind, first.report.part) == (1, "on_demand", "production")
    assert (settings.reports_dir / first.report.report_id / "report.html").is_file()


@pytest.mark.anyio
async def test_a_report_command_on_an_unknown_column_fails_with_the_reason(tmp_path: Path) -> None:
    worker, _ = make_worker(tmp_path)
    events: list[Envelope[Any]] = []

    @worker.broker.subscriber(topics.MONITORING_EVENTS.name)
    async def collect(event: Envelope[dict[str, Any]]) -> None:
        events.append(event)

    command = contract.RequestDriftReport(request_id="job-2", column="NOPE")
    async with TestKafkaBroker(worker.broker) as broker:
        await broker.publish(
            envelope(command, type_=contract.REPORT, source="test", correlation_id="job-2"),
            topic=topics.MONITORING_COMMANDS.name,
        )
        await wait_for(lambda: len(of_type(events, contract.FAILED)) == 1)
        for hook in worker.on_shutdown:
            await hook()
    failed = of_type(events, contract.FAILED)[0]
    assert failed["reason"] == "invalid_command"
    assert "NOPE" in failed["detail"]
