"""sla_instances.generation

A reactivated case starts its KPIs again: the new instances are a new
generation of the same (subject, policy, KPI), so the unique key that keeps
two nodes from starting one clock twice takes the generation in.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sla_instances") as batch:
        batch.add_column(sa.Column("generation", sa.Integer(), nullable=False, server_default="0"))
        batch.drop_constraint("uq_sla_instances_subject", type_="unique")
        batch.create_unique_constraint(
            "uq_sla_instances_subject", ["subject_kind", "subject_id", "sla", "kpi", "generation"]
        )


def downgrade() -> None:
    op.execute("DELETE FROM sla_instances WHERE generation > 0")
    with op.batch_alter_table("sla_instances") as batch:
        batch.drop_constraint("uq_sla_instances_subject", type_="unique")
        batch.create_unique_constraint(
            "uq_sla_instances_subject", ["subject_kind", "subject_id", "sla", "kpi"]
        )
        batch.drop_column("generation")
