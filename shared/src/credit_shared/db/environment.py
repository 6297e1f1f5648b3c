"""What every Alembic chain's ``env.py`` runs: its migrations against the URL and version table set by
:func:`credit_shared.db.migrate`, with the chain's own metadata (shared's, or a member's own tables)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData

from credit_shared.db import VERSION_TABLE, make_engine


def run_environment(metadata: MetaData) -> None:
    """Run the chain's migrations, offline (emitting SQL) or against a live connection.

    Autogenerate compares only the tables ``metadata`` declares: the other chains' tables in the same database (and
    their version tables) are not this chain's to drop.
    """

    def own_table(name: str | None, kind: str, _parent: object) -> bool:
        return kind != "table" or name in metadata.tables

    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    version_table = config.get_main_option("version_table", VERSION_TABLE)
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True, version_table=version_table)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    with engine.connect() as connection:  # batch mode so SQLite can alter tables
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=True,
            version_table=version_table,
            include_name=own_table,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
