"""The knowledge base's store: articles, versions, search, links, topic runs.

Shares the conversation store's engines (``Store.engines``): writes in one
transaction on the write engine, reads through ``Reads``. A change to an
article is read-modify-write in one transaction (``change``), the row locked
on PostgreSQL and the database locked by ``BEGIN IMMEDIATE`` on SQLite, so
two editors cannot both move it from the same state.

Search runs in the database: SQLite FTS5 ranked by BM25 (title weighs 10,
keywords 5, body 1; the score is BM25 negated, higher is better) or
PostgreSQL ``websearch_to_tsquery`` ranked by ``ts_rank`` over a weighted
``tsvector`` (title A, keywords B, body C). Scores rank within one answer;
they are not comparable between the two databases.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    column,
    func,
    insert,
    literal_column,
    or_,
    select,
    table,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from conversations import schema as cs
from conversations.engine import Engines
from conversations.ids import new_id
from conversations.times import as_utc
from knowledge import tables as t
from knowledge.articles import Article, Version
from knowledge.errors import ArticleNotFound
from knowledge.lifecycle import Status
from knowledge.render import to_text
from knowledge.suggest import Entry
from knowledge.text import fts5_match, websearch
from surveys.rules import SurveyStatus
from surveys.tables import surveys

Scope = Literal["staff", "public"]
_fts = table("article_fts", column("rowid"))
_BM25: Any = literal_column("bm25(article_fts, 10.0, 1.0, 5.0)")


def _aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)


def _article(row: Any) -> Article:
    m = row._mapping
    return Article(
        id=m["id"],
        status=Status(m["status"]),
        version=m["version"],
        last_version=m["last_version"],
        published_version=m["published_version"],
        language=m["language"],
        product=m["product"],
        translation_of=m["translation_of"],
        publish_at=_aware(m["publish_at"]),
        expires_at=_aware(m["expires_at"]),
        created_by=m["created_by"],
        created_at=as_utc(m["created_at"]),
        updated_at=as_utc(m["updated_at"]),
    )


def _version(row: Any) -> Version:
    m = row._mapping
    return Version(
        number=m["number"],
        title=m["title"],
        body=m["body"],
        keywords=tuple(m["keywords"] or ()),
        author_id=m["author_id"],
        created_at=as_utc(m["created_at"]),
        updated_at=as_utc(m["updated_at"]),
    )


def _article_values(a: Article) -> dict[str, Any]:
    return {
        "status": a.status.value,
        "version": a.version,
        "last_version": a.last_version,
        "published_version": a.published_version,
        "language": a.language,
        "product": a.product,
        "translation_of": a.translation_of,
        "publish_at": a.publish_at,
        "expires_at": a.expires_at,
        "updated_at": a.updated_at,
    }


def _version_values(article_id: str, v: Version) -> dict[str, Any]:
    return {
        "article_id": article_id,
        "number": v.number,
        "title": v.title,
        "body": v.body,
        "keywords": list(v.keywords),
        "keywords_text": " ".join(v.keywords),
        "plain": to_text(v.body),
        "author_id": v.author_id,
        "created_at": v.created_at,
        "updated_at": v.updated_at,
    }


@dataclass(frozen=True, slots=True)
class Counters:
    views: int
    helpful: int
    not_helpful: int


@dataclass(frozen=True, slots=True)
class Hit:
    id: str
    title: str
    text: str
    """The plain text of the matched version (for a snippet)."""
    score: float
    status: Status
    language: str
    product: str | None


@dataclass(frozen=True, slots=True)
class FirstMessage:
    conversation_id: str
    text: str
    handle_seconds: float | None
    """From opening to closing; None while open."""
    sentiment: float | None
    """The conversation's rolling customer sentiment, when scored."""
    csat: int | None = None
    """The customer's CSAT answer (1-5), when a survey was answered."""


@dataclass(frozen=True, slots=True)
class Closed:
    """A closed conversation as similar-conversation search keeps it."""

    conversation_id: str
    agent_id: str | None
    subject: str | None
    case_id: str | None
    text: str
    """What the customer wrote, message by message."""


@dataclass(frozen=True, slots=True)
class Change:
    """What ``change``'s callback decided: the article as it becomes, and the
    version to write (``new`` inserts one, otherwise it updates in place)."""

    article: Article
    version: Version | None = None
    new: bool = False


def live(now: datetime) -> ColumnElement[bool]:
    """Rows of ``articles`` whose published version the public sees at ``now``."""
    a = t.articles.c
    return and_(
        a.published_version.is_not(None),
        a.status.not_in([Status.ARCHIVED.value, Status.DISCARDED.value]),
        or_(a.publish_at.is_(None), a.publish_at <= now),
        or_(a.expires_at.is_(None), a.expires_at > now),
    )


class KnowledgeStore:
    def __init__(self, engines: Engines) -> None:
        self._engines = engines
        self.dialect = engines.dialect

    # -- articles ---------------------------------------------------------

    async def create(self, article: Article, version: Version) -> None:
        async with self._engines.write.begin() as conn:
            await conn.execute(
                insert(t.articles).values(
                    id=article.id,
                    views=0,
                    helpful=0,
                    not_helpful=0,
                    created_by=article.created_by,
                    created_at=article.created_at,
                    **_article_values(article),
                )
            )
            await self._write_version(conn, article.id, version, new=True)

    async def get(self, article_id: str) -> tuple[Article, Version]:
        """The article and its working version.

        Raises:
            ArticleNotFound: no such article.
        """
        row = await self._engines.read.first(
            select(t.articles).where(t.articles.c.id == article_id)
        )
        if row is None:
            raise ArticleNotFound(article_id)
        article = _article(row)
        version = await self.version(article_id, article.version)
        assert version is not None
        return article, version

    async def version(self, article_id: str, number: int) -> Version | None:
        v = t.article_versions.c
        row = await self._engines.read.first(
            select(t.article_versions).where(v.article_id == article_id, v.number == number)
        )
        return _version(row) if row else None

    async def versions(self, article_id: str) -> list[Version]:
        v = t.article_versions.c
        rows = await self._engines.read.all(
            select(t.article_versions).where(v.article_id == article_id).order_by(v.number)
        )
        return [_version(r) for r in rows]

    async def counters(self, article_id: str) -> Counters:
        a = t.articles.c
        row = await self._engines.read.first(
            select(a.views, a.helpful, a.not_helpful).where(a.id == article_id)
        )
        if row is None:
            raise ArticleNotFound(article_id)
        return Counters(row.views, row.helpful, row.not_helpful)

    async def change(self, article_id: str, work: Callable[[Article, Version], Change]) -> Change:
        """Read the article and its working version, let ``work`` decide, and
        write what it decided, all in one transaction. ``work`` may raise; then
        nothing is written."""
        async with self._engines.write.begin() as conn:
            row = (
                await conn.execute(
                    select(t.articles).where(t.articles.c.id == article_id).with_for_update()
                )
            ).first()
            if row is None:
                raise ArticleNotFound(article_id)
            article = _article(row)
            v = t.article_versions.c
            vrow = (
                await conn.execute(
                    select(t.article_versions).where(
                        v.article_id == article_id, v.number == article.version
                    )
                )
            ).one()
            result = work(article, _version(vrow))
            await conn.execute(
                update(t.articles)
                .where(t.articles.c.id == article_id)
                .values(**_article_values(result.article))
            )
            if result.version is not None:
                await self._write_version(conn, article_id, result.version, new=result.new)
            return result

    async def _write_version(
        self, conn: AsyncConnection, article_id: str, version: Version, *, new: bool
    ) -> None:
        values = _version_values(article_id, version)
        v = t.article_versions.c
        if new:
            await conn.execute(insert(t.article_versions).values(**values))
        else:
            await conn.execute(
                update(t.article_versions)
                .where(v.article_id == article_id, v.number == version.number)
                .values(**values)
            )
        if self.dialect != "sqlite":
            return  # the tsvector column is generated
        row_id = (
            await conn.execute(
                select(v.id).where(v.article_id == article_id, v.number == version.number)
            )
        ).scalar_one()
        await conn.execute(text("DELETE FROM article_fts WHERE rowid = :id"), {"id": row_id})
        await conn.execute(
            text(
                "INSERT INTO article_fts (rowid, title, body, keywords) "
                "VALUES (:id, :title, :body, :keywords)"
            ),
            {
                "id": row_id,
                "title": values["title"],
                "body": values["plain"],
                "keywords": values["keywords_text"],
            },
        )

    async def count(
        self, article_id: str, counter: Literal["views", "helpful", "not_helpful"]
    ) -> None:
        column_ = t.articles.c[counter]
        async with self._engines.write.begin() as conn:
            await conn.execute(
                update(t.articles)
                .where(t.articles.c.id == article_id)
                .values({column_: column_ + 1})
            )

    async def translations(self, original_id: str) -> list[tuple[str, str]]:
        """``(id, language)`` of the translations of an article."""
        a = t.articles.c
        rows = await self._engines.read.all(
            select(a.id, a.language)
            .where(a.translation_of == original_id, a.status != Status.DISCARDED.value)
            .order_by(a.language)
        )
        return [(r.id, r.language) for r in rows]

    # -- listing and search -------------------------------------------------

    def _joined(self, scope: Scope, now: datetime) -> tuple[Any, ColumnElement[bool]]:
        a, v = t.articles.c, t.article_versions.c
        if scope == "public":
            return a.published_version == v.number, live(now)
        return a.version == v.number, a.status != Status.DISCARDED.value

    async def listing(
        self,
        *,
        scope: Scope,
        now: datetime,
        status: str | None = None,
        product: str | None = None,
        language: str | None = None,
        limit: int = 50,
    ) -> list[Hit]:
        """Articles without a query, newest change first."""
        a, v = t.articles.c, t.article_versions.c
        on, visible = self._joined(scope, now)
        query = (
            select(a.id, a.status, a.language, a.product, v.title, v.plain)
            .select_from(t.articles.join(t.article_versions, and_(v.article_id == a.id, on)))
            .where(*self._filters(product, language))
            .order_by(a.updated_at.desc())
            .limit(limit)
        )
        if status == Status.DISCARDED.value and scope == "staff":
            query = query.where(a.status == status)
        else:
            query = query.where(visible)
            if status is not None:
                query = query.where(a.status == status)
        rows = await self._engines.read.all(query)
        return [_hit(r, 0.0) for r in rows]

    def _filters(self, product: str | None, language: str | None) -> list[ColumnElement[bool]]:
        a = t.articles.c
        found = []
        if product is not None:
            found.append(a.product == product)
        if language is not None:
            found.append(a.language == language)
        return found

    async def search(
        self,
        words: list[str],
        *,
        scope: Scope,
        now: datetime,
        product: str | None = None,
        language: str | None = None,
        status: str | None = None,
        limit: int = 20,
        exclude: Sequence[str] = (),
    ) -> list[Hit]:
        """Articles matching any of ``words``, best first."""
        if not words:
            return []
        a, v = t.articles.c, t.article_versions.c
        on, visible = self._joined(scope, now)
        joined = t.article_versions.join(t.articles, and_(v.article_id == a.id, on))
        if self.dialect == "sqlite":
            rank: Any = _BM25
            query = (
                select(
                    a.id, a.status, a.language, a.product, v.title, v.plain, (-rank).label("score")
                )
                .select_from(_fts.join(joined, v.id == _fts.c.rowid))
                .where(text("article_fts MATCH :match").bindparams(match=fts5_match(words)))
                .order_by(rank)
            )
        else:
            tsquery = func.websearch_to_tsquery(
                literal_column("'english'::regconfig"), bindparam("match", websearch(words))
            )
            vector: Any = literal_column("article_versions.search")
            score = func.ts_rank(vector, tsquery)
            query = (
                select(
                    a.id, a.status, a.language, a.product, v.title, v.plain, score.label("score")
                )
                .select_from(joined)
                .where(vector.op("@@")(tsquery))
                .order_by(score.desc(), a.id)
            )
        query = query.where(visible, *self._filters(product, language)).limit(limit)
        if status is not None:
            query = query.where(a.status == status)
        if exclude:
            query = query.where(a.id.not_in(list(exclude)))
        rows = await self._engines.read.all(query)
        return [_hit(r, float(r.score)) for r in rows]

    async def published_entries(self) -> list[Entry]:
        """The published version of every article that is or will be live
        (scheduled ones too; the index filters by date when asked)."""
        a, v = t.articles.c, t.article_versions.c
        rows = await self._engines.read.all(
            select(a.id, a.publish_at, a.expires_at, a.language, v.title, v.keywords_text, v.plain)
            .select_from(
                t.articles.join(
                    t.article_versions,
                    and_(v.article_id == a.id, v.number == a.published_version),
                )
            )
            .where(a.status.not_in([Status.ARCHIVED.value, Status.DISCARDED.value]))
        )
        return [
            Entry(
                id=r.id,
                title=r.title,
                keywords=r.keywords_text,
                body=r.plain,
                publish_at=_aware(r.publish_at),
                expires_at=_aware(r.expires_at),
                language=r.language,
            )
            for r in rows
        ]

    async def live_ids(self, ids: Sequence[str], now: datetime) -> set[str]:
        """Those of ``ids`` the public sees at ``now`` (an index in memory may
        lag a change made on another node by a few seconds; this does not)."""
        if not ids:
            return set()
        a = t.articles.c
        rows = await self._engines.read.all(select(a.id).where(a.id.in_(list(ids)), live(now)))
        return {r.id for r in rows}

    async def articles_marker(self) -> tuple[int, datetime | None]:
        """How many articles there are and the latest change to one: the
        suggestion index is rebuilt when this changes."""
        a = t.articles.c
        row = await self._engines.read.first(
            select(func.count().label("n"), func.max(a.updated_at).label("latest"))
        )
        assert row is not None
        return int(row.n), _aware(row.latest)

    # -- links --------------------------------------------------------------

    async def link(
        self,
        *,
        article_id: str,
        version: int,
        conversation_id: str,
        case_id: str | None,
        sent_by: str | None,
        message_id: str | None,
        now: datetime,
    ) -> None:
        async with self._engines.write.begin() as conn:
            await conn.execute(
                insert(t.article_links).values(
                    article_id=article_id,
                    version=version,
                    conversation_id=conversation_id,
                    case_id=case_id,
                    sent_by=sent_by,
                    message_id=message_id,
                    created_at=now,
                )
            )

    async def links_of_conversation(self, conversation_id: str) -> list[dict[str, Any]]:
        lk = t.article_links.c
        rows = await self._engines.read.all(
            select(t.article_links).where(lk.conversation_id == conversation_id).order_by(lk.id)
        )
        return [
            {
                "article_id": r.article_id,
                "version": r.version,
                "case_id": r.case_id,
                "message_id": r.message_id,
                "sent_by": r.sent_by,
                "created_at": as_utc(r.created_at),
            }
            for r in rows
        ]

    # -- deflection -------------------------------------------------------------

    async def record_deflection(self, event: str, article_id: str | None, now: datetime) -> None:
        async with self._engines.write.begin() as conn:
            await conn.execute(
                insert(t.kb_deflections).values(event=event, article_id=article_id, created_at=now)
            )

    async def deflections(
        self, since: datetime, until: datetime, limit: int = 20
    ) -> tuple[dict[str, int], list[tuple[str, str | None, int]]]:
        """Events counted in ``[since, until)`` by kind, and the most clicked
        articles as ``(id, published title or None, clicks)``."""
        d, a, v = t.kb_deflections.c, t.articles.c, t.article_versions.c
        period = and_(d.created_at >= since, d.created_at < until)
        rows = await self._engines.read.all(
            select(d.event, func.count().label("n")).where(period).group_by(d.event)
        )
        counted = {r.event: int(r.n) for r in rows}
        clicks = func.count().label("clicks")
        clicked = (
            select(d.article_id, clicks)
            .where(period, d.event == "clicked", d.article_id.is_not(None))
            .group_by(d.article_id)
            .order_by(clicks.desc(), d.article_id)
            .limit(limit)
            .subquery()
        )
        rows = await self._engines.read.all(
            select(clicked.c.article_id, clicked.c.clicks, v.title)
            .select_from(
                clicked.outerjoin(t.articles, a.id == clicked.c.article_id).outerjoin(
                    t.article_versions,
                    and_(v.article_id == a.id, v.number == a.published_version),
                )
            )
            .order_by(clicked.c.clicks.desc(), clicked.c.article_id)
        )
        return counted, [(r.article_id, r.title, int(r.clicks)) for r in rows]

    # -- what customers wrote -------------------------------------------------

    async def customer_text(self, conversation_id: str, limit: int = 20) -> str:
        """The customer's latest messages in a conversation, oldest first."""
        m = cs.messages.c
        rows = await self._engines.read.all(
            select(m.text)
            .where(m.conversation_id == conversation_id, m.sender_role == "customer")
            .order_by(m.seq.desc())
            .limit(limit)
        )
        return "\n".join(r.text for r in reversed(rows))

    async def customer_text_and_agent(
        self, conversation_id: str, limit: int = 20
    ) -> tuple[str, str | None]:
        """``customer_text`` and the conversation's assigned agent, in one read
        (a suggestion pass after each customer message makes just this one)."""
        c, m = cs.conversations.c, cs.messages.c
        rows = await self._engines.read.all(
            select(m.text, c.assigned_agent_id)
            .select_from(cs.messages.join(cs.conversations, c.id == m.conversation_id))
            .where(m.conversation_id == conversation_id, m.sender_role == "customer")
            .order_by(m.seq.desc())
            .limit(limit)
        )
        if not rows:
            return "", None
        return "\n".join(r.text for r in reversed(rows)), rows[0].assigned_agent_id

    async def closed_conversations(self, limit: int) -> list[Closed]:
        """The most recently closed conversations, with their customer's text."""
        c, m = cs.conversations.c, cs.messages.c
        recent = (
            select(c.id, c.assigned_agent_id, c.subject, c.case_id)
            .where(c.status == "closed")
            .order_by(c.closed_at.desc())
            .limit(limit)
            .subquery()
        )
        rows = await self._engines.read.all(
            select(
                recent.c.id, recent.c.assigned_agent_id, recent.c.subject, recent.c.case_id, m.text
            )
            .select_from(recent.join(cs.messages, m.conversation_id == recent.c.id))
            .where(m.sender_role == "customer")
            .order_by(recent.c.id, m.seq)
        )
        found: dict[str, Closed] = {}
        texts: dict[str, list[str]] = {}
        for r in rows:
            if r.id not in found:
                found[r.id] = Closed(r.id, r.assigned_agent_id, r.subject, r.case_id, "")
                texts[r.id] = []
            texts[r.id].append(r.text)
        return [replace(closed, text="\n".join(texts[cid])) for cid, closed in found.items()]

    async def closed_marker(self) -> tuple[int, datetime | None]:
        """How many conversations are closed and the latest closing: the
        similar-conversation index is rebuilt when this changes."""
        c = cs.conversations.c
        row = await self._engines.read.first(
            select(func.count().label("n"), func.max(c.closed_at).label("latest")).where(
                c.status == "closed"
            )
        )
        assert row is not None
        return int(row.n), _aware(row.latest)

    async def first_messages(
        self, since: datetime, until: datetime, limit: int = 100_000
    ) -> list[FirstMessage]:
        """Each conversation's first customer message, for conversations
        opened in ``[since, until)``, with what the insights average (handle
        time, sentiment, the answered CSAT survey's score)."""
        c, m = cs.conversations.c, cs.messages.c
        first = (
            select(m.conversation_id, func.min(m.seq).label("seq"))
            .select_from(cs.messages.join(cs.conversations, c.id == m.conversation_id))
            .where(m.sender_role == "customer", c.created_at >= since, c.created_at < until)
            .group_by(m.conversation_id)
            .subquery()
        )
        sv = surveys.c
        answered = and_(
            sv.conversation_id == m.conversation_id, sv.status == SurveyStatus.ANSWERED.value
        )
        rows = await self._engines.read.all(
            select(m.conversation_id, m.text, c.created_at, c.closed_at, c.sentiment, sv.csat)
            .select_from(
                cs.messages.join(
                    first, and_(first.c.conversation_id == m.conversation_id, first.c.seq == m.seq)
                )
                .join(cs.conversations, c.id == m.conversation_id)
                .outerjoin(surveys, answered)
            )
            .order_by(m.conversation_id)
            .limit(limit)
        )
        found = []
        for r in rows:
            handle = None
            if r.closed_at is not None:
                handle = (as_utc(r.closed_at) - as_utc(r.created_at)).total_seconds()
            rolling = (r.sentiment or {}).get("rolling")
            found.append(
                FirstMessage(
                    r.conversation_id,
                    r.text,
                    handle,
                    float(rolling) if isinstance(rolling, int | float) else None,
                    r.csat,
                )
            )
        return found

    async def save_topic_run(
        self, since: datetime, until: datetime, result: dict[str, Any], now: datetime
    ) -> str:
        run_id = new_id("top")
        async with self._engines.write.begin() as conn:
            await conn.execute(
                insert(t.topic_runs).values(
                    id=run_id, since=since, until=until, result=result, created_at=now
                )
            )
        return run_id

    async def latest_topic_run(self) -> dict[str, Any] | None:
        """The result of the most recent topic run, with its ``run_id``."""
        r = t.topic_runs.c
        row = await self._engines.read.first(
            select(r.id, r.result).order_by(r.created_at.desc(), r.id.desc()).limit(1)
        )
        if row is None:
            return None
        return {**row.result, "run_id": row.id}


def _hit(row: Any, score: float) -> Hit:
    return Hit(
        id=row.id,
        title=row.title,
        text=row.plain,
        score=round(score, 6),
        status=Status(row.status),
        language=row.language,
        product=row.product,
    )
