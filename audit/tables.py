"""The audit log's table, on the store's single MetaData (migration 0013)."""

from sqlalchemy import JSON, Column, Index, Integer, String, Table

from conversations.schema import Time, metadata

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Time, nullable=False),
    Column("action", String(40), nullable=False),
    Column("actor_id", String(40)),
    Column("actor_name", String(200)),
    Column("subject_type", String(20)),
    Column("subject_id", String(100)),
    Column("subject_name", String(200)),
    Column("address", String(64)),
    Column("detail", JSON, nullable=False),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_action_at", "action", "at"),
    Index("ix_audit_log_subject", "subject_type", "subject_id"),
)
