"""The I/O shell around the bots: bot first, then people.

A conversation whose first customer message puts it in a queue a bot serves
(intake rules decide the queue, as for people) is assigned to the bot's
account at once, without an offer, and stays out of the router. Customer
messages then reach the bot: over its ``/ws/agent`` connection as they do
for agents, or POSTed to its webhook or Rasa URL one at a time, in order, the
answers posted as the bot's messages. Every customer message is first read
for a request for a person (``bots.asks_for_person``).

A person who transfers a conversation into a queue a bot serves gives it to
that bot the same way (``transferred``): the bot gets the customer's latest
message again, with the transcript, and routing leaves it alone; a bot
that is unavailable then (at capacity, disconnected) sends it to people
with the reason.

A hand-off (asked by the bot, or forced by a failure: timeout, error, a
websocket bot gone past its grace, the customer asking) moves the
conversation back to ``queued`` and into the router for people only, and is
stored twice: as a ``handoff`` timeline event and on the bot session, which
is where an offer's ``context.handoff`` is read from and what a restart
rebuilds bot-held conversations from.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

import egress
import router as r
from bots import (
    SIGNATURE_HEADER,
    BadAnswer,
    BotConfig,
    Handoff,
    HandoffBody,
    HandoffRequest,
    Reason,
    Reply,
    SessionState,
    asks_for_person,
    decide,
    failure,
    parse_rasa_answer,
    parse_webhook_answer,
    sign,
)
from bots.handoff import CUSTOMER_ASKED
from bots.store import CLOSED_BY_BOT, BotReport, BotStore
from bots.wire import rasa_payload, webhook_payload
from conversations import (
    AppendRequest,
    AppendResult,
    Conversation,
    ConversationStatus,
    User,
    UserExists,
)
from conversations.errors import ConversationNotFound, IllegalTransition, StoreError
from conversations.models import Message
from conversations.times import utcnow
from gateway.auth import Principal
from gateway.errors import BadRequest, Conflict, Forbidden, GatewayError
from gateway.hub import Event, user_topic
from gateway.services import Services
from gateway.settings import Settings
from router.intake import Intake

log = logging.getLogger(__name__)

UNUSABLE_PASSWORD = "!bot-account-without-password"
"""Not an argon2 hash: nobody logs in with it (give the account a password
in ``[[users]]`` for a bot that calls the HTTP API)."""


TRANSCRIPT = 100
"""Most messages sent to a webhook bot with a conversation transferred to it."""


@dataclass
class _Held:
    bot: str
    user_id: str
    forwarded: int = 0
    """The last message seq the bot has been given (or read for phrases)."""
    replayed: int = 0
    """Messages up to this seq were written before a transfer to the bot: the
    bot is given them, but they are not read as a request for a person (they
    were meant for whoever had the conversation)."""
    transfer: dict[str, Any] | None = None
    """``{"from", "note", "transcript"}`` for the next webhook call, after a transfer."""


class BotRuntime:
    """One per process; ``services.bots``."""

    def __init__(self, services: Services, settings: Settings) -> None:
        self._services = services
        self.configs = {bot.name: bot for bot in settings.bots}
        self._by_queue = {queue: bot for bot in settings.bots for queue in bot.queues}
        self._intake = Intake(settings.routing)
        self._queues = frozenset(settings.routing.queues)
        self._users: dict[str, User] = {}
        self._names: dict[str, str] = {}
        """Bot account id -> bot name."""
        self._held: dict[str, _Held] = {}
        self._handoffs: dict[str, dict[str, Any] | None] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._sockets: Counter[str] = Counter()
        self._gone_since: dict[str, float] = {}
        self._grace: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._http: dict[str, httpx.AsyncClient] = {}
        """Per webhook or Rasa bot: its own egress-guarded client."""
        self._waiting: dict[str, dict[str, Any]] = {}
        """Hand-offs still waiting for a person at start (``handoff_skills``)."""
        self.store = BotStore(services.store.engines)

    # -- lifecycle ------------------------------------------------------------

    async def prepare(self) -> None:
        """Find the bot accounts that exist; before routing starts, which must
        know them to leave them out. An account created later (``[[users]]``
        or the admin API) is recognised when it appears (``claims``); a
        webhook or Rasa bot without one gets one at its first conversation."""
        for name in self.configs:
            user = await self._services.store.user_by_name(name)
            if user is not None:
                self.claims(user)
        self._waiting = await self.store.handed_off_waiting()

    def handoff_skills(self, cid: str) -> tuple[r.SkillRequirement, ...] | None:
        """For routing's rebuild: the skills of a hand-off still waiting for a
        person (None when the conversation was not handed off by a bot)."""
        record = self._waiting.pop(cid, None)
        if record is None:
            return None
        skills = record.get("skills") or []
        return tuple(r.SkillRequirement(s["name"], int(s.get("level", 1))) for s in skills)

    async def _account(self, bot: BotConfig) -> User | None:
        user = self._users.get(bot.name)
        if user is not None or bot.connector == "websocket":
            return user  # a websocket bot without an account cannot be connected
        store = self._services.store
        found = await store.user_by_name(bot.name)
        if found is None:
            with contextlib.suppress(UserExists):  # created meanwhile
                await store.create_user(
                    username=bot.name,
                    role="bot",
                    password_hash=UNUSABLE_PASSWORD,
                    display_name=bot.name,
                )
            found = await store.user_by_name(bot.name)
        return self._users.get(bot.name) if found is not None and self.claims(found) else None

    async def start(self) -> None:
        # Every bot URL goes through the egress guard; the address the config
        # names literally (a Rasa on 127.0.0.1) is allowed to that bot's client.
        policy = self._services.settings.security.egress()
        for name, bot in self.configs.items():
            url = bot.webhook or bot.rasa
            if url is not None:
                self._http[name] = egress.async_client(policy.for_destinations([url]))
        now = time.monotonic()
        for name, bot in self.configs.items():
            if bot.connector == "websocket":
                self._gone_since[name] = now
                self._grace[name] = asyncio.create_task(self._grace_period(name))
        await self._rebuild()
        self._services.commit_listeners.append(self._on_commit)
        self._services.status_listeners.append(self._on_status)

    async def stop(self) -> None:
        for listeners, hook in (
            (self._services.commit_listeners, self._on_commit),
            (self._services.status_listeners, self._on_status),
        ):
            with contextlib.suppress(ValueError):
                listeners.remove(hook)  # type: ignore[arg-type]
        tasks = [*self._grace.values(), *self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in self._http.values():
            await client.aclose()

    async def _rebuild(self) -> None:
        """Bot-held conversations are the ones assigned to a bot account; a
        session the store still calls held but whose conversation moved on
        (the process died mid-way) is ended."""
        store = self._services.store
        held_now: set[str] = set()
        for name, user in self._users.items():
            for conversation in await store.assigned_to(user.id, limit=100_000):
                cid = conversation.id
                held_now.add(cid)
                self._held[cid] = _Held(name, user.id, await self._answered_up_to(conversation))
                session = await self.store.get(cid)
                if session is None or session.state is not SessionState.HELD:
                    await self.store.start(cid, name, user.id, conversation.created_at)
                if self._held[cid].forwarded < conversation.last_seq:
                    self._kick(cid)
        for session in await self.store.held():
            if session.conversation_id not in held_now:
                await self._ended_elsewhere(session.conversation_id)

    async def _answered_up_to(self, conversation: Conversation) -> int:
        """After a restart: customer messages after the bot's last turn may
        never have reached it (the process died mid-call); they are sent
        again rather than left unanswered. Only a websocket bot reads the
        transcript itself."""
        if self.configs[self._names[conversation.assigned_agent_id or ""]].connector == "websocket":
            return conversation.last_seq
        recent = await self._services.store.messages_after(
            conversation.id, max(0, conversation.last_seq - 20)
        )
        answered = [m.seq for m in recent if m.sender_role != "customer"]
        if answered:
            return max(answered)
        return recent[0].seq - 1 if recent else conversation.last_seq

    # -- who is a bot ---------------------------------------------------------

    def is_bot(self, user_id: str) -> bool:
        """A configured bot's account: the router leaves it out."""
        return user_id in self._names

    def claims(self, user: User) -> bool:
        """Whether ``user`` is the account of a configured bot (and learn it
        if new). The account must have the role ``bot``."""
        if user.id in self._names:
            return True
        if user.username not in self.configs:
            return False
        if user.role != "bot":
            log.error("[[bots]] %r: the account is a %s, not a bot", user.username, user.role)
            return False
        if user.disabled:
            log.warning("[[bots]] %r: the account is disabled", user.username)
            return False
        self._users[user.username] = user
        self._names[user.id] = user.username
        return True

    def holds(self, conversation_id: str) -> bool:
        return conversation_id in self._held

    def _available(self, bot: BotConfig) -> bool:
        return self._unavailable_because(bot) is None

    def _unavailable_because(self, bot: BotConfig) -> str | None:
        """Why the bot cannot take a conversation now, or None when it can."""
        if bot.capacity is not None:
            load = sum(1 for h in self._held.values() if h.bot == bot.name)
            if load >= bot.capacity:
                return f"{bot.name} is at its capacity of {bot.capacity} conversations"
        if bot.connector != "websocket" or self._sockets[bot.name] > 0:
            return None
        gone = self._gone_since.get(bot.name)
        if gone is not None and time.monotonic() - gone < bot.grace:
            return None
        return f"{bot.name} is not connected"

    # -- bot first --------------------------------------------------------------

    async def take(self, conversation: Conversation, item: r.WorkItem) -> bool:
        """Give a conversation that has just arrived to the bot serving the
        queue intake puts it in; False to route it to people as usual (also
        when anything goes wrong before the bot has it)."""
        try:
            return await self._take(conversation, item)
        except Exception:
            log.exception("giving %s to a bot failed; it goes to people", conversation.id)
            self._held.pop(conversation.id, None)
            return False

    async def _take(self, conversation: Conversation, item: r.WorkItem) -> bool:
        decision = self._intake.decide(item)
        bot = self._by_queue.get(decision.queue)
        if bot is None or not self._available(bot):
            return False
        user = await self._account(bot)
        if user is None:
            return False
        cid, store = conversation.id, self._services.store
        if conversation.queue != decision.queue or conversation.priority != decision.priority:
            await store.set_routing(
                cid,
                queue=decision.queue,
                priority=decision.priority,
                actor="bots",
                reason="bot first",
            )
        self._held[cid] = _Held(bot.name, user.id)
        try:
            await self._services.assign(cid, user.id, actor="bots", via_router=True)
        except GatewayError:
            self._held.pop(cid, None)
            return False
        try:
            await self.store.start(cid, bot.name, user.id, utcnow())
        except Exception:  # the bot has it; a restart rebuilds the session row
            log.exception("recording the bot session of %s failed", cid)
        self._kick(cid)
        return True

    # -- transfers into a bot's queue ------------------------------------------------

    def transferred(
        self, conversation: Conversation, from_agent: str | None, note: str | None
    ) -> bool:
        """Someone transferred ``conversation`` into ``conversation.queue``.

        Into a queue a bot serves, with the bot available: the bot takes it
        as it takes a new conversation (assigned at once, without an offer)
        and True is returned: routing must leave it alone. The bot is given
        the customer's latest message again; a webhook bot also gets the
        transcript (``transfer`` in the call's body), a websocket bot the
        whole conversation over its connection. Should the bot not get it
        after all (no account, the assignment refused), it goes to people
        with reason ``error``.

        False: routing goes on as for any transfer. For a queue a bot serves
        but the bot is unavailable (at capacity, disconnected), the offer to
        people then carries ``context.handoff`` with reason ``error`` and
        why. A conversation a bot held (a supervisor moved it) ends that
        bot's session first either way."""
        bot = self._by_queue.get(conversation.queue)
        if bot is None:
            return False
        cid = conversation.id
        previous = self._held.pop(cid, None)
        self._locks.pop(cid, None)
        why = self._unavailable_because(bot)
        if why is None:
            self._spawn(
                self._take_transferred(conversation, bot, previous is not None, from_agent, note)
            )
            return True
        handoff = self._failed_handoff(bot, conversation.queue, why)
        self._handoffs[cid] = handoff.offer_context()  # the offer may be made at once
        self._spawn(self._record_unavailable(cid, previous is not None, handoff.to_record()))
        log.info("%s transferred to %s, but %s: to people", cid, bot.name, why)
        return False

    def _failed_handoff(self, bot: BotConfig, queue: str, why: str) -> Handoff:
        reason, summary = failure("unavailable", why)
        handoff, _ = decide(bot.name, reason, None, queue, self._queues, detail=summary)
        return handoff

    async def _record_unavailable(
        self, cid: str, ended_previous: bool, record: dict[str, Any]
    ) -> None:
        if ended_previous:
            await self.store.end(cid, SessionState.HANDED_OFF, utcnow(), reason="staff")
        await self._services.store.add_event(cid, "handoff", "bots", record)

    async def _take_transferred(
        self,
        conversation: Conversation,
        bot: BotConfig,
        ended_previous: bool,
        from_agent: str | None,
        note: str | None,
    ) -> None:
        cid, store = conversation.id, self._services.store
        if ended_previous:
            await self.store.end(cid, SessionState.HANDED_OFF, utcnow(), reason="staff")
        user = await self._account(bot)
        if user is None:
            await self._transfer_failed(cid, bot, f"{bot.name} has no account")
            return
        recent = await store.messages_after(cid, max(0, conversation.last_seq - TRANSCRIPT))
        customer_seqs = [m.seq for m in recent if m.sender_role == "customer"]
        by = await store.user_by_id(from_agent) if from_agent else None
        held = _Held(
            bot.name,
            user.id,
            forwarded=max(customer_seqs) - 1 if customer_seqs else conversation.last_seq,
            replayed=conversation.last_seq,
            transfer={
                "from": (by.display_name or by.username) if by is not None else None,
                "note": note,
                "transcript": [m.to_wire() for m in recent],
            },
        )
        self._held[cid] = held
        try:
            await self._services.assign(cid, user.id, actor="bots", via_router=True)
        except GatewayError as exc:
            if self._held.get(cid) is held:
                self._held.pop(cid, None)
            await self._transfer_failed(cid, bot, f"{bot.name} could not take it ({exc.message})")
            return
        try:
            await self.store.start(cid, bot.name, user.id, utcnow())
        except Exception:  # the bot has it; a restart rebuilds the session row
            log.exception("recording the bot session of %s failed", cid)
        self._handoffs.pop(cid, None)
        log.info("%s transferred to the bot %s", cid, bot.name)
        self._kick(cid)

    async def _transfer_failed(self, cid: str, bot: BotConfig, why: str) -> None:
        """The bot did not get a conversation transferred to it: people get
        it in that queue, unless it moved on meanwhile (closed, taken)."""
        try:
            current = await self._services.store.get_conversation(cid)
        except ConversationNotFound:
            return
        if current.status not in (ConversationStatus.QUEUED, ConversationStatus.OFFERED):
            return
        handoff = self._failed_handoff(bot, current.queue, why)
        await self._services.store.add_event(cid, "handoff", "bots", handoff.to_record())
        self._handoffs[cid] = handoff.offer_context()
        if self._services.routing is not None:
            self._services.routing.handed_off(current, None)

    # -- customer messages --------------------------------------------------------

    def _on_commit(self, results: Any) -> None:
        for result in results:
            assert isinstance(result, AppendResult)
            message = result.message
            if message.sender_role == "customer" and message.conversation_id in self._held:
                self._kick(message.conversation_id)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("bot task failed", exc_info=task.exception())

    def _kick(self, cid: str) -> None:
        self._spawn(self._drain(cid))

    async def _drain(self, cid: str) -> None:
        """Give the bot the customer messages it has not had, in order, one
        call at a time per conversation. Whatever goes wrong here hands the
        conversation to people rather than leave the customer with nobody."""
        try:
            await self._drain_held(cid)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("passing messages of %s to its bot failed", cid)
            _, summary = failure("invalid", f"internal error ({type(exc).__name__})")
            await self._hand_off(cid, None, Reason.ERROR, detail=summary)

    async def _drain_held(self, cid: str) -> None:
        lock = self._locks.setdefault(cid, asyncio.Lock())
        async with lock:
            held = self._held.get(cid)
            if held is None:
                return
            bot = self.configs[held.bot]
            store = self._services.store
            try:
                conversation = await store.get_conversation(cid)
            except ConversationNotFound:
                return
            for message in await store.messages_after(cid, held.forwarded):
                if self._held.get(cid) is not held:
                    return  # handed off or closed meanwhile
                held.forwarded = max(held.forwarded, message.seq)
                if message.sender_role != "customer":
                    continue
                if message.seq > held.replayed and asks_for_person(
                    message.text, conversation.language, bot.phrases()
                ):
                    await self._hand_off(cid, None, Reason.CUSTOMER_REQUEST, detail=CUSTOMER_ASKED)
                    return
                if bot.connector == "websocket":
                    continue  # it has the message over its connection already
                transfer, held.transfer = held.transfer, None
                reply = await self._call(bot, conversation, message, transfer)
                if reply is None or not await self._apply(bot, conversation, message, reply):
                    return

    async def _call(
        self,
        bot: BotConfig,
        conversation: Conversation,
        message: Message,
        transfer: dict[str, Any] | None = None,
    ) -> Reply | None:
        """One message to a webhook or Rasa bot; None when the call failed
        and the conversation went to people. ``transfer`` goes to a webhook
        bot only (Rasa's REST channel has no place for it)."""
        http = self._http[bot.name]
        if bot.webhook is not None:
            assert bot.secret is not None
            url = bot.webhook
            body = webhook_payload(
                conversation.id,
                message.to_wire(),
                conversation.customer.to_wire(),
                conversation.context,
                transfer,
            )
            headers = {"content-type": "application/json", SIGNATURE_HEADER: sign(bot.secret, body)}
            parse = parse_webhook_answer
        else:
            assert bot.rasa is not None
            url, body = bot.rasa, rasa_payload(conversation.id, message.text)
            headers = {"content-type": "application/json"}
            parse = parse_rasa_answer
        kind, detail = "", ""
        try:
            async with asyncio.timeout(bot.timeout):  # the whole call, not each read
                response = await http.post(url, content=body, headers=headers, timeout=bot.timeout)
        except (httpx.TimeoutException, TimeoutError):
            kind, detail = "timeout", f"no answer within {bot.timeout:g}s"
        except httpx.HTTPError as exc:
            kind, detail = "connection", f"{type(exc).__name__}: {exc}".rstrip(": ")
        else:
            if response.status_code >= 300:
                kind, detail = "status", f"HTTP {response.status_code} from {url}"
            else:
                try:
                    return parse(response.content)
                except BadAnswer as exc:
                    kind, detail = "invalid", str(exc)
        reason, summary = failure(kind, detail)
        log.warning("bot %s failed on %s: %s", bot.name, conversation.id, detail)
        await self._hand_off(conversation.id, None, reason, detail=summary)
        return None

    async def _apply(
        self, bot: BotConfig, conversation: Conversation, message: Message, reply: Reply
    ) -> bool:
        """Post the bot's answer, then carry out its hand-off or close; False
        when the bot no longer holds the conversation."""
        user = self._users[bot.name]
        for index, text in enumerate(reply.texts):
            await self.post(user, conversation, text, f"{message.id}:{index}")
        if reply.handoff is not None:
            await self._hand_off(conversation.id, reply.handoff, Reason.BOT)
            return False
        if reply.close:
            with contextlib.suppress(GatewayError):
                await self._services.close(conversation.id, _principal(user))
            return False
        return True

    async def post(
        self, user: User, conversation: Conversation, text: str, client_msg_id: str
    ) -> AppendResult | None:
        request = AppendRequest(
            conversation_id=conversation.id,
            sender_role="bot",
            sender_id=user.id,
            sender_name=user.display_name or user.username,
            text=text,
            channel=conversation.channel,
            client_msg_id=client_msg_id,
        )
        try:
            return await self._services.submit_message(request)
        except StoreError as exc:
            log.warning("bot message in %s not stored: %s", conversation.id, exc)
            return None

    # -- hand-off -----------------------------------------------------------------

    async def handoff_by(self, who: Principal, cid: str, body: HandoffBody) -> Conversation:
        """A bot asks for a hand-off (``handoff`` frame or HTTP call)."""
        if not self.is_bot(who.id):
            raise Forbidden("only a configured bot hands off", code="not_a_bot")
        held = self._held.get(cid)
        if held is None or held.user_id != who.id:
            raise Conflict("this bot does not hold the conversation", code="not_held")
        conversation, error = await self._hand_off(cid, body.request(), Reason.BOT)
        if error is not None:
            raise BadRequest(
                f"{error}; the conversation went to people in its current queue",
                code="unknown_queue",
            )
        if conversation is None:
            raise Conflict("the conversation is closed", code="closed")
        return conversation

    async def _hand_off(
        self,
        cid: str,
        request: HandoffRequest | None,
        reason: Reason,
        *,
        detail: str | None = None,
    ) -> tuple[Conversation | None, str | None]:
        """Move a bot-held conversation to people. Returns it (None when it
        was closed meanwhile) and the error of a request for an unknown queue
        (the hand-off then goes to its current queue)."""
        held = self._held.pop(cid, None)
        if held is None:
            return None, None
        services, store = self._services, self._services.store
        try:
            current = await store.get_conversation(cid)
            handoff, error = decide(
                held.bot, reason, request, current.queue, self._queues, detail=detail
            )
            conversation = await store.change_status(
                cid,
                ConversationStatus.QUEUED,
                actor=held.user_id,
                queue=handoff.queue,
                data={
                    "reason": "handoff",
                    "handoff_reason": handoff.reason.value,
                    "from_agent": held.user_id,
                },
            )
        except (ConversationNotFound, IllegalTransition):
            await self._ended_elsewhere(cid)
            return None, None
        if handoff.priority is not None:
            conversation = await store.set_routing(
                cid, priority=handoff.priority, actor=held.user_id, reason="handoff"
            )
        await store.add_event(cid, "handoff", held.user_id, handoff.to_record())
        await self.store.end(
            cid,
            SessionState.HANDED_OFF,
            utcnow(),
            reason=handoff.reason.value,
            handoff=handoff.to_record(),
        )
        self._handoffs[cid] = handoff.offer_context()
        self._locks.pop(cid, None)
        skills = None
        if handoff.skills is not None:
            skills = tuple(r.SkillRequirement(s.name, s.level) for s in handoff.skills)
        if services.routing is not None:
            services.routing.handed_off(conversation, skills)
        services.announce_status(conversation)
        services.hub.publish(Event(user_topic(held.user_id), "detach", conversation_id=cid))
        log.info("%s handed %s to people (%s)", held.bot, cid, handoff.reason.value)
        return conversation, error

    async def handoff_of(self, cid: str) -> dict[str, Any] | None:
        """``context.handoff`` for an offer of this conversation, if a bot had it."""
        if cid in self._handoffs:
            return self._handoffs[cid]
        session = await self.store.get(cid)
        found = None
        if session is not None and session.state is SessionState.HANDED_OFF and session.handoff:
            found = {k: session.handoff.get(k) for k in ("from", "reason", "summary", "context")}
        self._handoffs[cid] = found
        return found

    # -- conversations that move on without the bot's say -----------------------------

    def _on_status(self, conversation: Conversation) -> None:
        cid = conversation.id
        if conversation.status == ConversationStatus.CLOSED.value:
            self._handoffs.pop(cid, None)
        held = self._held.get(cid)
        if held is None:
            return
        if (
            conversation.status == ConversationStatus.ASSIGNED.value
            and conversation.assigned_agent_id == held.user_id
        ):
            return
        self._held.pop(cid, None)
        self._locks.pop(cid, None)
        self._spawn(self._ended_elsewhere(cid))

    async def _ended_elsewhere(self, cid: str) -> None:
        """The conversation left the bot by another path: closed (by the bot
        itself, the customer or staff), or taken or moved by staff."""
        try:
            conversation = await self._services.store.get_conversation(cid)
        except ConversationNotFound:
            return
        now = utcnow()
        if conversation.status == ConversationStatus.CLOSED.value:
            closer = None
            for event in reversed(await self._services.store.timeline(cid)):
                if event.type == ConversationStatus.CLOSED.value:
                    closer = event.actor
                    break
            if closer is not None and closer in self._names:
                reason = CLOSED_BY_BOT
            elif closer == conversation.customer.id:
                reason = "customer"
            else:
                reason = "staff"
            await self.store.end(cid, SessionState.CLOSED, now, reason=reason)
        else:
            await self.store.end(cid, SessionState.HANDED_OFF, now, reason="staff")

    # -- websocket bots -------------------------------------------------------------

    def connected(self, user_id: str) -> None:
        name = self._names[user_id]
        self._sockets[name] += 1
        task = self._grace.pop(name, None)
        if task is not None:
            task.cancel()

    def disconnected(self, user_id: str) -> None:
        name = self._names.get(user_id)
        if name is None:
            return
        self._sockets[name] = max(0, self._sockets[name] - 1)
        if self._sockets[name] == 0 and name not in self._grace:
            self._gone_since[name] = time.monotonic()
            self._grace[name] = asyncio.create_task(self._grace_period(name))

    async def _grace_period(self, name: str) -> None:
        bot = self.configs[name]
        await asyncio.sleep(bot.grace)
        self._grace.pop(name, None)
        if self._sockets[name] > 0:
            return
        _, summary = failure("gone", f"disconnected for over {bot.grace:g}s")
        for cid in [c for c, h in self._held.items() if h.bot == name]:
            await self._hand_off(cid, None, Reason.ERROR, detail=summary)

    # -- supervisors ------------------------------------------------------------------

    async def report(self, since: Any, until: Any) -> BotReport:
        return await self.store.report(since, until)

    def held_conversations(self) -> list[dict[str, str]]:
        return [{"conversation_id": cid, "bot": h.bot} for cid, h in self._held.items()]


def _principal(user: User) -> Principal:
    return Principal("user", user.id, user.role, user.display_name or user.username, user=user)
