"""Alembic environment of the gateway's chain: its own tables, recorded in its own version table (see
:mod:`gateway_service.tables`)."""

from __future__ import annotations

from credit_shared.db.environment import run_environment
from gateway_service.tables import Base

run_environment(Base.metadata)
