"""cases tables

Cases, their numbers, activities, entitlements, API keys, device alerts, and
``conversations.case_id`` (see cases/tables.py).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "counters",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("value", sa.Integer(), nullable=False),
    )
    op.bulk_insert(
        sa.table("counters", sa.column("name", sa.String), sa.column("value", sa.Integer)),
        [{"name": "case_number", "value": 0}],
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("number", sa.String(20), nullable=False, unique=True),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("customer_id", sa.String(40), sa.ForeignKey("customers.id")),
        sa.Column("product", sa.String(200)),
        sa.Column("priority", sa.String(10), nullable=False),
        sa.Column("origin", sa.String(20)),
        sa.Column("owner_id", sa.String(40)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_reason", sa.String(30), nullable=False),
        sa.Column("stage", sa.String(40)),
        sa.Column("parent_id", sa.String(40)),
        sa.Column("follow_up_of", sa.String(40)),
        sa.Column("merged_into", sa.String(40)),
        sa.Column("resolution", sa.Text()),
        sa.Column("resolved_at", Time),
        sa.Column("entitlement_id", sa.String(40)),
        sa.Column("entitlement_charge", sa.Integer(), nullable=False),
        sa.Column("billable_minutes", sa.Integer(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
    )
    op.create_index("ix_cases_customer_id", "cases", ["customer_id"])
    op.create_index("ix_cases_parent_id", "cases", ["parent_id"])
    op.create_index("ix_cases_entitlement_id", "cases", ["entitlement_id"])
    op.create_index("ix_cases_status_created", "cases", ["status", "created_at"])
    op.create_table(
        "case_activities",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("case_id", sa.String(40), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("text", sa.Text()),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("billable", sa.Boolean(), nullable=False),
        sa.Column("actor", sa.String(40)),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
    )
    op.create_index("ix_case_activities_case", "case_activities", ["case_id", "created_at"])
    op.create_table(
        "entitlements",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("customer_id", sa.String(40), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(20)),
        sa.Column("product", sa.String(200)),
        sa.Column("created_at", Time, nullable=False),
    )
    op.create_index("ix_entitlements_customer_id", "entitlements", ["customer_id"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("revoked_at", Time),
    )
    op.create_table(
        "device_alerts",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("device_id", sa.String(200), nullable=False),
        sa.Column("alert_type", sa.String(100), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.String(40), sa.ForeignKey("customers.id")),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("open_key", sa.String(310), unique=True),
        sa.Column("case_id", sa.String(40)),
        sa.Column("api_key_id", sa.String(40), nullable=False),
        sa.Column("first_at", Time, nullable=False),
        sa.Column("last_at", Time, nullable=False),
    )
    op.create_index("ix_device_alerts_device", "device_alerts", ["device_id", "alert_type"])
    # A plain column (no foreign key): SQLite adds it without rebuilding the table.
    op.add_column("conversations", sa.Column("case_id", sa.String(40), nullable=True))
    op.create_index("ix_conversations_case_id", "conversations", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_conversations_case_id", table_name="conversations")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("case_id")
    op.drop_table("device_alerts")
    op.drop_table("api_keys")
    op.drop_table("entitlements")
    op.drop_table("case_activities")
    op.drop_table("cases")
    op.drop_table("counters")
