"""The ``surveys`` table, on the one ``MetaData`` the migrations follow
(migration 0007)."""

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, String, Table, Text

from conversations.schema import Time, metadata

surveys = Table(
    "surveys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column(
        "conversation_id", String(40), ForeignKey("conversations.id"), nullable=False, unique=True
    ),
    Column("customer_id", String(40), ForeignKey("customers.id"), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("queue", String(100), nullable=False),
    Column("agent_id", String(40)),
    Column("questions", JSON, nullable=False),
    Column("status", String(20), nullable=False),
    Column("asked_at", Time, nullable=False),
    Column("expires_at", Time, nullable=False),
    Column("csat", Integer),
    Column("nps", Integer),
    Column("comment", Text),
    Column("answered_at", Time),
    Column("answer_ref", String(200)),
    Index("ix_surveys_customer_pending", "customer_id", "channel", "status"),
    Index("ix_surveys_answer_ref", "answer_ref"),
)
