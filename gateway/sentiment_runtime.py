"""Live sentiment: every stored message is scored off the event loop, and the
score follows the message to staff as a ``sentiment`` frame.

Delivery never waits for scoring: scoring starts from the commit hook, after
the message has already been announced, one task per committed batch (not
per message: under load a batch holds hundreds). Batches may be scored out of
order, so each applies its scores only after the one before it (a chain of
futures), in the batch's order, which is ``seq`` order within a conversation:
the rolling customer score is then the same as if the messages had been
scored one by one. Only the customer's messages move the
conversation's score and its alerts; agent messages are scored for tone
coaching and kept apart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from conversations import AppendResult, Message
from gateway.frames import dumps
from gateway.hub import SUPERVISORS, Event, conv_topic
from gateway.services import Services
from sentiment import (
    Alert,
    AlertState,
    ConversationSentiment,
    Sentiment,
    SentimentConfig,
    SentimentWorker,
    evaluate_alerts,
)

log = logging.getLogger(__name__)

SCORED_ROLES = ("customer", "agent")
MAX_REMEMBERED = 50_000
"""Conversations whose rolling state stays in memory."""


@dataclass
class _Conversation:
    state: ConversationSentiment = field(default_factory=ConversationSentiment)
    alerts: AlertState = field(default_factory=AlertState)
    loaded: bool = False


class SentimentRuntime:
    def __init__(self, services: Services, config: SentimentConfig) -> None:
        self._services = services
        self._config = config
        self._worker = SentimentWorker.from_config(config)
        self._conversations: dict[str, _Conversation] = {}
        """Touched last at the end; only the applying task changes it."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._tail: asyncio.Future[None] | None = None

    async def start(self) -> None:
        await self._worker.start()
        self._services.commit_listeners.append(self._on_commit)

    async def stop(self) -> None:
        self._services.commit_listeners.remove(self._on_commit)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        await self._worker.close()

    def _on_commit(self, results: Sequence[AppendResult]) -> None:
        messages = [
            r.message
            for r in results
            if r.message.sender_role in SCORED_ROLES and r.message.text.strip()
        ]
        if not messages:
            return
        previous, self._tail = self._tail, asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._score(messages, previous, self._tail))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _score(
        self,
        messages: list[Message],
        previous: asyncio.Future[None] | None,
        done: asyncio.Future[None],
    ) -> None:
        try:
            try:
                scores = await self._worker.score_many([m.text for m in messages])
            finally:
                if previous is not None:
                    await previous  # apply in commit order
            for message, sentiment in zip(messages, scores, strict=True):
                try:
                    await self._apply(message, self._entry(message.conversation_id), sentiment)
                except Exception:
                    log.exception("applying the score of message %s failed", message.id)
        except Exception:
            log.exception("scoring %d messages failed", len(messages))
        finally:
            done.set_result(None)

    def _entry(self, cid: str) -> _Conversation:
        entry = self._conversations.pop(cid, None)
        if entry is None:
            entry = _Conversation()
            if len(self._conversations) >= MAX_REMEMBERED:
                # Forget the least recently scored; it reloads from the store.
                del self._conversations[next(iter(self._conversations))]
        self._conversations[cid] = entry
        return entry

    async def _apply(self, message: Message, entry: _Conversation, sentiment: Sentiment) -> None:
        store, cid = self._services.store, message.conversation_id
        if not entry.loaded:
            saved = (await store.get_conversation(cid)).sentiment or {}
            entry.state = ConversationSentiment.from_dict(saved.get("state"))
            entry.alerts = AlertState.from_dict(saved.get("alerts"))
            entry.loaded = True
        cfg = self._config
        entry.state = entry.state.observe(
            message.sender_role, sentiment.score, alpha=cfg.alpha, window=cfg.window
        )
        alerts: list[Alert] = []
        if message.sender_role == "customer":
            alerts, entry.alerts = evaluate_alerts(cfg.alerts, entry.state.customer, entry.alerts)
        customer = entry.state.customer
        summary: dict[str, Any] = {
            "rolling": customer.value,
            "trend": customer.trend(cfg.trend_over),
            "label": _label(customer.value, cfg.neutral_band),
            "messages": customer.count,
            "agent_rolling": entry.state.agent.value,
            "state": entry.state.to_dict(),
            "alerts": entry.alerts.to_dict(),
        }
        store.record_sentiment(message.id, cid, sentiment.score, sentiment.label.value, summary)
        frame = {
            "type": "sentiment",
            "conversation_id": cid,
            "message_id": message.id,
            "seq": message.seq,
            "role": message.sender_role,
            "score": round(sentiment.score, 4),
            "label": sentiment.label.value,
            "rolling": None if customer.value is None else round(customer.value, 4),
            "trend": summary["trend"],
        }
        hub = self._services.hub
        hub.publish(Event(conv_topic(cid), "frame", dumps(frame), cid, staff_only=True))
        for alert in alerts:
            body = {"type": "sentiment_alert", "conversation_id": cid, **alert.to_dict()}
            hub.publish(Event(SUPERVISORS, "frame", dumps(body), cid))
            await self._services.sentiment_action(cid, alert.action)


def _label(value: float | None, band: float) -> str | None:
    if value is None:
        return None
    return "positive" if value > band else "negative" if value < -band else "neutral"
