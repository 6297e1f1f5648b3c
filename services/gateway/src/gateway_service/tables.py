"""The gateway's own tables (SQLAlchemy 2): API keys and jobs, which no other member reads or writes.

They are declared on the gateway's own metadata (with shared's constraint naming convention) and migrated by the
gateway's own Alembic chain in ``migrations``, recorded in its own version table so that it and shared's chain live
side by side in the one application database. Changes go through a revision of that chain.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, Float, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from credit_shared import db
from credit_shared.contracts.envelope import utc_now
from credit_shared.db.models import NAMING
from credit_shared.db.models import Base as SharedBase

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version_gateway"


class Base(DeclarativeBase):
    """Declarative base of the gateway's tables: its own metadata, shared's constraint naming convention (for
    migrations) and column types."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = SharedBase.type_annotation_map


class Job(Base):
    """An asynchronous request made through the gateway, followed through the services' events."""

    __tablename__ = "jobs"

    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)  # queued, running, succeeded, failed
    stage: Mapped[str | None] = mapped_column(String(128), nullable=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    request: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now, onupdate=utc_now)


class ApiKey(Base):
    """An API key of the gateway; only its SHA-256 hash is stored."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))  # viewer, analyst, admin
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def migrate(url: str) -> None:
    """Bring the application schema (shared's chain), then the gateway's own tables (its chain), to the latest
    revision; safe to call at every start-up. The chains are independent: neither refers to the other's tables."""
    db.migrate(url)
    db.migrate(url, script_location=MIGRATIONS, version_table=VERSION_TABLE)
