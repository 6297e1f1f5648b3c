from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect

from credit_shared import db
from credit_shared.db.models import Base, DecisionRecord

pytestmark = pytest.mark.unit


def make_decision(request_id: str, **overrides: object) -> dict[str, object]:
    now = datetime.now(UTC)
    row: dict[str, object] = {
        "request_id": request_id,
        "sk_id_curr": 100001,
        "received_at": now,
        "decided_at": now,
        "input_hash": "0" * 64,
        "model_input": None,
        "probability": 0.2,
        "threshold": 0.1,
        "decision": "refused",
        "reasons": [],
        "model_name": "credit-default",
        "model_version": "1",
        "model_alias": "champion",
        "run_id": "r",
        "shadow": None,
        "latency_ms": 1.0,
    }
    row.update(overrides)
    return row


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state' / 'credit.db'}"


def test_migrate_creates_every_table_and_is_repeatable(sqlite_url: str) -> None:
    db.migrate(sqlite_url)
    db.migrate(sqlite_url)
    engine = db.make_engine(sqlite_url)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())


def test_insert_ignore_keeps_one_row_per_primary_key(sqlite_url: str) -> None:
    db.migrate(sqlite_url)
    engine = db.make_engine(sqlite_url)
    table = DecisionRecord
    first = db.insert_ignore(engine, table, [make_decision("a"), make_decision("b")], keys=["request_id"])
    again = db.insert_ignore(engine, table, [make_decision("a", probability=0.9)], keys=["request_id"])
    assert (first, again) == (2, 0)
    with db.make_sessionmaker(engine)() as session:
        assert session.get(DecisionRecord, "a").probability == 0.2


def test_ping_reports_an_unreachable_database() -> None:
    engine = db.make_engine("postgresql+psycopg2://nobody@127.0.0.1:1/none")
    assert db.ping(engine) is False
