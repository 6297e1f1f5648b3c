"""Outcomes in, realized performance out: the ``loan-outcomes`` handler and the task that recomputes the report.

Decisions (from ``loan-decisions``, with the challenger's shadow score from the audit) and outcomes are recorded as
they come; the report is recomputed in a worker thread at most every ``interval_s`` when something changed, stored
for the gateway (:mod:`credit_shared.performance_view`) and its new alerts published on ``monitoring.events.v1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from faststream.kafka import KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from sqlalchemy import Engine

from credit_shared import topics
from credit_shared.contracts import performance as contract
from credit_shared.contracts.dead_letters import DeadLetter
from credit_shared.contracts.loans import LoanDecision
from credit_shared.contracts.outcomes import LoanOutcome
from credit_shared.dead_lettering import Unusable, dead_letter
from credit_shared.decisions_view import read_shadows
from credit_shared.kafka import Publish, documented_batch, raw_decoder
from credit_shared.performance_view import write_performance
from monitoring_service.outcomes import facts_of, parse_outcome
from monitoring_service.performance import VersionFacts, performance_report, realized_frame
from monitoring_service.performance_alerts import AlertRules
from monitoring_service.performance_store import (
    Received,
    join_held,
    latest_windows,
    load_cells,
    load_realized,
    outcome_counts,
    record_decisions,
    record_outcomes,
)
from monitoring_service.reference import ModelCatalog
from monitoring_service.settings import Settings

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    OutcomeBatch = list[bytes]
else:
    OutcomeBatch = documented_batch(LoanOutcome)

TestAuc = Callable[[str, str], float | None]


@dataclass
class PerformanceRunner:
    """Records decisions and outcomes, and recomputes the performance report when they changed."""

    engine: Engine
    publish: Publish
    test_auc: TestAuc
    rules: AlertRules = field(default_factory=AlertRules)
    interval_s: float = 2.0
    max_retry_s: float = 30.0
    _dirty: asyncio.Event = field(default_factory=asyncio.Event)
    _writing: asyncio.Lock = field(default_factory=asyncio.Lock)
    _alerted: set[tuple[str, str]] = field(default_factory=set)
    _task: asyncio.Task[None] | None = None

    async def add_decisions(self, decisions: Sequence[LoanDecision]) -> None:
        """Record the champion's and the shadow challenger's facts of these decisions."""
        if not decisions:
            return

        def record() -> None:
            shadows = read_shadows(self.engine, [d.request_id for d in decisions])
            record_decisions(self.engine, [f for d in decisions for f in facts_of(d, shadows.get(d.request_id))])

        await self._until_stored(record, f"{len(decisions)} decisions")
        self._dirty.set()

    async def add_outcomes(self, received: Sequence[Received]) -> None:
        """Record outcomes (joined now, or held until their decision lands)."""
        if received:
            await self._until_stored(lambda: record_outcomes(self.engine, received), f"{len(received)} outcomes")
            self._dirty.set()

    async def _until_stored(self, work: Callable[[], object], what: str) -> None:
        """Run ``work`` in a thread until it succeeds: a database that does not answer holds the batch (nothing is
        committed past it), it never drops it."""
        pause = 0.5
        while True:
            try:
                async with self._writing:  # outcomes and decisions one after the other (see join_held for replicas)
                    await asyncio.to_thread(work)
                return
            except Exception:
                log.exception("could not record %s; retrying in %.1f s", what, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, self.max_retry_s)

    def recompute(self, now: datetime | None = None) -> contract.PerformanceReport:
        """Join what is still held though its decision landed, compute the report from the stored sums and outcomes,
        and store it."""
        if joined := join_held(self.engine):
            log.info("joined %d held outcome(s) whose decision was recorded meanwhile", joined)
        cells = load_cells(self.engine)
        realized = realized_frame(load_realized(self.engine))
        received, held = outcome_counts(self.engine)
        versions = sorted({(c.model_name, c.version) for c in cells})
        windows = latest_windows(self.engine, [v for _, v in versions])
        facts = {
            v: VersionFacts(self.test_auc(name, v), windows.get(v, VersionFacts()).estimated_auc,
                            windows.get(v, VersionFacts()).psi)
            for name, v in versions
        }  # fmt: skip
        report = performance_report(cells, realized, facts, outcomes_received=received, outcomes_held=held,
                                    now=now or datetime.now(UTC), rules=self.rules)  # fmt: skip
        write_performance(self.engine, report)
        return report

    async def start(self) -> None:
        """Start recomputing in the background (once now: a restart shows the stored state)."""
        self._dirty.set()
        self._task = asyncio.create_task(self._forever())

    async def stop(self) -> None:
        """Stop recomputing."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _forever(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                report = await asyncio.to_thread(self.recompute)
                for alert in report.alerts:
                    if (alert.kind, alert.model_version) not in self._alerted:
                        self._alerted.add((alert.kind, alert.model_version))
                        await self.publish(alert, contract.ALERT, None)
            except Exception:
                log.exception("could not recompute the performance report; retrying")
                self._dirty.set()
            await asyncio.sleep(self.interval_s)


def catalog_test_auc(catalog: ModelCatalog) -> TestAuc:
    """The test AUC of a version from ``catalog`` (remembered once known; None while the catalog cannot say)."""
    known: dict[tuple[str, str], float | None] = {}

    def test_auc(name: str, version: str) -> float | None:
        if (name, version) not in known:
            try:
                known[(name, version)] = catalog.describe(name, version).test_auc
            except Exception:
                log.warning("no test AUC for %s v%s yet", name, version, exc_info=True)
                return None
        return known[(name, version)]

    return test_auc


def subscribe_outcomes(router: KafkaRouter, settings: Settings, runner: PerformanceRunner) -> None:
    """Subscribe the ``loan-outcomes`` handler: usable outcomes are recorded, the others dead-lettered."""
    dlq = router.publisher(
        topics.LOAN_OUTCOMES_DLQ.name,
        title=topics.LOAN_OUTCOMES_DLQ.name,
        description="Outcomes that cannot be used: the original (a bounded prefix, its size and SHA-256), the reason.",
        schema=DeadLetter,
    )

    @router.subscriber(
        topics.LOAN_OUTCOMES.name,
        **settings.batches(),
        decoder=raw_decoder,
        title=topics.LOAN_OUTCOMES.name,
        description="Outcomes of decided loans published by lenders, joined with the audited decisions.",
    )
    async def on_outcomes(body: OutcomeBatch, message: KafkaMessage) -> None:
        records: Sequence[Any] = message.raw_message if isinstance(message.raw_message, tuple) else ()
        received = []
        now = datetime.now(UTC)
        for k, raw in enumerate(body):
            record = records[k] if k < len(records) else None
            partition, offset = getattr(record, "partition", 0), getattr(record, "offset", k)
            try:
                received.append(Received(parse_outcome(raw), partition, offset, now))
            except Unusable as exc:
                letter = dead_letter(raw, exc, topic=topics.LOAN_OUTCOMES.name, partition=partition, offset=offset)
                log.warning("outcome at %s/%s dead-lettered: %s %s", partition, offset, exc.reason, exc.error[:200])
                await dlq.publish(letter.model_dump_json().encode(), key=getattr(record, "key", None))
        await runner.add_outcomes(received)
