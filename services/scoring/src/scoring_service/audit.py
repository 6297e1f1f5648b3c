"""The audit store: one row per request id, written idempotently after the decision is published."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from credit_shared.contracts.loans import LoanDecision
from credit_shared.db import insert_ignore
from credit_shared.db.models import DecisionRecord


def input_hash(application: dict[str, Any]) -> str:
    """SHA-256 of the validated application, canonical JSON (keys sorted), to prove what was decided on."""
    return hashlib.sha256(json.dumps(application, sort_keys=True, default=str).encode()).hexdigest()


def audit_row(
    decision: LoanDecision,
    *,
    received_at: datetime,
    application: dict[str, Any],
    features: dict[str, Any] | None,
    shadow: dict[str, Any] | None,
    partition: int | None,
    offset: int | None,
) -> dict[str, Any]:
    """The audit row of one decision."""
    return {
        "request_id": decision.request_id,
        "sk_id_curr": decision.sk_id_curr,
        "received_at": received_at,
        "decided_at": decision.scored_at,
        "input_hash": input_hash(application),
        "features": features,
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


def record(engine: Engine, rows: Sequence[dict[str, Any]]) -> int:
    """Write audit rows; a request id already recorded keeps its first record. Returns rows inserted."""
    return insert_ignore(engine, DecisionRecord, rows, keys=["request_id"])
