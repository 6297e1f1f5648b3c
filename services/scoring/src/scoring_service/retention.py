"""Retention: old decisions archived to Parquet by period, old dead letters and dataset scorings deleted.

Decisions older than ``SCORING_AUDIT_RETENTION_DAYS`` leave the database for
``<home>/archive/decisions/<period>/<run>.parquet`` (a period is a month or a day): every column as stored, the
model input in its compact form (rebuilt with the layouts, which stay in the database, see
:mod:`credit_shared.decisions_view`). A file is written and synced before its rows are deleted; a run interrupted in
between archives those rows again next time (an archive may then hold a request id twice: the rows are the same).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, delete, select

from credit_shared import scorings
from credit_shared.contracts.envelope import utc_now
from credit_shared.db.models import DeadLetterRecord, DecisionRecord
from scoring_service.settings import Settings

log = logging.getLogger(__name__)
CHUNK = 5_000  # decisions archived per query


@dataclass(frozen=True)
class Retention:
    """What is kept how long, and where the archive goes."""

    engine: Engine
    archive_dir: Path
    scorings_dir: Path
    audit_days: float | None
    period: str  # "month" or "day"
    dead_letter_days: float | None
    scorings_days: float | None
    interval_s: float

    @classmethod
    def of(cls, settings: Settings, engine: Engine) -> Retention:
        """The retention the settings ask for."""
        home = settings.platform.home
        return cls(engine, home / "archive" / "decisions", scorings.scorings_dir(home), settings.audit_retention_days,
                   settings.archive_period, settings.dead_letter_retention_days, settings.scorings_retention_days,
                   settings.retention_interval_s)  # fmt: skip

    async def run_every(self) -> None:
        """Apply the retention now and then every ``interval_s`` (in a thread; a failure is logged and retried)."""
        while True:
            try:
                await asyncio.to_thread(self.apply)
            except Exception:
                log.exception("retention failed; it runs again in %.0f s", self.interval_s)
            await asyncio.sleep(self.interval_s)

    def apply(self, now: datetime | None = None) -> dict[str, int]:
        """Archive and delete what is past its retention; returns how many of each went."""
        now = now or utc_now()
        done = {"decisions_archived": 0, "dead_letters_deleted": 0, "scorings_deleted": 0}
        if self.audit_days is not None:
            done["decisions_archived"] = archive_decisions(
                self.engine, self.archive_dir, now - timedelta(days=self.audit_days), self.period
            )
        if self.dead_letter_days is not None:
            cutoff = now - timedelta(days=self.dead_letter_days)
            with self.engine.begin() as conn:
                result = conn.execute(delete(DeadLetterRecord).where(DeadLetterRecord.failed_at < cutoff))
            done["dead_letters_deleted"] = int(result.rowcount or 0)
        if self.scorings_days is not None:
            done["scorings_deleted"] = prune_scorings(self.scorings_dir, now - timedelta(days=self.scorings_days))
        if any(done.values()):
            log.info("retention: %s", done)
        return done


def archive_decisions(engine: Engine, folder: Path, before: datetime, period: str) -> int:
    """Move the decisions made before ``before`` into Parquet files by period; returns how many moved."""
    moved = 0
    run = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    columns = list(DecisionRecord.__table__.c)
    while True:
        query = select(*columns).where(DecisionRecord.decided_at < before).order_by(DecisionRecord.decided_at)
        with engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query.limit(CHUNK)).mappings()]
        if not rows:
            return moved
        by_period: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            stamp: datetime = row["decided_at"]
            by_period[stamp.strftime("%Y-%m" if period == "month" else "%Y-%m-%d")].append(row)
        for name, group in by_period.items():
            _write(folder / name / f"{run}-{moved}.parquet", group)
        ids = [r["request_id"] for r in rows]
        with engine.begin() as conn:
            conn.execute(delete(DecisionRecord).where(DecisionRecord.request_id.in_(ids)))
        moved += len(rows)


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    """One archive file, synced to disk before the rows leave the database."""
    path.parent.mkdir(parents=True, exist_ok=True)
    records = [{k: json.dumps(v) if k in ("reasons", "shadow") else v for k, v in row.items()} for row in rows]
    tmp = path.with_suffix(".tmp")
    pq.write_table(pa.Table.from_pylist(records), tmp, compression="zstd")
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    tmp.rename(path)


def prune_scorings(root: Path, before: datetime) -> int:
    """Delete the dataset scorings stored before ``before``; returns how many."""
    if not root.is_dir():
        return 0
    deleted = 0
    for folder in root.iterdir():
        summary = folder / scorings.SUMMARY
        if folder.name.startswith(".") or not summary.is_file():
            continue
        if summary.stat().st_mtime < before.timestamp():
            shutil.rmtree(folder, ignore_errors=True)
            deleted += 1
    return deleted
