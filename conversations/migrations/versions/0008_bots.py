"""bots tables

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bot_sessions",
        sa.Column(
            "conversation_id",
            sa.String(40),
            sa.ForeignKey("conversations.id"),
            primary_key=True,
        ),
        sa.Column("bot", sa.String(100), nullable=False),
        sa.Column("bot_user_id", sa.String(40), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(20)),
        sa.Column("handoff", sa.JSON),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_bot_sessions_state", "bot_sessions", ["state"])
    op.create_index("ix_bot_sessions_started", "bot_sessions", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_bot_sessions_started", table_name="bot_sessions")
    op.drop_index("ix_bot_sessions_state", table_name="bot_sessions")
    op.drop_table("bot_sessions")
