"""The gateway's own tables and migration chain, side by side with shared's in one database."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, MetaData, inspect, text

from credit_shared import db
from credit_shared.db.models import Base as SharedBase
from gateway_service import __main__ as cli
from gateway_service import tables
from gateway_service.jobs import JobStore
from gateway_service.security import KeyStore, Role
from gateway_service.settings import get_settings

pytestmark = pytest.mark.unit


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state' / 'credit.db'}"


def revisions(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {
            table: conn.execute(text(f"SELECT version_num FROM {table}")).scalar_one()
            for table in (db.VERSION_TABLE, tables.VERSION_TABLE)
        }


def schema_differences(engine: Engine) -> list[object]:
    """What autogenerate would change to make the database match shared's and the gateway's metadata together."""
    both = MetaData()
    for metadata in (SharedBase.metadata, tables.Base.metadata):
        for table in metadata.tables.values():
            table.to_metadata(both)

    def not_a_version_table(name: str | None, kind: str, _parent: object) -> bool:
        return not (kind == "table" and name in (db.VERSION_TABLE, tables.VERSION_TABLE))

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": not_a_version_table})
        return list(compare_metadata(context, both))


def test_shared_chain_no_longer_knows_the_gateway_tables(sqlite_url: str) -> None:
    db.migrate(sqlite_url)
    names = set(inspect(db.make_engine(sqlite_url)).get_table_names())
    assert set(SharedBase.metadata.tables) <= names
    assert not {"api_keys", "jobs"} & names
    assert not {"api_keys", "jobs"} & set(SharedBase.metadata.tables)


def test_on_a_fresh_database_both_chains_give_the_tables_of_both_metadatas(sqlite_url: str) -> None:
    tables.migrate(sqlite_url)
    tables.migrate(sqlite_url)  # every start-up migrates: the second one is a no-op
    engine = db.make_engine(sqlite_url)
    assert set(tables.Base.metadata.tables) == {"api_keys", "jobs"}
    assert set(SharedBase.metadata.tables) | set(tables.Base.metadata.tables) <= set(inspect(engine).get_table_names())
    assert schema_differences(engine) == []
    assert revisions(engine) == {"alembic_version": "0004", "alembic_version_gateway": "g0001"}


def test_the_gateway_chain_keeps_the_keys_and_jobs_of_a_database_the_old_shared_chain_created(sqlite_url: str) -> None:
    db.migrate(sqlite_url)
    engine = db.make_engine(sqlite_url)
    tables.Base.metadata.create_all(engine)  # what shared's 0001 created before the tables moved to the gateway
    key, principal = KeyStore(engine, cache_s=0).create("risk team", Role.ANALYST)
    job = JobStore(engine).create("dataset.build", {"name": "x"}, created_by=principal.key_id)
    tables.migrate(sqlite_url)
    assert KeyStore(engine, cache_s=0).verify(key) == principal
    kept = JobStore(engine).get(job.job_id)
    assert kept is not None
    assert (kept.kind, kept.status) == ("dataset.build", "queued")
    assert revisions(engine)["alembic_version_gateway"] == "g0001"
    assert schema_differences(engine) == []


def test_the_migrate_command_brings_both_chains_to_their_head(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    try:
        assert cli.main(["migrate"]) == 0
    finally:
        get_settings.cache_clear()
    assert revisions(db.make_engine(sqlite_url)) == {"alembic_version": "0004", "alembic_version_gateway": "g0001"}


@pytest.mark.parametrize(
    ("script_location", "version_table"),
    [(db.MIGRATIONS, db.VERSION_TABLE), (tables.MIGRATIONS, tables.VERSION_TABLE)],
    ids=["shared", "gateway"],
)
def test_each_chain_autogenerates_nothing_and_leaves_the_other_chains_tables_alone(
    sqlite_url: str, script_location: Path, version_table: str
) -> None:
    from alembic import command
    from alembic.config import Config

    tables.migrate(sqlite_url)
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", sqlite_url)
    config.set_main_option("version_table", version_table)
    command.check(config)  # raises when autogenerate would emit any operation, a drop of the other chain's tables too
