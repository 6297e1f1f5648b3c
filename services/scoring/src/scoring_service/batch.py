"""One batch of ``loan-applications``: what each message turns into, each on its own.

Every message becomes one of: a dead letter (it cannot be read, or a step failed on it alone); a decision (a new
request id); its stored decision again (the message is read again after a failure or a restart: the audit holds the
decision made for this very message); a reply only (a request id published again: the first decision stands, the
duplicate is counted, its stored decision goes to its reply address); or the answer to an internal reply-only
request (:mod:`scoring_service.requests`). Nothing is sent or written here: :mod:`scoring_service.commit` does that
for the whole batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from credit_shared.contracts.envelope import utc_now
from credit_shared.contracts.loans import LoanApplicationMessage, LoanDecision, encode, message_key
from credit_shared.features.serving import FeatureBuilder
from scoring_service.answers import Answer, Known, Outcome, record_decisions
from scoring_service.audit import AuditStore, Stored
from scoring_service.dead_letters import Rejected, parse_application
from scoring_service.faults import StepFailed, isolate
from scoring_service.requests import ReplyOnly
from scoring_service.scorer import Scored, score_batch
from scoring_service.served import ServedModel
from scoring_service.transport import Record

log = logging.getLogger(__name__)

Accepted = list[tuple[Answer, LoanApplicationMessage]]
Prior = Stored | LoanDecision  # a decision already made for a request id: recorded, or in the batch before


class SystematicFailure(Exception):
    """Every application of a batch failed the same step: the model or the code is at fault, not the messages (the
    batch is read again; nothing is dead-lettered)."""


@dataclass
class BatchDecider:
    """Turns a batch of records into an :class:`~scoring_service.answers.Outcome`."""

    store: AuditStore
    build_request_features: FeatureBuilder
    requests: ReplyOnly
    poison: dict[tuple[int, int], Known] = field(default_factory=dict)  # failures pinned by an earlier attempt

    async def decide(
        self,
        records: Sequence[Record],
        champion: ServedModel,
        challenger: ServedModel | None,
        in_flight: dict[str, LoanDecision],
    ) -> Outcome:
        """Decide a batch.

        Args:
            records: the batch, as read.
            champion: decides (and ``challenger`` is scored in shadow, for the audit).
            challenger: the challenger, or None.
            in_flight: the decisions of the batch before, not recorded yet.

        Raises:
            SystematicFailure: every application of the batch failed the same step.
            Exception: a failure that may pass (the batch is read again).
        """
        started, received_at = time.monotonic(), utc_now()
        outcome = Outcome(list(records))
        accepted = self._parse(outcome)
        stream = [(answer, a) for answer, a in accepted if not a.replies_only]
        prior, decided, repeated = await asyncio.to_thread(self._recognise_and_score, stream, in_flight, champion,
                                                           started)  # fmt: skip
        if decided:
            shadows = await self._shadow([a for _, a, _ in decided], challenger, started)
            with_shadows = [(*d, shadow) for d, shadow in zip(decided, shadows, strict=True)]
            record_decisions(outcome, champion, with_shadows, received_at=received_at)
            for _, application, scored in decided:
                prior.setdefault(application.request_id, scored.decision)
        for answer, application in repeated:
            kind = repeat(answer, application, prior.get(application.request_id))
            outcome.redelivered += kind == "redelivered"
            outcome.duplicates += kind == "duplicate"
        replies_only = [(answer, a) for answer, a in accepted if a.replies_only]
        await self.requests.answer(replies_only, outcome, started=started, received_at=received_at)
        return outcome

    def _parse(self, outcome: Outcome) -> Accepted:
        """Each record read on its own: dead-lettered with its reason, or accepted."""
        accepted: Accepted = []
        for record in outcome.records:
            answer = Answer(record)
            outcome.answers.append(answer)
            known = self.poison.pop(answer.position, None)
            if known is not None:
                answer.dead_letter(known.rejected, known.step, minimal=known.minimal)
                continue
            try:
                answer.application = parse_application(record.value or b"")
            except Rejected as rejected:
                answer.dead_letter(rejected, "validation")
                continue
            accepted.append((answer, answer.application))
        return accepted

    def _recognise_and_score(
        self, stream: Accepted, in_flight: dict[str, LoanDecision], champion: ServedModel, started: float
    ) -> tuple[dict[str, Prior], list[tuple[Answer, LoanApplicationMessage, Scored]], Accepted]:
        """The decisions already made for these request ids (the audit, the batch in flight), the new applications
        scored, and the repeated ones (blocking: one trip to a thread for both the lookup and the scoring)."""
        ids = [a.request_id for _, a in stream]
        prior: dict[str, Prior] = {**(self.store.stored(ids) if ids else {}), **in_flight}
        fresh, repeated = split_repeated(stream, prior)
        return prior, self._score(fresh, champion, started) if fresh else [], repeated

    def _score(
        self, fresh: Accepted, champion: ServedModel, started: float
    ) -> list[tuple[Answer, LoanApplicationMessage, Scored]]:
        """Score the new applications with the champion; one that fails a step on its own is dead-lettered."""
        applications = [a for _, a in fresh]

        def run(batch: Sequence[LoanApplicationMessage]) -> list[Scored]:
            return score_batch(batch, [started] * len(batch), champion, self.build_request_features)

        results, failures = isolate(applications, run)
        if failures and not results and len(applications) > 1:
            raise SystematicFailure(f"every application of the batch failed: {failures[0][1]}")
        for k, exc in failures:
            answer, application = fresh[k]
            log.warning("request %s dead-lettered: %s", application.request_id, exc)
            rejected = Rejected("processing_failed", str(exc), application.request_id, application.reply_to,
                                application.correlation_id)  # fmt: skip
            answer.dead_letter(rejected, exc.step if isinstance(exc, StepFailed) else "scoring")
        return [(fresh[k][0], fresh[k][1], scored) for k, scored in sorted(results, key=lambda kv: kv[0])]

    async def _shadow(
        self, applications: list[LoanApplicationMessage], challenger: ServedModel | None, started: float
    ) -> list[dict[str, Any] | None]:
        """The challenger's score of each application, for the audit only (its failure changes nothing)."""
        if challenger is None or not applications:
            return [None] * len(applications)
        try:
            shadowed = await asyncio.to_thread(
                score_batch, applications, [started] * len(applications), challenger, self.build_request_features
            )
        except Exception:
            log.warning("the challenger could not score this batch", exc_info=True)
            return [None] * len(applications)
        return [
            {"version": s.decision.model.version, "probability": s.decision.probability,
             "threshold": s.decision.threshold, "decision": s.decision.decision.value}
            for s in shadowed
        ]  # fmt: skip


def split_repeated(stream: Accepted, prior: dict[str, Prior]) -> tuple[Accepted, Accepted]:
    """The applications whose request id is new (its first occurrence in the batch), and the others."""
    fresh: Accepted = []
    repeated: Accepted = []
    seen: set[str] = set()
    for answer, application in stream:
        if application.request_id in prior or application.request_id in seen:
            repeated.append((answer, application))
        else:
            seen.add(application.request_id)
            fresh.append((answer, application))
    return fresh, repeated


def repeat(answer: Answer, application: LoanApplicationMessage, prior: Prior | None) -> str:
    """A request id already decided.

    Returns:
        ``redelivered``: the same message read again (after a failure or a restart): its stored decision is
        published again. ``duplicate``: the request id published again: no new decision, the first one goes to the
        reply address. ``lost``: its first occurrence in this batch was dead-lettered, so is this one.
    """
    if prior is None:
        rejected = Rejected("processing_failed", "the first message of this request id could not be decided",
                            application.request_id, application.reply_to, application.correlation_id)  # fmt: skip
        answer.dead_letter(rejected, "scoring")
        return "lost"
    if isinstance(prior, Stored) and prior.made_for(*answer.position):
        answer.publish(prior.decision, application)
        return "redelivered"
    decision = prior.decision if isinstance(prior, Stored) else prior
    if application.reply_to:
        replayed = decision.model_copy(update={"correlation_id": application.correlation_id})
        answer.send(application.reply_to, encode(replayed), message_key(application.sk_id_curr))
    return "duplicate"
