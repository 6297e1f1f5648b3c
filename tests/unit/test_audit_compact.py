"""The compact audit: migration 0003 moves the existing rows, the decisions view rebuilds a model input exactly or
not at all, and the retention archives old decisions to Parquet by period."""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from test_scoring_stream import FakeModel, make_message, make_scoring

from credit_shared import db
from credit_shared.db.models import DeadLetterRecord, DecisionRecord
from credit_shared.decisions_view import read_model_inputs
from credit_shared.online_features import write_online_features
from scoring_service.retention import Retention

pytestmark = pytest.mark.unit


def legacy_row(request_id: str, features: dict[str, object] | None) -> dict[str, object]:
    now = datetime(2026, 11, 1, 9, tzinfo=UTC)
    return {
        "request_id": request_id, "sk_id_curr": 100001, "received_at": now, "decided_at": now, "input_hash": "0" * 64,
        "features": features, "probability": 0.2, "threshold": 0.1, "decision": "refused", "reasons": [],
        "model_name": "credit-default", "model_version": "1", "model_alias": "champion", "run_id": "r",
        "shadow": None, "latency_ms": 1.0, "source_partition": 0, "source_offset": 7,
    }  # fmt: skip


def test_migration_0003_moves_the_feature_json_of_existing_rows_into_the_compact_model_input(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db.migrate(url, "0002")
    engine = db.make_engine(url)
    table = sa.Table("decisions", sa.MetaData(), autoload_with=engine)
    features = {"EXT_SOURCE_3": 0.12, "NAME_CONTRACT_TYPE": "Cash loans", "AMT_CREDIT": None}
    with engine.begin() as conn:
        conn.execute(table.insert(), [legacy_row("old-1", features), legacy_row("old-2", None)])
    db.migrate(url)
    columns = {c["name"] for c in sa.inspect(engine).get_columns("decisions")}
    assert "features" not in columns
    assert "model_input" in columns
    assert read_model_inputs(engine, ["old-1", "old-2"]) == {"old-1": features}
    widest = {**legacy_row("wide", None), "sk_id_curr": 2**63 - 1, "source_offset": 2**62}
    widest.pop("features")
    db.insert_ignore(engine, DecisionRecord, [widest], keys=["request_id"])  # 64-bit ids and offsets fit
    indexes = {i["name"] for i in sa.inspect(engine).get_indexes("decisions")}
    assert "ix_decisions_sk_id_curr" not in indexes
    assert "ix_decisions_client_time" in indexes


@pytest.mark.anyio
async def test_a_model_input_whose_history_snapshot_changed_is_not_returned_approximately(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scoring = make_scoring(tmp_path, FakeModel())
    await scoring.holder.reload()
    await scoring.publish_batch(make_message("kept", SK_ID_CURR=100001), make_message("moved", SK_ID_CURR=100002))
    assert set(read_model_inputs(scoring.engine, ["kept", "moved"])) == {"kept", "moved"}
    changed = pd.DataFrame({"SK_ID_CURR": [100001, 100002], "BURO_DAYS_CREDIT_MAX": [-100.0, -5.0]})
    write_online_features(scoring.engine, "ds-fake", changed, ["BURO_DAYS_CREDIT_MAX"])  # 100002 gains a history
    with caplog.at_level(logging.WARNING):
        rebuilt = read_model_inputs(scoring.engine, ["kept", "moved"])
    assert set(rebuilt) == {"kept"}
    assert "cannot be rebuilt exactly" in caplog.text


@pytest.mark.anyio
async def test_an_audit_row_holds_a_compact_model_input(tmp_path: Path) -> None:
    scoring = make_scoring(tmp_path, FakeModel())
    await scoring.holder.reload()
    await scoring.publish_batch(make_message("small"))
    with scoring.engine.connect() as conn:
        blob = conn.execute(sa.select(DecisionRecord.model_input)).scalar_one()
    assert blob[0] == 1
    assert len(blob) < 400


@pytest.mark.anyio
async def test_retention_archives_old_decisions_by_month_and_removes_them_and_old_scorings(tmp_path: Path) -> None:
    scoring = make_scoring(tmp_path, FakeModel())
    await scoring.holder.reload()
    await scoring.publish_batch(make_message("recent"), b"not json")
    old = [{**legacy_row(f"old-{k}", None), "decided_at": datetime(2025, 1 + k % 2, 3, tzinfo=UTC)} for k in range(4)]
    for row in old:
        row.pop("features")
    db.insert_ignore(scoring.engine, DecisionRecord, old, keys=["request_id"])
    with scoring.engine.begin() as conn:
        conn.execute(sa.update(DeadLetterRecord).values(failed_at=datetime(2025, 1, 1, tzinfo=UTC)))
    scorings = tmp_path / "scorings"
    for name, age_days in (("s-old", 200), ("s-new", 1)):
        (scorings / name).mkdir(parents=True)
        summary = scorings / name / "summary.json"
        summary.write_text("{}")
        stamp = time.time() - age_days * 86400
        os.utime(summary, (stamp, stamp))
    retention = Retention(scoring.engine, tmp_path / "archive", scorings, audit_days=365, period="month",
                          dead_letter_days=90, scorings_days=90, interval_s=3600)  # fmt: skip
    done = retention.apply(datetime.now(UTC) + timedelta(days=1))
    assert done == {"decisions_archived": 4, "dead_letters_deleted": 1, "scorings_deleted": 1}
    with scoring.engine.connect() as conn:
        left = set(conn.execute(sa.select(DecisionRecord.request_id)).scalars())
    assert left == {"recent"}
    months = sorted(p.name for p in (tmp_path / "archive").iterdir())
    assert months == ["2025-01", "2025-02"]
    archived = pd.concat([pq.read_table(f).to_pandas() for f in (tmp_path / "archive").rglob("*.parquet")])
    assert sorted(archived["request_id"]) == [f"old-{k}" for k in range(4)]
    assert json.loads(archived["reasons"].iloc[0]) == []
    assert sorted(p.name for p in scorings.iterdir()) == ["s-new"]
