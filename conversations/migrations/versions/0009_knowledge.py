"""knowledge tables

Articles, their versions (full-text indexed: FTS5 on SQLite, a generated
tsvector with a GIN index on PostgreSQL), links to conversations, and stored
topic runs. See knowledge/tables.py.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Time = sa.DateTime(timezone=True)

PG_SEARCH = (
    "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(keywords_text, '')), 'B') || "
    "setweight(to_tsvector('english', coalesce(plain, '')), 'C')"
)


def upgrade() -> None:
    op.create_table(
        "articles",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("last_version", sa.Integer, nullable=False),
        sa.Column("published_version", sa.Integer),
        sa.Column("language", sa.String(20), nullable=False),
        sa.Column("product", sa.String(100)),
        sa.Column("translation_of", sa.String(40), sa.ForeignKey("articles.id")),
        sa.Column("publish_at", Time),
        sa.Column("expires_at", Time),
        sa.Column("views", sa.Integer, nullable=False),
        sa.Column("helpful", sa.Integer, nullable=False),
        sa.Column("not_helpful", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(40)),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
    )
    op.create_index("ix_articles_status", "articles", ["status"])
    op.create_index("ix_articles_translation_of", "articles", ["translation_of"])
    op.create_table(
        "article_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("article_id", sa.String(40), sa.ForeignKey("articles.id"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("keywords", sa.JSON, nullable=False),
        sa.Column("keywords_text", sa.Text, nullable=False),
        sa.Column("plain", sa.Text, nullable=False),
        sa.Column("author_id", sa.String(40)),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.UniqueConstraint("article_id", "number", name="uq_article_versions_number"),
    )
    op.create_table(
        "article_links",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("article_id", sa.String(40), sa.ForeignKey("articles.id"), nullable=False),
        sa.Column(
            "conversation_id", sa.String(40), sa.ForeignKey("conversations.id"), nullable=False
        ),
        sa.Column("case_id", sa.String(40)),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("sent_by", sa.String(40)),
        sa.Column("message_id", sa.String(40)),
        sa.Column("created_at", Time, nullable=False),
    )
    op.create_index("ix_article_links_conversation", "article_links", ["conversation_id"])
    op.create_index("ix_article_links_article", "article_links", ["article_id"])
    op.create_table(
        "topic_runs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("since", Time, nullable=False),
        sa.Column("until", Time, nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("created_at", Time, nullable=False),
    )
    op.create_index("ix_topic_runs_period", "topic_runs", ["since", "until"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"ALTER TABLE article_versions ADD COLUMN search tsvector "
            f"GENERATED ALWAYS AS ({PG_SEARCH}) STORED"
        )
        op.execute("CREATE INDEX ix_article_versions_search ON article_versions USING GIN (search)")
    else:
        op.execute(
            "CREATE VIRTUAL TABLE article_fts USING fts5("
            "title, body, keywords, tokenize = 'porter unicode61')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE IF EXISTS article_fts")
    op.drop_table("topic_runs")
    op.drop_table("article_links")
    op.drop_table("article_versions")
    op.drop_table("articles")
