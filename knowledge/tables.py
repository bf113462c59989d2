"""The knowledge base's tables, on the one ``conversations.schema.metadata``.

Full-text search lives beside them and differs per database, created by the
migration (``0009_knowledge``): on SQLite the FTS5 table ``article_fts``
(rowid = ``article_versions.id``; porter stemming), on PostgreSQL the stored
generated ``tsvector`` column ``article_versions.search`` with a GIN index.
Every version is indexed; a query joins the working or the published one.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from conversations.schema import Time, metadata

articles = Table(
    "articles",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("version", Integer, nullable=False),
    Column("last_version", Integer, nullable=False),
    Column("published_version", Integer),
    Column("language", String(20), nullable=False),
    Column("product", String(100)),
    Column("translation_of", String(40), ForeignKey("articles.id")),
    Column("publish_at", Time),
    Column("expires_at", Time),
    Column("views", Integer, nullable=False),
    Column("helpful", Integer, nullable=False),
    Column("not_helpful", Integer, nullable=False),
    Column("created_by", String(40)),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    Index("ix_articles_status", "status"),
    Index("ix_articles_translation_of", "translation_of"),
)

article_versions = Table(
    "article_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("article_id", String(40), ForeignKey("articles.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("title", String(300), nullable=False),
    Column("body", Text, nullable=False),
    Column("keywords", JSON, nullable=False),
    Column("keywords_text", Text, nullable=False),
    Column("plain", Text, nullable=False),
    Column("author_id", String(40)),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
    UniqueConstraint("article_id", "number", name="uq_article_versions_number"),
)

article_links = Table(
    "article_links",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("article_id", String(40), ForeignKey("articles.id"), nullable=False),
    Column("conversation_id", String(40), ForeignKey("conversations.id"), nullable=False),
    Column("case_id", String(40)),
    Column("version", Integer, nullable=False),
    Column("sent_by", String(40)),
    Column("message_id", String(40)),
    Column("created_at", Time, nullable=False),
    Index("ix_article_links_conversation", "conversation_id"),
    Index("ix_article_links_article", "article_id"),
)

topic_runs = Table(
    "topic_runs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("since", Time, nullable=False),
    Column("until", Time, nullable=False),
    Column("result", JSON, nullable=False),
    Column("created_at", Time, nullable=False),
    Index("ix_topic_runs_period", "since", "until"),
)

kb_deflections = Table(
    "kb_deflections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event", String(20), nullable=False),
    Column("article_id", String(40)),
    Column("created_at", Time, nullable=False),
    Index("ix_kb_deflections_created_at", "created_at"),
)
"""What the widget's pre-chat suggestions led to (``shown``, ``clicked`` with
the article, ``chat_started``), one row per event (migration 0014)."""

PG_SEARCH = (
    "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(keywords_text, '')), 'B') || "
    "setweight(to_tsvector('english', coalesce(plain, '')), 'C')"
)
