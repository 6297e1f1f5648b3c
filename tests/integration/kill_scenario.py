"""The SIGKILL scenario of the stream issue, for any broker: a 5,000-application stream, scoring SIGKILLed at three
random moments, 200 request ids republished; then what a ``read_committed`` consumer finds and what the audit holds.

Used by the tansu test (at least once: the broker has no transactions) and the Apache Kafka test (exactly once).
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import select

from credit_shared import db, topics
from credit_shared.contracts.loans import LoanApplicationMessage, LoanDecision, message_key
from credit_shared.db.models import DecisionRecord
from tests.integration.live_scoring import Place, publish, scoring, start_group_at_end

COUNT = 5_000
KILLS = 3
REPUBLISHED = 200
WAIT_S = 600.0


@dataclass
class KillRun:
    """What the scenario left: every decision record of its request ids (read committed) and the audit."""

    ids: list[str]
    republished: list[str]
    decisions: list[LoanDecision] = field(default_factory=list)
    audit: Counter[str] = field(default_factory=Counter)
    seen_at_kills: list[int] = field(default_factory=list)
    metrics: dict[Any, float] = field(default_factory=dict)

    def copies(self) -> Counter[str]:
        """Decision records per request id."""
        return Counter(d.request_id for d in self.decisions)

    def distinct(self) -> dict[str, set[str]]:
        """The distinct decisions (as JSON) per request id: one each when every copy is the same decision."""
        out: dict[str, set[str]] = {}
        for decision in self.decisions:
            out.setdefault(decision.request_id, set()).add(decision.model_dump_json())
        return out


class Committed:
    """Every record of ``loan-decisions`` from the offsets it had when opened, read committed."""

    def __init__(self, consumer: AIOKafkaConsumer, prefix: str) -> None:
        self.consumer, self.prefix = consumer, prefix
        self.decisions: list[LoanDecision] = []

    @classmethod
    async def open(cls, bootstrap: str, prefix: str) -> Committed:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed"
        )
        await consumer.start()
        numbers = sorted(consumer.partitions_for_topic(topics.LOAN_DECISIONS.name) or [])
        assigned = [TopicPartition(topics.LOAN_DECISIONS.name, p) for p in numbers]
        consumer.assign(assigned)
        for tp, offset in (await consumer.end_offsets(assigned)).items():
            consumer.seek(tp, offset)
        return cls(consumer, prefix)

    async def read(self, timeout_ms: int = 300) -> None:
        batches = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=5_000)
        for records in batches.values():
            for record in records:
                decision = LoanDecision.model_validate_json(record.value)
                if decision.request_id.startswith(f"{self.prefix}-"):
                    self.decisions.append(decision)

    def decided(self) -> set[str]:
        return {d.request_id for d in self.decisions}

    async def until(self, count: int, what: Any) -> None:
        deadline = time.monotonic() + WAIT_S
        while len(self.decided()) < count:
            assert time.monotonic() < deadline, f"{len(self.decided())} of {count} decided: {what()}"
            await self.read()

    async def drain(self, quiet_s: float = 5.0) -> None:
        quiet_until = time.monotonic() + quiet_s
        while time.monotonic() < quiet_until:
            before = len(self.decisions)
            await self.read()
            if len(self.decisions) > before:
                quiet_until = time.monotonic() + quiet_s


def messages(applications: list[LoanApplicationMessage], prefix: str) -> tuple[list[str], list[tuple[bytes, bytes]]]:
    ids = [f"{prefix}-{k}" for k in range(COUNT)]
    out = []
    for k, request_id in enumerate(ids):
        application = applications[k % len(applications)]
        body = {"request_id": request_id, "application": application.application}
        out.append((message_key(application.sk_id_curr), json.dumps(body).encode()))
    return ids, out


async def sigkill_stream(
    place: Place, applications: list[LoanApplicationMessage], prefix: str, *, seed: int, **env: str
) -> KillRun:
    """Publish the stream, SIGKILL scoring at three random moments (each process killed once it has added a random
    200 to 1,000 decisions: while it decides), republish 200 request ids (some with a reply address) after the first
    kill, let a last process finish; return what came out."""
    rng = random.Random(seed)
    group = f"scoring-{prefix}"
    await start_group_at_end(place.bootstrap, group)
    ids, stream = messages(applications, prefix)
    republished = sorted(rng.sample(ids, REPUBLISHED))
    run = KillRun(ids, republished)
    increments = [rng.randrange(200, 1_000) for _ in range(KILLS)]  # decisions each process adds before its kill
    reader = await Committed.open(place.bootstrap, prefix)
    try:
        await publish(place.bootstrap, stream)
        for k, increment in enumerate(increments):
            with scoring(place, group, f"scoring-{prefix}-{k}", **env) as process:
                await reader.read()
                await reader.until(len(reader.decided()) + increment, process.log_tail)  # mid-stream, deciding
                process.kill()
                run.seen_at_kills.append(len(reader.decided()))
            if k == 0:  # republished while no scoring runs: read by the next process, among the rest
                await publish(place.bootstrap, [again(applications, request_id, rng) for request_id in republished])
        with scoring(place, group, f"scoring-{prefix}-last", **env) as last:
            await reader.until(COUNT, last.log_tail)
            await reader.drain()
            run.metrics = last.metrics()
    finally:
        await reader.consumer.stop()
    run.decisions = reader.decisions
    run.audit = audit_counts(place, prefix)
    return run


def again(applications: list[LoanApplicationMessage], request_id: str, rng: random.Random) -> tuple[bytes, bytes]:
    """A request id published a second time, as a client retrying does (the same application, so the same key and
    partition: after the first; half of them with a reply address, which gets the first decision)."""
    k = int(request_id.rsplit("-", 1)[1])
    application = applications[k % len(applications)]
    body: dict[str, Any] = {"request_id": request_id, "application": application.application}
    if rng.random() < 0.5:
        body |= {"reply_to": topics.SCORING_REPLIES.name, "correlation_id": f"again-{request_id}"}
    return message_key(application.sk_id_curr), json.dumps(body).encode()


def audit_counts(place: Place, prefix: str) -> Counter[str]:
    engine = db.make_engine(place.database_url)
    try:
        with engine.connect() as conn:
            query = select(DecisionRecord.request_id).where(DecisionRecord.request_id.like(f"{prefix}-%"))
            return Counter(conn.execute(query).scalars())
    finally:
        engine.dispose()
