"""The monitoring worker over the in-memory broker: outcomes are joined or dead-lettered, the report follows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from faststream.kafka import TestKafkaBroker
from test_monitoring_handlers import make_worker, wait_for
from test_performance import make_decision

from credit_shared import db, topics
from credit_shared.contracts.loans import encode
from credit_shared.performance_view import read_performance

pytestmark = pytest.mark.unit


@pytest.mark.anyio
async def test_outcomes_are_joined_and_bad_ones_dead_lettered(tmp_path: Path) -> None:
    worker, settings = make_worker(tmp_path)
    engine = db.make_engine(settings.database)
    letters: list[dict[str, Any]] = []

    @worker.broker.subscriber(topics.LOAN_OUTCOMES_DLQ.name)
    async def collect(letter: dict[str, Any]) -> None:
        letters.append(letter)

    decisions = [make_decision(i, 0.02 + 0.01 * i) for i in range(6)]
    outcomes = [
        json.dumps(
            {
                "request_id": d.request_id,
                "sk_id_curr": d.sk_id_curr,
                "outcome": "defaulted" if i % 2 else "repaid",
                "observed_at": "2027-05-31T00:00:00Z",
            }
        ).encode()
        for i, d in enumerate(decisions)
    ]
    bad = [b"not json", b'{"sk_id_curr": 1, "outcome": "repaid"}', outcomes[0].replace(b"repaid", b"late")]
    async with TestKafkaBroker(worker.broker) as broker:
        for hook in worker.after_startup:
            await hook()
        try:
            await broker.publish_batch(*outcomes[:3], *bad, topic=topics.LOAN_OUTCOMES.name)  # before their decisions
            await broker.publish_batch(*[encode(d) for d in decisions], topic=topics.LOAN_DECISIONS.name)
            await broker.publish_batch(*outcomes[3:], topic=topics.LOAN_OUTCOMES.name)
            await wait_for(
                lambda: (
                    (r := read_performance(engine)) is not None
                    and r.outcomes_received == 6
                    and r.outcomes_held == 0
                    and r.versions[0].outcomes == 6
                )
            )
        finally:
            for hook in worker.on_shutdown:
                await hook()
    assert sorted(letter["reason"] for letter in letters) == ["missing_request_id", "not_json", "unknown_outcome"]
    assert all(letter["topic"] == topics.LOAN_OUTCOMES.name and letter["original_sha256"] for letter in letters)
    report = read_performance(engine)
    assert report is not None
    assert report.versions[0].defaults == 3
