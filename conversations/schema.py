"""Table definitions: the single source the migrations are written against."""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

Time = DateTime(timezone=True)

customers = Table(
    "customers",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200)),
    Column("email", String(320)),
    Column("phone", String(40)),
    Column("attributes", JSON, nullable=False),
    Column("created_at", Time, nullable=False),
)

identities = Table(
    "identities",
    metadata,
    Column("kind", String(20), primary_key=True),
    Column("value", String(320), primary_key=True),
    Column("customer_id", String(40), ForeignKey("customers.id"), nullable=False, index=True),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("customer_id", String(40), ForeignKey("customers.id"), nullable=False, index=True),
    Column("channel", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("queue", String(100), nullable=False),
    Column("subject", String(500)),
    Column("language", String(20)),
    Column("priority", Integer, nullable=False),
    Column("assigned_agent_id", String(40), index=True),
    Column("last_seq", Integer, nullable=False),
    Column("prechat", JSON, nullable=False),
    Column("context", JSON, nullable=False),
    Column("sentiment", JSON),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    Column("closed_at", Time),
    Column("case_id", String(40), index=True),  # cases/tables.py; migration 0005
    Index("ix_conversations_status_created", "status", "created_at"),
)

participants = Table(
    "participants",
    metadata,
    Column("conversation_id", String(40), ForeignKey("conversations.id"), primary_key=True),
    Column("role", String(20), primary_key=True),
    Column("ref_id", String(40), primary_key=True),
    Column("joined_at", Time, nullable=False),
    Column("left_at", Time),
)

messages = Table(
    "messages",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("conversation_id", String(40), ForeignKey("conversations.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("sender_role", String(20), nullable=False),
    Column("sender_id", String(40)),
    Column("sender_name", String(200)),
    Column("client_msg_id", String(100)),
    Column("channel", String(20), nullable=False),
    Column("external_id", String(200)),
    Column("text", Text, nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("sentiment_score", Float),
    Column("sentiment_label", String(10)),
    Column("created_at", Time, nullable=False),
    UniqueConstraint("conversation_id", "seq", name="uq_messages_seq"),
    UniqueConstraint(
        "conversation_id", "sender_id", "client_msg_id", name="uq_messages_client_msg_id"
    ),
    UniqueConstraint("channel", "external_id", name="uq_messages_external_id"),
)

timeline = Table(
    "timeline",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(40), ForeignKey("conversations.id"), nullable=False),
    Column("type", String(40), nullable=False),
    Column("actor", String(40)),
    Column("data", JSON, nullable=False),
    Column("created_at", Time, nullable=False),
    Index("ix_timeline_conversation", "conversation_id", "id"),
)

users = Table(
    "users",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("username", String(100), nullable=False, unique=True),
    Column("role", String(20), nullable=False),
    Column("display_name", String(200)),
    Column("password_hash", String(200), nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("skills", JSON, nullable=False),
    Column("capacity", JSON, nullable=False),
    Column("queues", JSON),
    Column("created_at", Time, nullable=False),
)

settings = Table(
    "settings",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)

# -- channels (see conversations/deliveries.py) -------------------------------

deliveries = Table(
    "deliveries",
    metadata,
    Column("message_id", String(40), ForeignKey("messages.id"), primary_key=True),
    Column("conversation_id", String(40), ForeignKey("conversations.id"), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("provider_message_id", String(200)),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("error_code", String(100)),
    Column("last_error", Text),
    Column("dead_letter", Boolean, nullable=False),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    Index("ix_deliveries_provider", "channel", "provider_message_id"),
    Index("ix_deliveries_conversation", "conversation_id"),
)

email_threads = Table(
    "email_threads",
    metadata,
    Column("message_id_header", String(500), primary_key=True),
    Column("conversation_id", String(40), ForeignKey("conversations.id"), nullable=False),
    Column("message_id", String(40)),
    Column("inbound", Boolean, nullable=False),
    Column("created_at", Time, nullable=False),
    Index("ix_email_threads_conversation", "conversation_id", "created_at"),
)

reply_tokens = Table(
    "reply_tokens",
    metadata,
    Column("token", String(64), primary_key=True),
    Column(
        "conversation_id", String(40), ForeignKey("conversations.id"), nullable=False, unique=True
    ),
)

opt_outs = Table(
    "opt_outs",
    metadata,
    Column("channel", String(20), primary_key=True),
    Column("address", String(320), primary_key=True),
    Column("customer_id", String(40), ForeignKey("customers.id"), index=True),
    Column("keyword", String(20), nullable=False),
    Column("created_at", Time, nullable=False),
)
