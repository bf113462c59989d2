"""The running gateway's parts and the operations HTTP and websockets share.

One ``Services`` per process, built at start-up (see ``app.lifespan``): the
store, the message writer, the live hub and the token issuer, plus the
conversation operations (post a message, assign, transfer, close) so that
every entry point (websocket, HTTP, channel webhook, router) changes a
conversation the same way and announces it the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import router as r
from audit import AuditStore
from conversations import (
    AppendRequest,
    AppendResult,
    Conversation,
    ConversationStatus,
    Store,
    User,
)
from conversations.errors import AlreadyAssigned, ConversationNotFound, IllegalTransition
from conversations.writer import MessageWriter
from gateway.address_limits import AddressLimits
from gateway.auth import Principal, TokenIssuer, password_stamp
from gateway.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from gateway.frames import dumps
from gateway.hub import Event, Hub, RedisHub, conv_topic, user_topic
from gateway.login_limits import LoginLimits, login_limits
from gateway.settings import Settings
from sentiment import AlertAction
from sentiment.alerts import ActionKind

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    store: Store
    hub: Hub
    tokens: TokenIssuer
    writer: MessageWriter = field(init=False)
    connections: set[Any] = field(default_factory=set)
    routing: Any = None
    """The ``RoutingShell`` once started (see gateway/routing.py)."""
    sla: Any = None
    """The SLA runtime once started (see gateway/sla_runtime.py)."""
    cases: Any = None
    """The case service once started (see gateway/cases_runtime.py)."""
    bots: Any = None
    """The bot runtime once started (see gateway/bot_runtime.py)."""
    commit_listeners: list[Callable[[Sequence[AppendResult]], None]] = field(default_factory=list)
    """Called after every commit with the new messages (outbound delivery,
    sentiment scoring); must not block."""
    status_listeners: list[Callable[[Conversation], None]] = field(default_factory=list)
    """Called with the conversation after every status change this node
    announces (SLA clocks, surveys, bots); must not block."""

    audit: AuditStore = field(init=False)
    """The audit log (see gateway/audit_api.py)."""
    logins: LoginLimits = field(init=False)
    """Failed sign-ins per address and account (``[security] login_*``), in
    Redis when there is one."""
    address_limits: AddressLimits = field(init=False)
    """New sessions, webhooks and websockets per client address (``[limits]``)."""

    def __post_init__(self) -> None:
        self.writer = MessageWriter(self.store, self._announce_messages)
        self.audit = AuditStore(self.store.engines)
        self.logins = login_limits(self.settings.security, self.settings.redis_url)
        self.address_limits = AddressLimits(self.settings.limits)

    @classmethod
    async def start(cls, settings: Settings) -> Services:
        store = await Store.open(
            settings.database_url, sqlite_synchronous=settings.sqlite_synchronous
        )
        hub: Hub = RedisHub(settings.redis_url) if settings.redis_url else Hub()
        await hub.start()
        secret = settings.secret_key or await store.secret("token-secret")
        tokens = TokenIssuer(
            secret, user_ttl_s=settings.token_ttl_s, visitor_ttl_s=settings.visitor_token_ttl_s
        )
        services = cls(settings=settings, store=store, hub=hub, tokens=tokens)
        return services

    async def stop(self) -> None:
        await self.writer.close()
        await self.logins.close()
        await self.hub.close()
        await self.store.close()

    async def check_ready(self) -> list[str]:
        """Names of required dependencies that are down (empty when ready)."""
        down = []
        try:
            await asyncio.wait_for(self.store.ping(), 2.0)
        except Exception:
            down.append("database")
        if isinstance(self.hub, RedisHub):
            try:
                await asyncio.wait_for(self.hub.ping(), 2.0)
            except Exception:
                down.append("redis")
        if self.routing is not None and self.routing.partitioned and not down:
            down.append("cluster")  # dropped by the router: the load balancer takes it out
        return down

    # -- who is calling ---------------------------------------------------

    async def authenticate(self, token: object) -> Principal:
        claims = self.tokens.decode(token)
        if claims["typ"] == "visitor":
            return Principal("visitor", claims["sub"], "customer", None, claims.get("cid"))
        user = await self.store.user_by_id(claims["sub"])
        if user is None or user.disabled:
            raise Unauthorized("the account is disabled or gone", code="invalid_token")
        if claims.get("pwd") != password_stamp(user.password_hash):
            raise Unauthorized("the password has changed; sign in again", code="token_revoked")
        name = user.display_name or user.username
        return Principal("user", user.id, user.role, name, user=user)

    async def visible_conversation(self, who: Principal, conversation_id: str) -> Conversation:
        """The conversation if ``who`` may see it; 404 otherwise (a visitor or
        agent must not learn that other conversations exist)."""
        try:
            conversation = await self.store.get_conversation(conversation_id)
        except ConversationNotFound:
            raise NotFound("no such conversation") from None
        if not may_see(who, conversation):
            raise NotFound("no such conversation")
        return conversation

    # -- messages ---------------------------------------------------------

    def submit_message(self, request: AppendRequest) -> asyncio.Future[AppendResult]:
        return self.writer.submit(request)

    def _announce_messages(self, results: Sequence[AppendResult]) -> None:
        for listener in self.commit_listeners:
            try:
                listener(results)
            except Exception:
                log.exception("commit listener %r failed", listener)
        for result in results:
            message = result.message
            self.hub.publish(
                Event(
                    conv_topic(message.conversation_id),
                    "message",
                    dumps(message.to_wire()),
                    message.conversation_id,
                    message.seq,
                    result.origin,
                )
            )

    async def open_conversation(
        self,
        *,
        channel: str,
        identities: Sequence[tuple[str, str]] = (),
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        subject: str | None = None,
        language: str | None = None,
        prechat: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        conversation_id: str | None = None,
    ) -> Conversation:
        """Every channel's way in: find or create the customer, open a
        conversation and put it in line for routing. ``conversation_id``:
        derived from the caller's idempotency key (``ConversationExists``
        when a concurrent call made it first)."""
        customer = await self.store.find_or_create_customer(
            identities, name=name, email=email, phone=phone
        )
        conversation = await self.store.create_conversation(
            channel=channel,
            customer_id=customer.id,
            subject=subject,
            language=language,
            prechat=prechat,
            context=context,
            conversation_id=conversation_id,
        )
        self.announce_status(conversation)
        return conversation

    def announce_status(self, conversation: Conversation) -> None:
        for listener in self.status_listeners:
            try:
                listener(conversation)
            except Exception:
                log.exception("status listener %r failed", listener)
        frame = {
            "type": "status",
            "conversation_id": conversation.id,
            "status": conversation.status,
            "queue": conversation.queue,
        }
        self.hub.publish(Event(conv_topic(conversation.id), "frame", dumps(frame), conversation.id))

    def tell_user(self, user_id: str, frame: dict[str, Any]) -> None:
        self.hub.publish(Event(user_topic(user_id), "frame", dumps(frame)))

    # -- lifecycle operations ----------------------------------------------

    async def assign(
        self,
        conversation_id: str,
        agent_id: str,
        *,
        actor: str,
        via_router: bool = False,
        fence: int | None = None,
    ) -> Conversation:
        """Give a conversation to an agent (accepted offer, or taken by hand).
        ``fence``: the cluster router's token, checked by the store
        (``StaleFence`` when another router took over)."""
        try:
            conversation = await self.store.change_status(
                conversation_id,
                ConversationStatus.ASSIGNED,
                actor=actor,
                agent_id=agent_id,
                fence=fence,
            )
        except ConversationNotFound:
            raise NotFound("no such conversation") from None
        except AlreadyAssigned as exc:
            if exc.status == ConversationStatus.CLOSED:
                raise Conflict("the conversation is closed", code="closed") from None
            raise Conflict("the conversation is already taken", code="already_assigned") from None
        except IllegalTransition:
            raise Conflict("the conversation cannot be assigned now") from None
        if not via_router and self.routing is not None:
            by = await self.store.user_by_id(agent_id)
            if by is not None:
                self.routing.taken(conversation, by)
        self.announce_status(conversation)
        topic = user_topic(agent_id)
        self.hub.publish(
            Event(
                topic,
                "frame",
                dumps(
                    {
                        "type": "assigned",
                        "conversation_id": conversation.id,
                        "conversation": conversation.to_wire(),
                    }
                ),
            )
        )
        self.hub.publish(Event(topic, "attach", conversation_id=conversation.id, seq=0))
        return conversation

    async def user_changed(
        self,
        user: User,
        *,
        actor: str,
        role_changed: bool = False,
        password_changed: bool = False,
    ) -> None:
        """An account was created or edited. Routing takes its skills, capacity,
        queues and role at once. A new role reconnects its live sockets (1012),
        which then see what the role sees. A new password revokes the tokens
        issued before it, so the sockets opened with them close (4401). A
        disabled account is cut off: its sockets close (4401) and its
        conversations go back in line for someone else."""
        if password_changed and not user.disabled:
            self.hub.publish(Event(user_topic(user.id), "close", "the password has changed"))
        held = await self.store.assigned_to(user.id, limit=100_000)
        if not user.disabled:
            if role_changed:
                self.hub.publish(Event(user_topic(user.id), "reconnect", "the role changed"))
            if self.routing is not None:
                self.routing.user_changed(user, held)
            return
        self.hub.publish(Event(user_topic(user.id), "close", "the account is disabled"))
        for conversation in held:
            try:
                requeued = await self.store.change_status(
                    conversation.id,
                    ConversationStatus.QUEUED,
                    actor=actor,
                    data={"reason": "agent disabled", "from_agent": user.id},
                )
            except (IllegalTransition, ConversationNotFound):
                continue  # closed or moved on meanwhile
            if self.routing is not None:
                self.routing.reenter(requeued)
            self.announce_status(requeued)
        if self.routing is not None:
            self.routing.submit(r.AgentRemoved(user.id))

    async def sentiment_action(self, conversation_id: str, action: AlertAction) -> None:
        """Carry out a sentiment alert's action on a conversation that is still
        waiting; one already with an agent stays there (the alert suffices)."""
        if action.kind == ActionKind.NONE:
            return
        conversation = await self.store.get_conversation(conversation_id)
        if conversation.status not in (ConversationStatus.QUEUED, ConversationStatus.OFFERED):
            return
        if action.kind == ActionKind.RAISE_PRIORITY:
            priority, queue = conversation.priority + action.by, None
        else:
            priority, queue = conversation.priority, action.queue
        changed = await self.store.set_routing(
            conversation_id,
            priority=priority,
            queue=queue,
            actor="sentiment",
            reason="sentiment alert",
        )
        if self.routing is not None:
            self.routing.submit(r.PriorityChanged(conversation_id, priority, queue))
        self.announce_status(changed)

    async def close(self, conversation_id: str, who: Principal) -> Conversation:
        current = await self.visible_conversation(who, conversation_id)
        if who.kind == "user" and not who.sees_everything and current.assigned_agent_id != who.id:
            raise Forbidden("only the assigned agent or a supervisor can close it")
        try:
            conversation = await self.store.change_status(
                conversation_id, ConversationStatus.CLOSED, actor=who.id
            )
        except IllegalTransition:
            raise Conflict("the conversation is already closed", code="closed") from None
        if self.routing is not None:
            self.routing.submit(
                r.ItemCancelled(conversation_id, "customer_left")
                if who.kind == "visitor"
                else r.ItemClosed(conversation_id)
            )
        self.announce_status(conversation)
        if current.assigned_agent_id:
            self.hub.publish(
                Event(user_topic(current.assigned_agent_id), "detach", conversation_id=current.id)
            )
        return conversation

    async def transfer(
        self, conversation_id: str, who: Principal, queue: str, note: str | None
    ) -> Conversation:
        current = await self.visible_conversation(who, conversation_id)
        if not who.sees_everything and current.assigned_agent_id != who.id:
            raise Forbidden("only the assigned agent or a supervisor can transfer it")
        if self.routing is not None and queue not in self.routing.router.config.queues:
            known = ", ".join(sorted(self.routing.router.config.queues))
            raise BadRequest(
                f"unknown queue {queue!r}; expected one of {known}", code="unknown_queue"
            )
        try:
            conversation = await self.store.change_status(
                conversation_id,
                ConversationStatus.QUEUED,
                actor=who.id,
                queue=queue,
                data={"note": note, "from_agent": current.assigned_agent_id},
            )
        except IllegalTransition:
            raise Conflict(f"a {current.status} conversation cannot be transferred") from None
        if self.routing is not None and current.assigned_agent_id:
            self.routing.transferred(
                conversation,
                r.Transferred(conversation_id, current.assigned_agent_id, queue, note or ""),
            )
        self.announce_status(conversation)
        if current.assigned_agent_id:
            self.hub.publish(
                Event(user_topic(current.assigned_agent_id), "detach", conversation_id=current.id)
            )
        return conversation


def may_see(who: Principal, conversation: Conversation) -> bool:
    if who.kind == "visitor":
        return who.conversation_id == conversation.id
    if who.sees_everything:
        return True
    if conversation.assigned_agent_id == who.id:
        return True
    # Agents see the waiting line so they can take work by hand.
    return conversation.status in (ConversationStatus.QUEUED, ConversationStatus.OFFERED)
