"""The case tables, on the store's one ``MetaData`` (migration 0005 matches them)."""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from conversations.schema import Time, metadata

counters = Table(
    "counters",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", Integer, nullable=False),
)
"""Named sequences (``case_number``): incremented under the row's write lock."""

cases = Table(
    "cases",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("number", String(20), nullable=False, unique=True),
    Column("title", String(500), nullable=False),
    Column("description", Text),
    Column("customer_id", String(40), ForeignKey("customers.id"), index=True),
    Column("product", String(200)),
    Column("priority", String(10), nullable=False),
    Column("origin", String(20)),
    Column("owner_id", String(40)),
    Column("status", String(20), nullable=False),
    Column("status_reason", String(30), nullable=False),
    Column("stage", String(40)),
    Column("parent_id", String(40), index=True),
    Column("follow_up_of", String(40)),
    Column("merged_into", String(40)),
    Column("resolution", Text),
    Column("resolved_at", Time),
    Column("entitlement_id", String(40), index=True),
    Column("entitlement_charge", Integer, nullable=False),
    Column("billable_minutes", Integer, nullable=False),
    Column("fields", JSON, nullable=False),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    Index("ix_cases_status_created", "status", "created_at"),
)

case_activities = Table(
    "case_activities",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("case_id", String(40), ForeignKey("cases.id"), nullable=False),
    Column("kind", String(20), nullable=False),
    # note, phone_call, task (activities) or status, stage, merge, link (events)
    Column("text", Text),
    Column("minutes", Integer, nullable=False),
    Column("billable", Boolean, nullable=False),
    Column("actor", String(40)),
    Column("data", JSON, nullable=False),
    Column("created_at", Time, nullable=False),
    Index("ix_case_activities_case", "case_id", "created_at"),
)

entitlements = Table(
    "entitlements",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("customer_id", String(40), ForeignKey("customers.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("total", Float, nullable=False),
    Column("used", Integer, nullable=False),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),
    Column("channel", String(20)),
    Column("product", String(200)),
    Column("created_at", Time, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", Time, nullable=False),
    Column("revoked_at", Time),
)

device_alerts = Table(
    "device_alerts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("device_id", String(200), nullable=False),
    Column("alert_type", String(100), nullable=False),
    Column("severity", String(20), nullable=False),
    Column("description", Text, nullable=False),
    Column("customer_id", String(40), ForeignKey("customers.id")),
    Column("count", Integer, nullable=False),
    Column("status", String(10), nullable=False),
    Column("open_key", String(310), unique=True),
    # "device_id|alert_type" while open, else NULL: at most one open alert
    # per device and type, enforced by the database across nodes.
    Column("case_id", String(40)),
    Column("api_key_id", String(40), nullable=False),
    Column("first_at", Time, nullable=False),
    Column("last_at", Time, nullable=False),
    Index("ix_device_alerts_device", "device_id", "alert_type"),
)
