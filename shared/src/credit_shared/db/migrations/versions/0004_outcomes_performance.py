"""outcomes and realized performance (owned by monitoring)

The current outcome of each request id and the history of every outcome message, each decision as each version
made or shadow-scored it (with its outcome once joined), the per version / vintage / grade sufficient statistics,
and the latest performance report.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    _outcomes()
    _performance()


def _outcomes() -> None:
    op.create_table(
        "loan_outcomes",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("sk_id_curr", sa.BigInteger(), nullable=False),
        sa.Column("defaulted", sa.Boolean(), nullable=False),
        sa.Column("observed_at", TZ, nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.Column("joined", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_loan_outcomes")),
    )
    op.create_index(op.f("ix_loan_outcomes_joined"), "loan_outcomes", ["joined"], unique=False)
    op.create_table(
        "loan_outcome_history",
        sa.Column("source_partition", sa.Integer(), nullable=False),
        sa.Column("source_offset", sa.BigInteger(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("sk_id_curr", sa.BigInteger(), nullable=False),
        sa.Column("defaulted", sa.Boolean(), nullable=False),
        sa.Column("observed_at", TZ, nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("source_partition", "source_offset", name=op.f("pk_loan_outcome_history")),
    )
    op.create_index(
        op.f("ix_loan_outcome_history_request_id"), "loan_outcome_history", ["request_id"], unique=False
    )


def _performance() -> None:
    op.create_table(
        "performance_decisions",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("model_version", sa.String(length=32), nullable=False),
        sa.Column("model_name", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("vintage", sa.String(length=7), nullable=False),
        sa.Column("grade", sa.String(length=8), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("decided_at", TZ, nullable=False),
        sa.Column("defaulted", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("request_id", "model_version", name=op.f("pk_performance_decisions")),
    )
    op.create_index(
        op.f("ix_performance_decisions_defaulted"), "performance_decisions", ["defaulted"], unique=False
    )
    op.create_table(
        "performance_cells",
        sa.Column("model_version", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("vintage", sa.String(length=7), nullable=False),
        sa.Column("grade", sa.String(length=8), nullable=False),
        sa.Column("model_name", sa.String(length=128), nullable=False),
        sa.Column("decisions", sa.BigInteger(), nullable=False),
        sa.Column("approved", sa.BigInteger(), nullable=False),
        sa.Column("pd_sum", sa.Float(), nullable=False),
        sa.Column("expected_cost_sum", sa.Float(), nullable=False),
        sa.Column("threshold_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("model_version", "role", "vintage", "grade", name=op.f("pk_performance_cells")),
    )
    op.create_table(
        "performance_reports",
        sa.Column("report_id", sa.String(length=32), nullable=False),
        sa.Column("computed_at", TZ, nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_performance_reports")),
    )


def downgrade() -> None:
    op.drop_table("performance_reports")
    op.drop_table("performance_cells")
    op.drop_index(op.f("ix_performance_decisions_defaulted"), table_name="performance_decisions")
    op.drop_table("performance_decisions")
    op.drop_index(op.f("ix_loan_outcome_history_request_id"), table_name="loan_outcome_history")
    op.drop_table("loan_outcome_history")
    op.drop_index(op.f("ix_loan_outcomes_joined"), table_name="loan_outcomes")
    op.drop_table("loan_outcomes")
