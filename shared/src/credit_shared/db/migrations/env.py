"""Alembic environment of shared's chain: its migrations against the URL set by :func:`credit_shared.db.migrate`."""

from __future__ import annotations

from credit_shared.db.environment import run_environment
from credit_shared.db.models import Base

run_environment(Base.metadata)
