"""sla tables

KPI instances of SLA policies on conversations and cases (see sla/tables.py).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sla_instances",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("subject_kind", sa.String(20), nullable=False),
        sa.Column("subject_id", sa.String(40), nullable=False),
        sa.Column("sla", sa.String(200), nullable=False),
        sa.Column("kpi", sa.String(100), nullable=False),
        sa.Column("calendar", sa.String(100), nullable=True),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("warn_after_seconds", sa.Float(), nullable=False),
        sa.Column("fail_after_seconds", sa.Float(), nullable=False),
        sa.Column("started_at", Time, nullable=False),
        sa.Column("run_started_at", Time, nullable=False),
        sa.Column("warning_at", Time, nullable=True),
        sa.Column("failure_at", Time, nullable=True),
        sa.Column("completed_at", Time, nullable=True),
        sa.Column("paused_at", Time, nullable=True),
        sa.Column("elapsed_seconds", sa.Float(), nullable=False),
        sa.Column("paused_seconds", sa.Float(), nullable=False),
        sa.Column("warned", sa.Boolean(), nullable=False),
        sa.Column("failed", sa.Boolean(), nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.UniqueConstraint(
            "subject_kind", "subject_id", "sla", "kpi", name="uq_sla_instances_subject"
        ),
    )
    op.create_index("ix_sla_instances_status", "sla_instances", ["status"])


def downgrade() -> None:
    op.drop_index("ix_sla_instances_status", table_name="sla_instances")
    op.drop_table("sla_instances")
