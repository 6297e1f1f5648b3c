"""What a batch turns into: for each message read, what is sent and what is recorded, ready to be committed."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from credit_shared import topics
from credit_shared.contracts.loans import DeadLetter, DeadLetterStep, LoanApplicationMessage, LoanDecision, encode
from credit_shared.contracts.loans import message_key as key_of
from credit_shared.decisions_view import Layout, encode_input
from scoring_service import audit
from scoring_service.dead_letters import Rejected, dead_letter
from scoring_service.scorer import Scored
from scoring_service.served import ServedModel
from scoring_service.transport import Offsets, Record


@dataclass(frozen=True)
class Out:
    """One message to send."""

    topic: str
    value: bytes
    key: bytes | None = None


@dataclass(frozen=True)
class Known:
    """A failure an earlier attempt pinned on one message: the retry dead-letters it before anything else."""

    rejected: Rejected
    step: DeadLetterStep
    minimal: bool = False  # its dead letter failed to publish: send one without the original


@dataclass
class Answer:
    """Everything one message read turns into."""

    record: Record
    application: LoanApplicationMessage | None = None  # once read
    sends: list[Out] = field(default_factory=list)
    row: dict[str, Any] | None = None  # the audit row of a new decision
    decision: LoanDecision | None = None  # the new decision (counted once committed)
    letter: DeadLetter | None = None  # the dead letter, when it cannot be decided

    @property
    def position(self) -> tuple[int, int]:
        """``(partition, offset)`` of the message."""
        return self.record.partition, self.record.offset

    def send(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        """Add a message to send."""
        self.sends.append(Out(topic, value, key))

    def publish(self, decision: LoanDecision, application: LoanApplicationMessage, *, public: bool = True) -> None:
        """Send a decision on ``loan-decisions`` (when ``public``) and to the application's reply address."""
        if decision.correlation_id != application.correlation_id:
            decision = decision.model_copy(update={"correlation_id": application.correlation_id})
        payload, key = encode(decision), key_of(application.sk_id_curr)
        if public:
            self.send(topics.LOAN_DECISIONS.name, payload, key)
        if application.reply_to:
            self.send(application.reply_to, payload, key)

    def tell(self, reply_to: str | None, correlation_id: str | None, reason: str, error: str) -> None:
        """An error reply: a client waiting on the reply address learns why, instead of waiting for its timeout."""
        if reply_to and correlation_id:
            body = {"correlation_id": correlation_id, "error": error, "reason": reason}
            self.send(reply_to, json.dumps(body).encode())

    def dead_letter(self, rejected: Rejected, step: DeadLetterStep, *, minimal: bool = False) -> None:
        """Replace whatever this message was to become by its dead letter (and an error reply to a waiting client)."""
        raw = self.record.value or b""
        options = {"max_original": 0} if minimal else {}  # minimal: the topic gets the size and checksum only
        letter = dead_letter(raw, rejected, topic=self.record.topic, partition=self.record.partition,
                             offset=self.record.offset, step=step, **options)  # fmt: skip
        self.sends, self.row, self.decision, self.letter = [], None, None, letter
        self.send(topics.LOAN_APPLICATIONS_DLQ.name, encode(letter), self.record.key)
        self.tell(rejected.reply_to, rejected.correlation_id, rejected.reason, rejected.error)


@dataclass
class Outcome:
    """A batch, decided: the records read and what each turns into."""

    records: list[Record]
    answers: list[Answer] = field(default_factory=list)
    layouts: list[Layout] = field(default_factory=list)  # the input layouts the audit rows refer to
    duplicates: int = 0  # request ids published again (not decided again)
    redelivered: int = 0  # messages read again whose stored decision was published again

    @property
    def offsets(self) -> Offsets:
        """The next offset to read on each partition of the batch."""
        out: Offsets = {}
        for record in self.records:
            tp = (record.topic, record.partition)
            out[tp] = max(out.get(tp, 0), record.offset + 1)
        return out

    def decisions(self) -> dict[str, LoanDecision]:
        """The new decisions by request id (in flight until the batch is committed)."""
        return {a.decision.request_id: a.decision for a in self.answers if a.decision is not None}


def record_decision(
    answer: Answer,
    application: LoanApplicationMessage,
    decision: LoanDecision,
    *,
    received_at: datetime,
    shadow: dict[str, Any] | None,
    model_input: bytes | None,
    public: bool = True,
) -> None:
    """A new decision: its audit row, its publication (``public``: on loan-decisions) and its reply."""
    answer.row = audit.audit_row(
        decision,
        received_at=received_at,
        application=application.application,
        model_input=model_input,
        shadow=shadow,
        partition=answer.record.partition,
        offset=answer.record.offset,
    )
    answer.decision = decision
    answer.publish(decision, application, public=public)


def record_decisions(
    outcome: Outcome,
    model: ServedModel,
    decided: Iterable[tuple[Answer, LoanApplicationMessage, Scored, dict[str, Any] | None]],
    *,
    received_at: datetime,
    public: bool = True,
) -> None:
    """New decisions of one served version: its input layout once in the outcome, each decision with its input.

    Args:
        outcome: the batch's outcome, which stores the layout.
        model: the version that decided.
        decided: each answer, its application, what the version scored and the challenger's shadow (or None).
        received_at: when the batch was read.
        public: publish the decisions on loan-decisions (named-version replies are not).
    """
    layout = layout_of(model)
    outcome.layouts.append(layout)
    for answer, application, scored, shadow in decided:
        model_input = encode_input(layout, application.application, scored.input_digest)
        record_decision(
            answer,
            application,
            scored.decision,
            received_at=received_at,
            shadow=shadow,
            model_input=model_input,
            public=public,
        )


def layout_of(model: ServedModel) -> Layout:
    """The input layout of a served version (stored once, referenced by each of its decisions)."""
    return Layout(
        dataset_id=model.history.dataset_id,
        feature_names=tuple(model.model.feature_names),
        categorical=tuple(model.model.categorical),
        history_columns=tuple(model.history.columns),
    )
