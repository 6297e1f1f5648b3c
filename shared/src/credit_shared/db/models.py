"""The application database schema (SQLAlchemy 2). Changes go through an Alembic migration in ``migrations``.

The tables here are those two or more members use; a table only one member uses lives in that member, on its own
metadata and migration chain (the gateway's ``api_keys`` and ``jobs``: ``gateway_service.tables``), with ``NAMING``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, Index, Integer, LargeBinary, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from credit_shared.contracts.envelope import utc_now

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a stable constraint naming convention (for migrations)."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class ProcessedCommand(Base):
    """A command a service has accepted, by request id: the same request id twice runs once."""

    __tablename__ = "processed_commands"

    service: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # running, succeeded, failed
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now, onupdate=utc_now)


class OnlineFeatureSet(Base):
    """The column order of the history features a dataset wrote to ``online_features``."""

    __tablename__ = "online_feature_sets"

    dataset_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    columns: Mapped[list[Any]] = mapped_column(JSON)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class OnlineFeatures(Base):
    """A client's history aggregates for one dataset, as little-endian float64 in the feature set's order."""

    __tablename__ = "online_features"

    dataset_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sk_id_curr: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    values: Mapped[bytes] = mapped_column(LargeBinary)


class DecisionRecord(Base):
    """The audit record of one decision, one row per request id (idempotent writes).

    Written by scoring. Other services read it only through :mod:`credit_shared.decisions_view`
    (``find_decisions`` for the decision, ``read_model_inputs`` for ``model_input``, the compact form described there).
    """

    __tablename__ = "decisions"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sk_id_curr: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    input_hash: Mapped[str] = mapped_column(String(64))
    model_input: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    probability: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    decision: Mapped[str] = mapped_column(String(16))
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)  # scorecard points derived from probability
    grade: Mapped[str | None] = mapped_column(String(8), nullable=True)  # risk grade: the band of probability
    reasons: Mapped[list[Any]] = mapped_column(JSON)
    model_name: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(32), index=True)
    model_alias: Mapped[str | None] = mapped_column(String(32), nullable=True)
    run_id: Mapped[str] = mapped_column(String(64))
    shadow: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float)
    source_partition: Mapped[int | None] = mapped_column(Integer, nullable=True)
    source_offset: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class DecisionLayout(Base):
    """What a served version's model input is made of, once per layout (see :mod:`credit_shared.decisions_view`)."""

    __tablename__ = "decision_layouts"

    layout_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(String(64))
    feature_names: Mapped[list[Any]] = mapped_column(JSON)
    categorical: Mapped[list[Any]] = mapped_column(JSON)
    history_columns: Mapped[list[Any]] = mapped_column(JSON)
    application_columns: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class DeadLetterRecord(Base):
    """A message of ``loan-applications`` that could not be decided, with its whole original when it fits here (the
    dead-letter topic carries a bounded prefix of an original too large). One row per source position."""

    __tablename__ = "dead_letters"

    topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    source_partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_offset: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reason: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(16))
    error: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    original: Mapped[bytes] = mapped_column(LargeBinary)
    original_size: Mapped[int] = mapped_column(BigInteger)
    original_sha256: Mapped[str] = mapped_column(String(64))
    original_whole: Mapped[bool] = mapped_column(Boolean)
    failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class DriftReport(Base):
    """The summary of one drift report (the HTML and JSON live in the artifact store)."""

    __tablename__ = "drift_reports"

    report_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # window, on_demand
    model_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    dataset_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    window_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    window_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    rows: Mapped[int] = mapped_column(Integer)
    columns: Mapped[int] = mapped_column(Integer)
    drifted: Mapped[int] = mapped_column(Integer)
    severity: Mapped[str] = mapped_column(String(16))  # green, orange, red
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now, index=True)


Index("ix_decisions_client_time", DecisionRecord.sk_id_curr, DecisionRecord.decided_at)


class LoanOutcomeRecord(Base):
    """The current outcome of a request id (the latest observed); owned by monitoring."""

    __tablename__ = "loan_outcomes"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sk_id_curr: Mapped[int] = mapped_column(BigInteger)
    defaulted: Mapped[bool] = mapped_column(Boolean)
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    joined: Mapped[bool] = mapped_column(Boolean, default=False, index=True)  # False: held until its decision lands


class LoanOutcomeHistory(Base):
    """Every outcome message received, by its position on ``loan-outcomes``; owned by monitoring."""

    __tablename__ = "loan_outcome_history"

    source_partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_offset: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    sk_id_curr: Mapped[int] = mapped_column(BigInteger)
    defaulted: Mapped[bool] = mapped_column(Boolean)
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PerformanceDecision(Base):
    """One decision as one version made (champion) or shadow-scored (challenger) it, with its outcome once joined;
    owned by monitoring."""

    __tablename__ = "performance_decisions"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))  # champion, challenger
    vintage: Mapped[str] = mapped_column(String(7))  # YYYY-MM of the decision
    grade: Mapped[str] = mapped_column(String(8))
    probability: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    approved: Mapped[bool] = mapped_column(Boolean)
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    defaulted: Mapped[bool | None] = mapped_column(Boolean, nullable=True, index=True)


class PerformanceCell(Base):
    """Sufficient statistics of the decisions of one version, vintage and grade (updated as decisions land);
    owned by monitoring."""

    __tablename__ = "performance_cells"

    model_version: Mapped[str] = mapped_column(String(32), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    vintage: Mapped[str] = mapped_column(String(7), primary_key=True)
    grade: Mapped[str] = mapped_column(String(8), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(128))
    decisions: Mapped[int] = mapped_column(BigInteger, default=0)
    approved: Mapped[int] = mapped_column(BigInteger, default=0)
    pd_sum: Mapped[float] = mapped_column(Float, default=0.0)
    expected_cost_sum: Mapped[float] = mapped_column(Float, default=0.0)
    threshold_sum: Mapped[float] = mapped_column(Float, default=0.0)


class PerformanceSnapshot(Base):
    """The latest realized-performance report (:class:`credit_shared.contracts.performance.PerformanceReport`),
    written by monitoring, read through :mod:`credit_shared.performance_view`."""

    __tablename__ = "performance_reports"

    report_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
