"""drop the (conversation, client_msg_id) index

Idempotency lookups now probe the unique (conversation, sender, client_msg_id)
constraint's own index, so this one only cost a page write per message.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_messages_client_msg", table_name="messages")


def downgrade() -> None:
    op.create_index("ix_messages_client_msg", "messages", ["conversation_id", "client_msg_id"])
