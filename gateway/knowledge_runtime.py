"""The knowledge base's live part: suggestions pushed after customer
messages, the in-memory indexes they rank with, and topic runs.

``KnowledgeRuntime`` is started in ``app.lifespan``; the HTTP side
(``gateway/knowledge_api.py``) reaches it as ``app.state.knowledge``.

Suggestions are advice: they are computed after the message is stored and
delivered, two at a time at most, for at most ``PUSHING_MAX`` conversations
waiting at once, and a conversation's messages that arrive meanwhile are
folded into one more pass, made ``REPASS_S`` after the last: a customer
typing fast costs a pass per interval, not one per message. The article and
similar-conversation indexes are rebuilt, and queried, off the event loop
when what they hold changed: at once for a change made on this node, within
``SIMILAR_CHECK_S`` for one made on another.

With ``[knowledge] encoder`` the article index also embeds the articles
when it is built, and each ranking embeds the customer's text on the
encoder's own single thread (``EMBEDDING_MAX`` waiting at most; past that,
or if the encoder fails, articles are ranked lexically).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from conversations import AppendResult, Conversation
from conversations.models import rfc3339
from gateway import tasks
from gateway.auth import Principal
from gateway.frames import dumps
from gateway.hub import Event, conv_topic
from gateway.ratelimit import AddressBuckets
from gateway.services import Services
from knowledge.config import KnowledgeConfig
from knowledge.store import Closed, KnowledgeStore
from knowledge.text import snippet, terms

if TYPE_CHECKING:
    from intents.encoder import Encoder
    from knowledge.similar import SimilarIndex
    from knowledge.suggest import Entry, SuggestionIndex

log = logging.getLogger(__name__)

PUSHING_MAX = 200
"""Conversations whose suggestions may wait to be computed at once; past
that, a customer message brings none (suggestions are advice, and a flood
of them must not crowd out the reads that deliver messages)."""
CONCURRENT_PUSHES = 2
REPASS_S = 3.0
"""Least time between two passes for one conversation."""
IDLE_S = 1.0
"""After a pass found nothing to suggest from (no live article, no similar
conversation), customer messages start no pass for this long: on a base
with no articles that is one task a second instead of one per message."""
SIMILAR_CHECK_S = 10.0
"""How often, at most, the similar-conversation index checks whether
conversations were closed since it was built."""
EMBEDDING_MAX = 8
"""Customer texts that may wait for the encoder at once (a forward pass
costs milliseconds); a ranking past that is lexical, so a burst of widget
requests cannot queue passes behind it without bound."""


def _now() -> datetime:
    return datetime.now(UTC)


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else rfc3339(moment.astimezone(UTC))


def _mean(values: Sequence[float | int | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known) / len(known), 3) if known else None


def _warm() -> None:
    for module in ("knowledge.topics", "knowledge.similar", "knowledge.suggest"):
        importlib.import_module(module)


def _rebuild_after(index: SimilarIndex) -> float:
    """Seconds an index stays in use before it is rebuilt with the newly
    closed conversations: building it holds the interpreter (tokenising runs
    in Python), about 0.1 ms a conversation, so a big one is rebuilt at most
    once a minute and a small one at once."""
    return min(60.0, len(index.keys) / 200)


class KnowledgeRuntime:
    """The knowledge base's live part: store, similar-conversation index, and
    the ``suggestions`` push after customer messages."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.store = KnowledgeStore(services.store.engines)
        self._warming: asyncio.Future[object] | None = None
        self.config: KnowledgeConfig = services.settings.knowledge
        self._similar: SimilarIndex | None = None
        self._closed: dict[str, Closed] = {}
        self._marker: tuple[int, datetime | None] | None = None
        self._building = asyncio.Lock()
        self._running: set[str] = set()
        self._idle_until = 0.0
        self._again: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._computing = asyncio.Semaphore(CONCURRENT_PUSHES)
        self._built_at = 0.0
        self._schedule: asyncio.Task[None] | None = None
        self._articles: SuggestionIndex | None = None
        self._articles_marker: tuple[int, datetime | None] | None = None
        self._articles_stale = False
        self._similar_stale = False
        self._checked: dict[str, float] = {}
        self._checking: dict[str, asyncio.Task[object]] = {}
        self._indexing = asyncio.Lock()
        self.widget_limits = AddressBuckets(self.config.widget_per_second, self.config.widget_burst)
        self._encoder: Encoder | None = None
        self._encoder_thread: ThreadPoolExecutor | None = None
        self._embedding = 0
        if self.config.encoder is not None:
            from intents.encoder import load_encoder  # loaded by the config check: cached

            self._encoder = load_encoder(self.config.encoder)
            self._encoder_thread = ThreadPoolExecutor(1, thread_name_prefix="knowledge-encoder")

    async def start(self) -> None:
        # scikit-learn (topics) takes over a second to import: on a thread,
        # while the rest of start-up goes on (``loaded`` waits for it).
        self._warming = asyncio.get_running_loop().run_in_executor(None, _warm)
        self.services.commit_listeners.append(self._on_commit)
        self.services.status_listeners.append(self._on_status)
        if self.config.topics_every is not None:
            self._schedule = asyncio.create_task(self._topics_on_schedule())

    async def loaded(self) -> None:
        """Wait until the libraries suggestions and topics need are imported.

        Start-up waits for this before it freezes what it loaded out of the
        collector's full passes. Imported later (on the event loop at the
        first closed conversation, as it was), scikit-learn stalled every
        connection for 0.6 s (py-spy), and its objects, left to the full
        passes, doubled the delivery bench's closed-loop p99."""
        if self._warming is not None:
            await self._warming

    async def stop(self) -> None:
        await tasks.stop(self._schedule)
        if self._on_commit in self.services.commit_listeners:
            self.services.commit_listeners.remove(self._on_commit)
        if self._on_status in self.services.status_listeners:
            self.services.status_listeners.remove(self._on_status)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        if self._encoder_thread is not None:
            self._encoder_thread.shutdown(wait=False, cancel_futures=True)

    def _on_status(self, conversation: Conversation) -> None:
        if conversation.status == "closed":
            self._similar_stale = True  # closed here: the next query looks again
            self._idle_until = 0.0

    def _on_commit(self, results: Sequence[AppendResult]) -> None:
        if asyncio.get_running_loop().time() < self._idle_until:
            return
        for result in results:
            message = result.message
            if result.duplicate or message.sender_role != "customer":
                continue
            cid = message.conversation_id
            if cid in self._running:
                self._again.add(cid)  # one more pass when the running one ends
                continue
            if len(self._running) >= PUSHING_MAX:
                log.debug("suggestions for %s skipped: %d waiting", cid, len(self._running))
                continue
            self._running.add(cid)
            task = asyncio.create_task(self._push(cid))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _push(self, cid: str) -> None:
        try:
            while True:
                self._again.discard(cid)
                try:
                    async with self._computing:
                        if await self._nothing_to_suggest():
                            loop = asyncio.get_running_loop()
                            self._idle_until = loop.time() + IDLE_S
                            return  # no reads per message on a base with no articles
                        text, agent = await self.store.customer_text_and_agent(cid)
                        found = await self._suggest(cid, text, viewer=agent, everything=False)
                except Exception:
                    log.exception("suggestions for %s failed", cid)
                    return
                frame = {"type": "suggestions", "conversation_id": cid, **found}
                self.services.hub.publish(
                    Event(conv_topic(cid), "frame", dumps(frame), cid, staff_only=True)
                )
                if cid not in self._again:
                    return
                await asyncio.sleep(REPASS_S)
        finally:
            self._running.discard(cid)

    async def suggestions(
        self, conversation: Conversation, who: Principal | None
    ) -> dict[str, Any]:
        """What the agent sees beside the conversation. Similar conversations
        are those ``who`` may open: a supervisor any, an agent those it
        handled (``None``: the conversation's assigned agent)."""
        text = await self.store.customer_text(conversation.id)
        viewer = conversation.assigned_agent_id if who is None else who.id
        everything = who is not None and who.sees_everything
        return await self._suggest(conversation.id, text, viewer=viewer, everything=everything)

    async def _suggest(
        self, cid: str, text: str, *, viewer: str | None, everything: bool
    ) -> dict[str, Any]:
        words = terms(text[-1000:])
        ranked = await self._ranked(text, self.config.suggested_articles, _now())
        articles = [
            {"id": e.id, "title": e.title, "score": score, "snippet": snippet(e.body, words)[0]}
            for e, score in ranked
        ]
        if self.config.similar_conversations == 0:
            return {"articles": articles, "similar": []}
        index = await self._similar_index()
        similar = []
        found = index.query(text, k=50, exclude=frozenset({cid}))
        # Subject and case come with the index: no read per candidate.
        for cid, score in found:
            other = self._closed.get(cid)
            if other is None or (not everything and other.agent_id != viewer):
                continue
            similar.append(
                {
                    "conversation_id": cid,
                    "case_id": other.case_id,
                    "score": score,
                    "subject": other.subject,
                }
            )
            if len(similar) >= self.config.similar_conversations:
                break
        return {"articles": articles, "similar": similar}

    async def widget_suggestions(
        self, text: str, limit: int, language: str | None
    ) -> list[dict[str, Any]]:
        """Published articles for what a visitor typed before a chat: ranked
        from memory, then checked against the database, so an article
        unpublished on another node a moment ago is not offered."""
        if not text.strip():
            return []
        now = _now()
        ranked = await self._ranked(text, limit, now, language)
        live = await self.store.live_ids([e.id for e, _ in ranked], now)
        words = terms(text[-1000:])
        return [
            {
                "id": e.id,
                "title": e.title,
                "snippet": snippet(e.body, words)[0],
                "url": f"/kb/{e.id}",
            }
            for e, _ in ranked
            if e.id in live
        ]

    async def _ranked(
        self, text: str, k: int, now: datetime, language: str | None = None
    ) -> list[tuple[Entry, float]]:
        """The ``k`` best live articles for ``text``: fused with the text's
        embedding when an encoder is configured and has room, else lexical."""
        index = await self._article_index()
        vector = None
        if self._encoder_thread is not None and index.embed is not None and len(index):
            if self._embedding < EMBEDDING_MAX:
                self._embedding += 1
                try:
                    vector = await asyncio.get_running_loop().run_in_executor(
                        self._encoder_thread, index.query_vector, text
                    )
                except Exception:
                    log.exception("embedding the customer's text failed; ranking lexically")
                finally:
                    self._embedding -= 1
            else:
                log.debug("encoder busy (%d waiting): ranking lexically", self._embedding)
        return index.query(text, k=k, now=now, language=language, vector=vector)

    async def _nothing_to_suggest(self) -> bool:
        """No live article and no similar conversation can be suggested (both
        indexes answer from memory, looking at the store at most every
        ``SIMILAR_CHECK_S``)."""
        if len(await self._article_index()):
            return False
        if self.config.similar_conversations == 0:
            return True
        return not (await self._similar_index()).keys

    def articles_changed(self) -> None:
        """An article was written or moved on this node: the next suggestion
        waits for the index to take it in (other nodes notice within
        ``SIMILAR_CHECK_S``)."""
        self._articles_stale = True
        self._idle_until = 0.0

    def _check_later(self, key: str, refresh: Callable[[], Coroutine[Any, Any, object]]) -> None:
        """Run ``refresh`` in the background if ``key`` was last looked at
        ``SIMILAR_CHECK_S`` ago: a pass answers from the index it has and
        never waits for the store's count of articles or closings (a few
        milliseconds each at 10,000 rows, once every 10 s: the p99)."""
        now = asyncio.get_running_loop().time()
        if (
            key in self._checking
            or now - self._checked.get(key, -SIMILAR_CHECK_S) < SIMILAR_CHECK_S
        ):
            return
        self._checked[key] = now
        task: asyncio.Task[object] = asyncio.create_task(refresh())
        self._checking[key] = task
        self._tasks.add(task)

        def done(task: asyncio.Task[object]) -> None:
            self._tasks.discard(task)
            self._checking.pop(key, None)
            if not task.cancelled() and task.exception() is not None:
                log.error("refreshing the %s index failed", key, exc_info=task.exception())

        task.add_done_callback(done)

    async def _article_index(self) -> SuggestionIndex:
        if self._articles is None or self._articles_stale:
            return await self._refresh_articles()
        self._check_later("articles", self._refresh_articles)
        return self._articles

    async def _refresh_articles(self) -> SuggestionIndex:
        from knowledge.suggest import SuggestionIndex

        async with self._indexing:
            self._articles_stale = False  # a change from here on marks it again
            loop = asyncio.get_running_loop()
            marker = await self.store.articles_marker()
            self._checked["articles"] = loop.time()
            if self._articles is not None and marker == self._articles_marker:
                return self._articles
            entries = await self.store.published_entries()
            # Articles the previous index analysed are not analysed again.
            embed = None if self._encoder is None else self._encoder.embed
            build = partial(SuggestionIndex, entries, previous=self._articles)
            try:
                index = await loop.run_in_executor(None, partial(build, embed=embed))
            except Exception:
                if embed is None:
                    raise
                log.exception("embedding the articles failed; suggesting lexically")
                index = await loop.run_in_executor(None, build)
            self._articles, self._articles_marker = index, marker
            return index

    async def _similar_index(self) -> SimilarIndex:
        if self._similar is None or self._similar_stale:
            return await self._refresh_similar()
        self._check_later("similar", self._refresh_similar)
        return self._similar

    async def _refresh_similar(self) -> SimilarIndex:
        async with self._building:
            self._similar_stale = False
            loop = asyncio.get_running_loop()
            marker = await self.store.closed_marker()
            now = self._checked["similar"] = loop.time()
            if self._similar is not None and (
                marker == self._marker or now - self._built_at < _rebuild_after(self._similar)
            ):
                return self._similar  # a big index is not rebuilt for every closing
            if self._warming is not None:
                await self._warming
            from knowledge.similar import SimilarIndex  # loaded by start() on a thread

            rows = await self.store.closed_conversations(self.config.similar_from)
            index = await loop.run_in_executor(
                None, SimilarIndex, [r.conversation_id for r in rows], [r.text for r in rows]
            )
            self._closed = {r.conversation_id: r for r in rows}
            self._similar, self._marker = index, marker
            self._built_at = loop.time()
            return index

    async def _topics_on_schedule(self) -> None:
        assert self.config.topics_every is not None
        every = self.config.topics_every.total_seconds()
        while True:
            await asyncio.sleep(every)
            until = _now()
            try:
                await self.topics(until - self.config.topics_period, until, None)
            except Exception:
                log.exception("the scheduled topic run failed")

    async def topics(self, since: datetime, until: datetime, k: int | None) -> dict[str, Any]:
        from knowledge.topics import summarise  # scikit-learn: loaded when first used

        previous_since = since - (until - since)
        current = await self.store.first_messages(since, until)
        previous = await self.store.first_messages(previous_since, since)
        loop = asyncio.get_running_loop()
        summary = await loop.run_in_executor(
            None, summarise, [m.text for m in current], [m.text for m in previous], k
        )
        result: dict[str, Any] = {
            "since": _time(since),
            "until": _time(until),
            "conversations": len(current),
            "previous_conversations": len(previous),
            "topics": [
                {
                    "label": s.label,
                    "terms": list(s.terms),
                    "conversations": s.conversations,
                    "share": s.share,
                    "trend": s.trend,
                    "previous": s.previous,
                    "emerging": s.emerging,
                    "handle_seconds": _mean([current[i].handle_seconds for i in s.members]),
                    "sentiment": _mean([current[i].sentiment for i in s.members]),
                    "csat": _mean([current[i].csat for i in s.members]),
                    "csat_responses": sum(current[i].csat is not None for i in s.members),
                    "examples": [
                        {
                            "conversation_id": current[i].conversation_id,
                            "text": current[i].text[:200],
                        }
                        for i in s.examples
                    ],
                }
                for s in summary
            ],
        }
        result["run_id"] = await self.store.save_topic_run(since, until, result, _now())
        return result
