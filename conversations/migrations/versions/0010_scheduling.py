"""scheduling tables

Resources, services, appointments and their booked time (scheduling/tables.py).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "scheduling_resources",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("username", sa.String(100)),
        sa.Column("skills", sa.JSON, nullable=False),
        sa.Column("calendar", sa.String(100)),
        sa.Column("site", sa.String(100)),
        sa.Column("closures", sa.JSON, nullable=False),
        sa.Column("bookings_made", sa.Integer, nullable=False),
        sa.Column("created_at", Time, nullable=False),
    )
    op.create_table(
        "scheduling_services",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("duration_s", sa.Integer, nullable=False),
        sa.Column("buffer_before_s", sa.Integer, nullable=False),
        sa.Column("buffer_after_s", sa.Integer, nullable=False),
        sa.Column("requires", sa.JSON, nullable=False),
        sa.Column("constraints", sa.JSON, nullable=False),
        sa.Column("created_at", Time, nullable=False),
    )
    op.create_table(
        "appointments",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "service_id", sa.String(40), sa.ForeignKey("scheduling_services.id"), nullable=False
        ),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("start", Time, nullable=False),
        sa.Column("end", Time, nullable=False),
        sa.Column("resources", sa.JSON, nullable=False),
        sa.Column("customer_id", sa.String(40), sa.ForeignKey("customers.id")),
        sa.Column("case_id", sa.String(40)),
        sa.Column("conversation_id", sa.String(40)),
        sa.Column("timezone", sa.String(64)),
        sa.Column("history", sa.JSON, nullable=False),
        sa.Column("notifications", sa.JSON, nullable=False),
        sa.Column("reminder_at", Time),
        sa.Column("created_by", sa.String(40)),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
    )
    op.create_index("ix_appointments_customer_id", "appointments", ["customer_id"])
    op.create_index("ix_appointments_case_id", "appointments", ["case_id"])
    op.create_index("ix_appointments_conversation_id", "appointments", ["conversation_id"])
    op.create_index("ix_appointments_reminder_at", "appointments", ["reminder_at"])
    op.create_table(
        "appointment_bookings",
        sa.Column(
            "appointment_id", sa.String(40), sa.ForeignKey("appointments.id"), primary_key=True
        ),
        sa.Column(
            "resource_id",
            sa.String(40),
            sa.ForeignKey("scheduling_resources.id"),
            primary_key=True,
        ),
        sa.Column("start", Time, nullable=False),
        sa.Column("end", Time, nullable=False),
    )
    op.create_index(
        "ix_appointment_bookings_resource_start",
        "appointment_bookings",
        ["resource_id", "start"],
    )


def downgrade() -> None:
    op.drop_index("ix_appointment_bookings_resource_start", table_name="appointment_bookings")
    op.drop_table("appointment_bookings")
    op.drop_index("ix_appointments_reminder_at", table_name="appointments")
    op.drop_index("ix_appointments_conversation_id", table_name="appointments")
    op.drop_index("ix_appointments_case_id", table_name="appointments")
    op.drop_index("ix_appointments_customer_id", table_name="appointments")
    op.drop_table("appointments")
    op.drop_table("scheduling_services")
    op.drop_table("scheduling_resources")
