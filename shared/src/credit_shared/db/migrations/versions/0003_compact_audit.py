"""a compact audit: decisions keep their model input as the application and a layout, not 25 KB of feature JSON

Moves every existing row's feature JSON into ``model_input`` (format 2: zlib-compressed JSON, read by
``credit_shared.decisions_view``), drops ``features`` and the index on ``sk_id_curr`` alone (the client/time index
serves the same lookups), widens the applicant ids and source offsets to 64 bits, and adds the layouts and the
dead-letter store.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 06:00:00
"""

import json
import zlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FEATURES_JSON = 2  # format byte of a model input kept as its feature JSON
CHUNK = 1000


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("model_input", sa.LargeBinary(), nullable=True))
    _move_features()
    with op.batch_alter_table("decisions") as batch:
        batch.drop_index("ix_decisions_sk_id_curr")
        batch.drop_column("features")
        batch.alter_column("sk_id_curr", type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=False)
        batch.alter_column("source_offset", type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=True)
    with op.batch_alter_table("online_features") as batch:
        batch.alter_column("sk_id_curr", type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=False)
    op.create_table(
        "decision_layouts",
        sa.Column("layout_id", sa.String(length=16), nullable=False),
        sa.Column("dataset_id", sa.String(length=64), nullable=False),
        sa.Column("feature_names", sa.JSON(), nullable=False),
        sa.Column("categorical", sa.JSON(), nullable=False),
        sa.Column("history_columns", sa.JSON(), nullable=False),
        sa.Column("application_columns", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("layout_id", name=op.f("pk_decision_layouts")),
    )
    op.create_table(
        "dead_letters",
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("source_partition", sa.Integer(), nullable=False),
        sa.Column("source_offset", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("original", sa.LargeBinary(), nullable=False),
        sa.Column("original_size", sa.BigInteger(), nullable=False),
        sa.Column("original_sha256", sa.String(length=64), nullable=False),
        sa.Column("original_whole", sa.Boolean(), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("topic", "source_partition", "source_offset", name=op.f("pk_dead_letters")),
    )
    with op.batch_alter_table("dead_letters") as batch:
        batch.create_index(batch.f("ix_dead_letters_failed_at"), ["failed_at"], unique=False)


def _move_features() -> None:
    """Each row's feature JSON into ``model_input``, a thousand rows at a time."""
    conn = op.get_bind()
    decisions = sa.table(
        "decisions",
        sa.column("request_id", sa.String()),
        sa.column("features", sa.JSON()),
        sa.column("model_input", sa.LargeBinary()),
    )
    after = ""
    while True:
        query = (
            sa.select(decisions.c.request_id, decisions.c.features)
            .where(decisions.c.request_id > after, decisions.c.features.is_not(None))
            .order_by(decisions.c.request_id)
            .limit(CHUNK)
        )
        rows = conn.execute(query).all()
        if not rows:
            return
        for request_id, features in rows:
            if isinstance(features, dict) and features:
                blob = bytes([FEATURES_JSON]) + zlib.compress(json.dumps(features).encode(), 6)
                update = decisions.update().where(decisions.c.request_id == request_id)
                conn.execute(update.values(model_input=blob))
        after = rows[-1][0]


def downgrade() -> None:
    """Back to the feature JSON for the rows moved here; a decision recorded in the compact form keeps no features
    in the older schema (rebuild them with ``credit_shared.decisions_view`` before downgrading if they are needed)."""
    op.drop_table("dead_letters")
    op.drop_table("decision_layouts")
    with op.batch_alter_table("online_features") as batch:
        batch.alter_column("sk_id_curr", type_=sa.Integer(), existing_type=sa.BigInteger(), existing_nullable=False)
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("features", sa.JSON(), nullable=True))
        batch.alter_column("sk_id_curr", type_=sa.Integer(), existing_type=sa.BigInteger(), existing_nullable=False)
        batch.alter_column("source_offset", type_=sa.Integer(), existing_type=sa.BigInteger(), existing_nullable=True)
        batch.create_index("ix_decisions_sk_id_curr", ["sk_id_curr"], unique=False)
    conn = op.get_bind()
    decisions = sa.table(
        "decisions",
        sa.column("request_id", sa.String()),
        sa.column("features", sa.JSON()),
        sa.column("model_input", sa.LargeBinary()),
    )
    for request_id, blob in conn.execute(sa.select(decisions.c.request_id, decisions.c.model_input)).all():
        if blob and blob[0] == FEATURES_JSON:
            features = json.loads(zlib.decompress(blob[1:]))
            conn.execute(decisions.update().where(decisions.c.request_id == request_id).values(features=features))
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("model_input")
