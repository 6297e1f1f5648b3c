"""Committing a decided batch: record it in the audit, send everything, then commit the batch's offsets.

The audit rows (and the dead letters, with their whole originals) are written first: a request id found in the audit
has been decided, so a message read again after a failure or a crash republishes its stored decision instead of
deciding anew. Then every decision, dead letter and reply of the batch is handed to the producer at once (waiting
for one acknowledgement at a time would cap the stream near the broker's latency), and the batch is committed:

- exactly once (a transactional transport): the sends and the consumed offsets in one Kafka transaction; a failure
  aborts it and the batch is read again, so a ``read_committed`` reader sees each batch's output once;
- at least once: the offsets are committed once every send is acknowledged; after a crash between the two the
  batch's stored decisions are published again (the same decisions, not new ones).

A row the audit store refuses (never expected: values are validated against what it holds) dead-letters its message
alone, at the ``audit`` step. A send the producer refuses pins the failure on its message: the batch is read again
and that message dead-lettered at the ``publishing`` step (a dead letter that cannot be sent is sent without its
original, which the audit store keeps).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from credit_shared.contracts.loans import DeadLetterStep
from scoring_service.answers import Answer, Known, Outcome
from scoring_service.audit import AuditStore, dead_letter_row
from scoring_service.dead_letters import Rejected
from scoring_service.faults import is_transient, isolate
from scoring_service.metrics import ScoringMetrics
from scoring_service.transport import Transport

log = logging.getLogger(__name__)


class Committer:
    """Records, sends and commits decided batches, one after the other."""

    def __init__(
        self,
        transport: Transport,
        store: AuditStore,
        metrics: ScoringMetrics,
        poison: dict[tuple[int, int], Known],
        *,
        dead_letter_max_bytes: int,
    ) -> None:
        self.transport = transport
        self.store = store
        self.metrics = metrics
        self.poison = poison  # shared with the decider: what a failed attempt pinned on one message
        self.dead_letter_max_bytes = dead_letter_max_bytes

    async def finish(self, outcome: Outcome) -> None:
        """Record the batch, send its output, commit it; then count it.

        Raises:
            Exception: when any part fails (nothing is committed; the batch is to be read again).
        """
        await asyncio.to_thread(self.record, outcome)
        await self.send_and_commit(outcome)
        self.count(outcome)

    def record(self, outcome: Outcome) -> None:
        """Write the layouts, the decisions and the dead letters of a batch (blocking)."""
        for layout in {layout.layout_id: layout for layout in outcome.layouts}.values():
            self.store.save_layout(layout)
        deciding = [a for a in outcome.answers if a.row is not None]
        _, refused = isolate(deciding, lambda part: _each(part, self.store.record([_row(a) for a in part])))
        for k, exc in refused:
            answer = deciding[k]
            log.error("the audit store refused the decision of %s: %s", answer.position, exc)
            answer.dead_letter(_rejected(answer, f"the audit store refused the decision: {exc}"), "audit")
        letters = [a for a in outcome.answers if a.letter is not None]
        rows = [dead_letter_row(a.letter, a.record.value or b"", max_bytes=self.dead_letter_max_bytes)
                for a in letters if a.letter is not None]  # fmt: skip
        _, failed = isolate(rows, lambda part: _each(part, self.store.record_dead_letters(part)))
        for k, exc in failed:  # the dead-letter topic still gets it; the store's copy is what is lost
            log.error("dead letter of %s not stored: %s", letters[k].position, exc)

    async def send_and_commit(self, outcome: Outcome) -> None:
        """Hand every message of the batch to the producer, wait for the acknowledgements, commit."""
        await self.transport.begin()
        try:
            pending: list[tuple[Answer, asyncio.Future[Any]]] = []
            for answer in outcome.answers:
                for out in answer.sends:
                    try:
                        pending.append((answer, await self.transport.send(out.topic, out.value, out.key)))
                    except Exception as exc:
                        self._pin(answer, exc, "publishing")
                        raise
            results = await asyncio.gather(*(future for _, future in pending), return_exceptions=True)
            for (answer, _), result in zip(pending, results, strict=True):
                if isinstance(result, BaseException):
                    self._pin(answer, result, "publishing")
                    raise result
            await self.transport.commit(outcome.offsets)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.transport.abort()
            raise

    def _pin(self, answer: Answer, exc: BaseException, step: DeadLetterStep) -> None:
        """Remember a deterministic failure of one message, so the next attempt dead-letters it first."""
        if is_transient(exc):
            return
        log.error("sending the output of %s failed: %s", answer.position, exc)
        error = f"{step} failed: {type(exc).__name__}: {exc}"
        self.poison[answer.position] = Known(_rejected(answer, error), step, minimal=answer.letter is not None)

    def count(self, outcome: Outcome) -> None:
        """The metrics of a committed batch (a batch read again is counted once, when it is committed)."""
        for answer in outcome.answers:
            if answer.decision is not None:
                self.metrics.decisions.labels(answer.decision.decision.value).inc()
                self.metrics.latency.observe(answer.decision.latency_ms / 1000)
            if answer.letter is not None:
                self.metrics.dead_letters.labels(answer.letter.reason).inc()
                if answer.letter.step not in (None, "validation"):
                    self.metrics.step_failures.labels(answer.letter.step).inc()
        self.metrics.duplicates.inc(outcome.duplicates)
        self.metrics.redelivered.inc(outcome.redelivered)


def _row(answer: Answer) -> dict[str, Any]:
    assert answer.row is not None
    return answer.row


def _each(part: Sequence[Any], _result: object) -> list[None]:
    """One (empty) result per item of a part written as a whole."""
    return [None] * len(part)


def _rejected(answer: Answer, error: str) -> Rejected:
    """A failure of a later step on this message, with what the dead letter and the error reply need."""
    application = answer.application
    if application is None:
        return Rejected("processing_failed", error)
    return Rejected("processing_failed", error, application.request_id, application.reply_to,
                    application.correlation_id)  # fmt: skip
