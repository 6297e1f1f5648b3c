"""The database side of outcomes and realized performance (monitoring's own tables, migration 0004).

An outcome replaces the current one of its request id when it was observed at the same time or later (every message
is kept in the history); it is joined at once to the decisions of that request id already recorded, else held
(``joined`` false) until the decision lands. A decision's facts are recorded once (by request id and version): the
first time they update the sums of their cell and pick up a held outcome.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from credit_shared.contracts.outcomes import LoanOutcome
from credit_shared.db import insert_ignore
from credit_shared.db.models import (
    DriftReport,
    LoanOutcomeHistory,
    LoanOutcomeRecord,
    PerformanceCell,
    PerformanceDecision,
)
from monitoring_service.outcomes import Fact
from monitoring_service.performance import REALIZED_COLUMNS, Cell, VersionFacts

CHUNK = 500  # request ids per IN (...) query


@dataclass(frozen=True)
class Received:
    """An outcome read from ``loan-outcomes``, with its position."""

    outcome: LoanOutcome
    partition: int
    offset: int
    received_at: datetime


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    unique = list(dict.fromkeys(ids))
    return [unique[k : k + CHUNK] for k in range(0, len(unique), CHUNK)]


def _history_row(r: Received) -> dict[str, Any]:
    o = r.outcome
    return {
        "source_partition": r.partition,
        "source_offset": r.offset,
        "request_id": o.request_id,
        "sk_id_curr": o.sk_id_curr,
        "defaulted": o.defaulted,
        "observed_at": o.observed_at.astimezone(UTC),
        "received_at": r.received_at,
    }


def _aware(moment: datetime) -> datetime:
    """A stored moment in UTC (SQLite gives back the UTC wall time, naive)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def record_outcomes(engine: Engine, received: Sequence[Received]) -> int:
    """Record a batch of outcomes (idempotent); returns how many were joined to a recorded decision now."""
    insert_ignore(
        engine, LoanOutcomeHistory, [_history_row(r) for r in received], keys=["source_partition", "source_offset"]
    )
    latest: dict[str, Received] = {}
    for r in sorted(received, key=lambda r: (r.outcome.observed_at, r.partition, r.offset)):
        latest[r.outcome.request_id] = r  # the last observed wins within the batch
    joined = 0
    with engine.begin() as conn:
        for ids in _chunks(list(latest)):
            current = dict(
                conn.execute(
                    select(LoanOutcomeRecord.request_id, LoanOutcomeRecord.observed_at).where(
                        LoanOutcomeRecord.request_id.in_(ids)
                    )
                ).all()
            )
            winners = [
                latest[i] for i in ids if i not in current or latest[i].outcome.observed_at >= _aware(current[i])
            ]
            decided = _decided(conn, [w.outcome.request_id for w in winners])
            for w in winners:
                row = {
                    "sk_id_curr": w.outcome.sk_id_curr,
                    "defaulted": w.outcome.defaulted,
                    "observed_at": w.outcome.observed_at.astimezone(UTC),
                    "received_at": w.received_at,
                    "joined": w.outcome.request_id in decided,
                }
                if w.outcome.request_id in current:
                    key = LoanOutcomeRecord.request_id == w.outcome.request_id
                    conn.execute(update(LoanOutcomeRecord).where(key).values(**row))
                else:
                    conn.execute(insert(LoanOutcomeRecord).values(request_id=w.outcome.request_id, **row))
                if w.outcome.request_id in decided:
                    joined += 1
                    key = PerformanceDecision.request_id == w.outcome.request_id
                    conn.execute(update(PerformanceDecision).where(key).values(defaulted=w.outcome.defaulted))
    return joined


def _decided(conn: Connection, request_ids: list[str]) -> set[str]:
    if not request_ids:
        return set()
    query = select(PerformanceDecision.request_id).where(PerformanceDecision.request_id.in_(request_ids))
    return {str(r) for r in conn.execute(query).scalars()}


def record_decisions(engine: Engine, facts: Sequence[Fact]) -> int:
    """Record the facts of a batch of decisions once each, join their held outcomes, add them to their cells;
    returns how many facts were new."""
    with engine.begin() as conn:
        seen: set[tuple[str, str]] = set()
        outcomes: dict[str, bool] = {}
        for ids in _chunks([f.request_id for f in facts]):
            query = select(PerformanceDecision.request_id, PerformanceDecision.model_version).where(
                PerformanceDecision.request_id.in_(ids)
            )
            seen.update((str(r), str(v)) for r, v in conn.execute(query))
            held = select(LoanOutcomeRecord.request_id, LoanOutcomeRecord.defaulted).where(
                LoanOutcomeRecord.request_id.in_(ids)
            )
            outcomes.update((str(r), bool(d)) for r, d in conn.execute(held))
        new: list[Fact] = []
        for f in facts:
            if (f.request_id, f.model_version) not in seen:
                seen.add((f.request_id, f.model_version))
                new.append(f)
        if not new:
            return 0
        conn.execute(insert(PerformanceDecision), [_fact_row(f, outcomes.get(f.request_id)) for f in new])
        joined = sorted({f.request_id for f in new if f.request_id in outcomes})
        for ids in _chunks(joined):
            conn.execute(update(LoanOutcomeRecord).where(LoanOutcomeRecord.request_id.in_(ids)).values(joined=True))
        _add_to_cells(conn, new)
    return len(new)


def _fact_row(f: Fact, defaulted: bool | None) -> dict[str, Any]:
    return {
        "request_id": f.request_id,
        "model_version": f.model_version,
        "model_name": f.model_name,
        "role": f.role,
        "vintage": f.vintage,
        "grade": f.grade,
        "probability": f.probability,
        "threshold": f.threshold,
        "approved": f.approved,
        "decided_at": f.decided_at,
        "defaulted": defaulted,
    }


def _add_to_cells(conn: Connection, facts: Sequence[Fact]) -> None:
    sums: dict[tuple[str, str, str, str], list[Any]] = defaultdict(lambda: [0, 0, 0.0, 0.0, 0.0, ""])
    for f in facts:
        s = sums[(f.model_version, f.role, f.vintage, f.grade)]
        s[0] += 1
        s[1] += int(f.approved)
        s[2] += f.probability
        s[3] += f.expected_cost
        s[4] += f.threshold
        s[5] = f.model_name
    c = PerformanceCell
    for (version, role, vintage, grade), (n, approved, pd_sum, cost_sum, threshold_sum, name) in sums.items():
        key = (c.model_version == version) & (c.role == role) & (c.vintage == vintage) & (c.grade == grade)
        added = conn.execute(
            update(c)
            .where(key)
            .values(
                decisions=c.decisions + n,
                approved=c.approved + approved,
                pd_sum=c.pd_sum + pd_sum,
                expected_cost_sum=c.expected_cost_sum + cost_sum,
                threshold_sum=c.threshold_sum + threshold_sum,
            )
        )
        if not added.rowcount:
            conn.execute(
                insert(c).values(
                    model_version=version,
                    role=role,
                    vintage=vintage,
                    grade=grade,
                    model_name=name,
                    decisions=n,
                    approved=approved,
                    pd_sum=pd_sum,
                    expected_cost_sum=cost_sum,
                    threshold_sum=threshold_sum,
                )
            )


def join_held(engine: Engine) -> int:
    """Join every held outcome whose decision is recorded by now; returns how many.

    Recording an outcome and recording its decision are separate transactions (two topics, possibly two replicas):
    when they run at the same time neither sees the other, and the outcome stays held though its decision is there.
    This sweep, run before every report, closes that gap.
    """
    o, d = LoanOutcomeRecord, PerformanceDecision
    query = select(o.request_id, o.defaulted).join(d, d.request_id == o.request_id).where(o.joined.is_(False))
    with engine.begin() as conn:
        found = {str(r): bool(v) for r, v in conn.execute(query)}
        for request_id, defaulted in found.items():
            conn.execute(update(d).where(d.request_id == request_id).values(defaulted=defaulted))
            conn.execute(update(o).where(o.request_id == request_id).values(joined=True))
    return len(found)


def load_cells(engine: Engine) -> list[Cell]:
    """Every cell's sums."""
    c = PerformanceCell
    columns = (
        c.model_version,
        c.role,
        c.vintage,
        c.grade,
        c.model_name,
        c.decisions,
        c.approved,
        c.pd_sum,
        c.expected_cost_sum,
        c.threshold_sum,
    )
    with engine.connect() as conn:
        return [Cell(*tuple(row)) for row in conn.execute(select(*columns))]


def load_realized(engine: Engine) -> list[tuple[Any, ...]]:
    """The decisions with an outcome, as rows of :data:`~monitoring_service.performance.REALIZED_COLUMNS`."""
    d = PerformanceDecision
    columns = {
        "request_id": d.request_id,
        "version": d.model_version,
        "role": d.role,
        "vintage": d.vintage,
        "grade": d.grade,
        "probability": d.probability,
        "approved": d.approved,
        "defaulted": d.defaulted,
    }
    query = select(*(columns[k] for k in REALIZED_COLUMNS)).where(d.defaulted.is_not(None))
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query)]


def outcome_counts(engine: Engine) -> tuple[int, int]:
    """Request ids with an outcome, and those held (their decision not recorded yet)."""
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(LoanOutcomeRecord)).scalar_one()
        held = conn.execute(select(func.count()).where(LoanOutcomeRecord.joined.is_(False))).scalar_one()
    return int(total), int(held)


def latest_windows(engine: Engine, versions: Sequence[str], limit: int = 200) -> dict[str, VersionFacts]:
    """The PSI of the PDs and the CBPE estimate of each version's latest window report."""
    query = (
        select(DriftReport.model_version, DriftReport.summary)
        .where(DriftReport.kind == "window", DriftReport.model_version.in_(list(versions)))
        .order_by(DriftReport.created_at.desc())
        .limit(limit)
    )
    found: dict[str, VersionFacts] = {}
    with engine.connect() as conn:
        for version, summary in conn.execute(query):
            prediction = (summary or {}).get("prediction") or {}
            if version not in found:
                found[str(version)] = VersionFacts(
                    psi=prediction.get("psi"), estimated_auc=prediction.get("estimated_auc")
                )
    return found
