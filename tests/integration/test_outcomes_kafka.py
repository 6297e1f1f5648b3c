"""Outcomes on a real Kafka-protocol broker (tansu): outcomes published before their decisions are held, then
joined when the decisions land (champion and shadow challenger); an unusable one is dead-lettered, the rest flow."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from faststream.kafka import KafkaBroker

from credit_shared import db, topics
from credit_shared.contracts.loans import encode
from credit_shared.db.models import DecisionRecord
from credit_shared.performance_view import read_performance
from credit_shared.settings import DatabaseSettings, KafkaSettings, PlatformSettings
from monitoring_service.app import build
from monitoring_service.settings import Settings
from tests.integration.test_monitoring_kafka import Catalog, wait_for
from tests.unit.test_db import make_decision as audit_row
from tests.unit.test_performance import make_decision

pytestmark = pytest.mark.integration
COUNT = 40


@pytest.mark.anyio
async def test_outcomes_before_their_decisions_are_joined_when_the_decisions_land(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    db.migrate(url)
    engine = db.make_engine(url)
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, session_timeout_ms=6000, heartbeat_interval_ms=500)
    run = uuid.uuid4().hex[:8]
    settings = Settings(
        platform=PlatformSettings(home=tmp_path),
        database=DatabaseSettings(url=url),
        kafka=kafka,
        group_id=f"monitoring-{run}",
        performance_interval_s=0.2,
    )
    worker, _ = build(settings, catalog=Catalog())
    letters: list[dict[str, Any]] = []
    listener = KafkaBroker(kafka_bootstrap)

    @listener.subscriber(
        topics.LOAN_OUTCOMES_DLQ.name,
        group_id=f"it-dlq-{run}",
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    async def collect(letter: dict[str, Any]) -> None:
        letters.append(letter)

    decisions = [
        make_decision(i, 0.02 + 0.005 * i).model_copy(update={"request_id": f"{run}-{i}"}) for i in range(COUNT)
    ]
    shadow = {"version": "2", "probability": 0.05, "threshold": 0.1, "decision": "approved"}
    db.insert_ignore(
        engine, DecisionRecord, [audit_row(d.request_id, shadow=shadow) for d in decisions], keys=["request_id"]
    )
    outcomes = [
        json.dumps(
            {
                "request_id": d.request_id,
                "sk_id_curr": d.sk_id_curr,
                "observed_at": "2027-05-31T00:00:00Z",
                "outcome": "defaulted" if i % 4 == 0 else "repaid",
            }
        ).encode()
        for i, d in enumerate(decisions)
    ]

    def report() -> Any:
        return read_performance(engine)

    await listener.start()
    await worker.broker.start()
    for hook in worker.after_startup:
        await hook()
    try:
        await worker.broker.publish_batch(
            *outcomes[:20], b"\xff not utf-8", *outcomes[20:], topic=topics.LOAN_OUTCOMES.name
        )
        await wait_for(lambda: (r := report()) is not None and r.outcomes_held == COUNT, report)
        await worker.broker.publish_batch(*[encode(d) for d in decisions], topic=topics.LOAN_DECISIONS.name)
        await wait_for(
            lambda: (
                (r := report()) is not None
                and r.outcomes_held == 0
                and {v.alias: v.outcomes for v in r.versions} == {"champion": COUNT, "challenger": COUNT}
            ),
            report,
        )
        await wait_for(lambda: len(letters) == 1, lambda: letters)
    finally:
        for hook in worker.on_shutdown:
            await hook()
        await worker.broker.stop()
        await listener.stop()
    assert letters[0]["reason"] == "not_utf8"
    assert letters[0]["original_encoding"] == "base64"
    champion = next(v for v in report().versions if v.alias == "champion")
    assert champion.defaults == COUNT // 4
