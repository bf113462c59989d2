"""The scheduling tables, on the store's one ``MetaData`` (migration 0010).

``appointment_bookings`` is the booked time: one row per (appointment,
resource) with the occupied span, buffers included; cancelling deletes the
rows, which frees the time. A booking locks the rows of its resources in
``scheduling_resources`` first (``SELECT ... FOR UPDATE`` on PostgreSQL; on
SQLite every write transaction is ``BEGIN IMMEDIATE``, one writer at a time),
so the overlap check and the insert are atomic across connections and nodes.
"""

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Table

from conversations.schema import Time, metadata

resources = Table(
    "scheduling_resources",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("username", String(100)),
    Column("skills", JSON, nullable=False),
    Column("calendar", String(100)),
    Column("site", String(100)),
    Column("closures", JSON, nullable=False),
    Column("bookings_made", Integer, nullable=False),
    Column("created_at", Time, nullable=False),
)

services = Table(
    "scheduling_services",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("duration_s", Integer, nullable=False),
    Column("buffer_before_s", Integer, nullable=False),
    Column("buffer_after_s", Integer, nullable=False),
    Column("requires", JSON, nullable=False),
    Column("constraints", JSON, nullable=False),
    Column("created_at", Time, nullable=False),
)

appointments = Table(
    "appointments",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("service_id", String(40), ForeignKey("scheduling_services.id"), nullable=False),
    Column("status", String(20), nullable=False),
    Column("start", Time, nullable=False),
    Column("end", Time, nullable=False),
    Column("resources", JSON, nullable=False),
    Column("customer_id", String(40), ForeignKey("customers.id"), index=True),
    Column("case_id", String(40), index=True),
    Column("conversation_id", String(40), index=True),
    Column("timezone", String(64)),
    Column("history", JSON, nullable=False),
    Column("notifications", JSON, nullable=False),
    Column("reminder_at", Time, index=True),
    Column("created_by", String(40)),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
)

bookings = Table(
    "appointment_bookings",
    metadata,
    Column("appointment_id", String(40), ForeignKey("appointments.id"), primary_key=True),
    Column("resource_id", String(40), ForeignKey("scheduling_resources.id"), primary_key=True),
    Column("start", Time, nullable=False),
    Column("end", Time, nullable=False),
    Index("ix_appointment_bookings_resource_start", "resource_id", "start"),
)
