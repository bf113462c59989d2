"""help-center deflection events

What the chat widget's pre-chat article suggestions led to: shown, an
article clicked, a chat started anyway. See knowledge/tables.py.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kb_deflections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event", sa.String(20), nullable=False),
        sa.Column("article_id", sa.String(40)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_kb_deflections_created_at", "kb_deflections", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_kb_deflections_created_at", table_name="kb_deflections")
    op.drop_table("kb_deflections")
