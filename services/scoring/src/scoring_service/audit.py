"""The audit store: one row per request id (the first decision stands), and every dead letter with its original.

A decision's row keeps the scalar decision, its reasons and its model input in compact form (the validated
application and the layout of the version's input, see :mod:`credit_shared.decisions_view`): about 1 KB a decision,
from which the model input is rebuilt exactly. The row is written before the decision is committed on the broker,
so a request id found here has been decided: a message read again after a crash republishes the stored decision
(the same message, recognised by its source position), a request id published again is not decided again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from credit_shared.contracts.loans import DeadLetter, LoanDecision
from credit_shared.db import insert_ignore
from credit_shared.db.models import DeadLetterRecord, DecisionRecord
from credit_shared.decisions_view import Layout, published_decision, save_layout

CHUNK = 500  # request ids per IN (...) query


def input_hash(application: dict[str, Any]) -> str:
    """SHA-256 of the validated application, canonical JSON (keys sorted), to prove what was decided on."""
    return hashlib.sha256(json.dumps(application, sort_keys=True, default=str).encode()).hexdigest()


def audit_row(
    decision: LoanDecision,
    *,
    received_at: datetime,
    application: dict[str, Any],
    model_input: bytes | None,
    shadow: dict[str, Any] | None,
    partition: int | None,
    offset: int | None,
) -> dict[str, Any]:
    """The audit row of one decision (``model_input``: :func:`credit_shared.decisions_view.encode_input`)."""
    return {
        "request_id": decision.request_id,
        "sk_id_curr": decision.sk_id_curr,
        "received_at": received_at,
        "decided_at": decision.scored_at,
        "input_hash": input_hash(application),
        "model_input": model_input,
        "probability": decision.probability,
        "threshold": decision.threshold,
        "decision": decision.decision.value,
        "score": decision.score,
        "grade": decision.grade,
        "reasons": [r.model_dump() for r in decision.reasons],
        "model_name": decision.model.name,
        "model_version": decision.model.version,
        "model_alias": decision.model.alias,
        "run_id": decision.model.run_id,
        "shadow": shadow,
        "latency_ms": decision.latency_ms,
        "source_partition": partition,
        "source_offset": offset,
    }


@dataclass(frozen=True)
class Stored:
    """A decision found in the audit, and the position of the message it was made for."""

    decision: LoanDecision
    partition: int | None
    offset: int | None

    def made_for(self, partition: int, offset: int) -> bool:
        """True when this decision was made for the message at this position (a message read again)."""
        return (self.partition, self.offset) == (partition, offset)


def dead_letter_row(letter: DeadLetter, original: bytes, *, max_bytes: int) -> dict[str, Any]:
    """The stored form of a dead letter: its original whole when at most ``max_bytes``, else its first
    ``max_bytes`` (the size and the SHA-256 always describe the whole)."""
    return {
        "topic": letter.topic,
        "source_partition": letter.partition if letter.partition is not None else -1,
        "source_offset": letter.offset if letter.offset is not None else -1,
        "reason": letter.reason,
        "step": letter.step or "validation",
        "error": letter.error,
        "request_id": letter.request_id,
        "original": original[:max_bytes],
        "original_size": len(original),
        "original_sha256": hashlib.sha256(original).hexdigest(),
        "original_whole": len(original) <= max_bytes,
        "failed_at": letter.failed_at,
    }


class AuditStore:
    """The audit tables of the scoring service (blocking calls: the stream runs them in a thread)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._layouts: set[str] = set()  # layouts written by this process

    def save_layout(self, layout: Layout) -> None:
        """Record a served version's input layout once (before the first decision referring to it)."""
        if layout.layout_id not in self._layouts:
            save_layout(self.engine, layout)
            self._layouts.add(layout.layout_id)

    def record(self, rows: Sequence[dict[str, Any]]) -> int:
        """Write decision rows; a request id already recorded keeps its first record. Returns rows inserted."""
        return insert_ignore(self.engine, DecisionRecord, rows, keys=["request_id"])

    def record_dead_letters(self, rows: Sequence[dict[str, Any]]) -> int:
        """Write dead letters; a position already recorded keeps its first record. Returns rows inserted."""
        return insert_ignore(self.engine, DeadLetterRecord, rows, keys=["topic", "source_partition", "source_offset"])

    def stored(self, request_ids: Iterable[str]) -> dict[str, Stored]:
        """The decisions already recorded for these request ids."""
        ids = list(dict.fromkeys(request_ids))
        found: dict[str, Stored] = {}
        columns = [c for c in DecisionRecord.__table__.c if c.name not in ("model_input", "shadow", "input_hash")]
        with self.engine.connect() as conn:
            for start in range(0, len(ids), CHUNK):
                query = select(*columns).where(DecisionRecord.request_id.in_(ids[start : start + CHUNK]))
                for row in conn.execute(query):
                    found[row.request_id] = Stored(published_decision(row), row.source_partition, row.source_offset)
        return found


def record(engine: Engine, rows: Sequence[dict[str, Any]]) -> int:
    """Write audit rows with ``engine`` (see :meth:`AuditStore.record`)."""
    return AuditStore(engine).record(rows)
