"""The channels, running: inbound records into conversations, replies out to providers.

``ChannelRuntime`` is the I/O shell around ``channels/``. Inbound, the webhook
routes (``gateway.webhooks``) and the SMTP server hand it the records the
channel parsers made; it finds the conversation (email thread, reply token,
or the customer's open conversation on the channel), opens one when there is
none, and stores the message durably before the route answers the provider.
Outbound, it listens to every commit: an agent's or bot's message on a
non-webchat conversation is sent by the channel's ``Sender`` in a background
task through ``send_with_retry``, one conversation at a time in order, and
every step is recorded in ``conversations.deliveries`` and announced to the
conversation's watchers as a ``delivery`` frame. Nothing is dropped: a send
that cannot happen (opted out, channel not configured, provider refusal)
ends as a dead letter the agent sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import socket
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from channels import (
    Attachment,
    ChannelPayloadError,
    DeadLetter,
    DeliveryStatusUpdate,
    InboundMessage,
    OptIn,
    OptOut,
    OutboundMessage,
    Sender,
    apply_email_rules,
    identity_key,
    send_with_retry,
)
from channels.archives import archive_kind
from channels.email import EmailServer, InboundEmailHandler
from channels.errors import InvalidAddressError, MediaFetchError
from channels.identity import IdentityKey
from channels.inbound import CHANNELS, Channel
from channels.senders import build_senders
from channels.sms import fetch_twilio_media
from conversations import AppendRequest, AppendResult, Conversation, ConversationStatus, Message
from conversations.deliveries import Delivery, DeliveryStore
from gateway.frames import dumps
from gateway.hub import Event, conv_topic
from gateway.services import Services

log = logging.getLogger(__name__)

OPEN = (ConversationStatus.QUEUED, ConversationStatus.OFFERED, ConversationStatus.ASSIGNED)
STOP_GRACE_S = 5.0


RESUME_WINDOW = timedelta(days=2)
"""Older unsent replies are left to an operator rather than sent late."""


@dataclass(frozen=True, slots=True)
class Received:
    """What became of an inbound message: stored (maybe as a duplicate) or dropped."""

    message: Message | None
    duplicate: bool = False
    dropped: str | None = None


class ChannelRuntime:
    """Start with ``await start()`` after ``Services.start``; ``await stop()`` before
    ``Services.stop`` (after the writer drained, so the last replies go out)."""

    def __init__(self, services: Services, smtp_socket: socket.socket | None = None) -> None:
        self.services = services
        self._smtp_socket = smtp_socket
        """Bound by a ``--workers`` supervisor and shared by every worker."""
        self.config = services.settings.channels
        self.deliveries = DeliveryStore(services.store.engines)
        self.senders: dict[Channel, Sender] = {}
        self.email_server: EmailServer | None = None
        self._refused_kinds = frozenset(services.settings.security.refused_attachments)
        self._tasks: set[asyncio.Task[None]] = set()
        self._conversation_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._intake_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self.intake_hooks: list[Callable[[str, InboundMessage], Awaitable[bool]]] = []
        """Asked (customer id, message), under the sender's intake lock, before a
        message with no open conversation opens one; True: the hook took it
        (an SMS survey answer, see gateway/surveys_runtime.py), nothing opens."""

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        settings = self.services.settings
        self.senders = build_senders(
            self.config, settings.public_url, egress=settings.security.egress()
        )
        self.services.commit_listeners.append(self._on_commit)
        await self._resume()
        # SMTP always listens (the protocol's fixed point); with no addresses
        # configured every recipient is refused with 550. A port already in
        # use is logged, not fatal: chat and webhooks keep working.
        handler = InboundEmailHandler(
            addresses=self.config.our_addresses(),
            on_message=self.receive_email,
            limits=dataclasses.replace(
                self.config.email_limits(), refused_attachments=self._refused_kinds
            ),
        )
        server = EmailServer(
            handler, settings.smtp_host, settings.smtp_port, sock=self._smtp_socket
        )
        try:
            await server.start()
            self.email_server = server
        except OSError as exc:
            log.error(
                "SMTP could not listen on %s:%s: %s", settings.smtp_host, settings.smtp_port, exc
            )
        log.info(
            "channels: sending on %s; SMTP %s",
            ", ".join(sorted(self.senders)) or "none",
            f"on {settings.smtp_host}:{self.email_server.port}" if self.email_server else "off",
        )

    async def _resume(self) -> None:
        """Send the replies a previous process stored but did not finish
        sending (at-least-once: one cut off mid-call may go out twice)."""
        since = datetime.now(UTC) - RESUME_WINDOW
        for message_id in await self.deliveries.unfinished(CHANNELS, since):
            message = await self.services.store.message(message_id)
            if message is not None:
                self._spawn(self._deliver(message))

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.services.commit_listeners.remove(self._on_commit)
        if self.email_server is not None:
            await self.email_server.stop()
            self.email_server = None
        if self._tasks:
            # Sends in flight get a moment; what is left stays "queued" in the
            # deliveries table for an operator (see docs/channels.md).
            _, pending = await asyncio.wait(list(self._tasks), timeout=STOP_GRACE_S)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        for sender in self.senders.values():
            try:
                await sender.aclose()
            except Exception:
                log.exception("closing the %s sender failed", sender.channel)
        self.senders = {}

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- inbound ------------------------------------------------------------

    async def handle(self, event: InboundMessage | DeliveryStatusUpdate | OptOut | OptIn) -> None:
        """Store one parsed webhook record; returns only once it is durable."""
        if isinstance(event, InboundMessage):
            await self.receive(event)
        elif isinstance(event, DeliveryStatusUpdate):
            await self.status_update(event)
        elif isinstance(event, OptOut):
            await self.opt_out(event)
        else:
            await self.opt_in(event)

    def identity(self, channel: str, address: str) -> IdentityKey:
        """The identity key of a sender.

        Raises:
            ChannelPayloadError: an address that does not fit the channel.
        """
        try:
            return identity_key(channel, address, self.config.default_country_code)
        except InvalidAddressError as exc:
            raise ChannelPayloadError(str(exc)) from exc

    def _intake_lock(self, key: str) -> asyncio.Lock:
        lock = self._intake_locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._intake_locks[key] = lock
        return lock

    async def receive(self, msg: InboundMessage) -> Received:
        """A customer's message on a messaging channel: joins the customer's open
        conversation on that channel, or opens one."""
        known = await self.services.store.message_by_external_id(msg.channel, msg.external_id)
        if known is not None:
            return Received(known, duplicate=True)
        identity = self.identity(msg.channel, msg.sender)
        # One intake at a time per sender, so two quick messages from a new
        # customer do not open two conversations (single node; see docs).
        async with self._intake_lock(str(identity)):
            customer = await self.services.store.find_or_create_customer(
                [identity], name=msg.sender_name, phone=_phone(identity)
            )
            conversation = await self._open_conversation_of(customer.id, msg.channel)
            if conversation is None:
                for hook in self.intake_hooks:
                    if await hook(customer.id, msg):
                        return Received(None, dropped="taken by an intake hook")
                conversation = await self._open(msg, identity)
            return await self._append(conversation, msg)

    async def _open_conversation_of(self, customer_id: str, channel: str) -> Conversation | None:
        found = await self.services.store.list_conversations(
            statuses=[s.value for s in OPEN], customer_id=customer_id, limit=50
        )
        return next((c for c in found if c.channel == channel), None)

    async def _open(
        self,
        msg: InboundMessage,
        identity: IdentityKey,
        *,
        queue: str | None = None,
        priority: int | None = None,
    ) -> Conversation:
        conversation = await self.services.open_conversation(
            channel=msg.channel,
            identities=[identity],
            name=msg.sender_name,
            email=identity.value if identity.kind == "email" else None,
            phone=_phone(identity),
            subject=msg.subject,
            context={"channel_address": msg.sender},
        )
        wants_queue = queue is not None and queue != conversation.queue
        wants_priority = priority is not None and priority != conversation.priority
        if wants_queue or wants_priority:
            conversation = await self.services.store.set_routing(
                conversation.id,
                queue=queue if wants_queue else None,
                priority=priority if wants_priority else None,
                actor="email_rules",
                reason="email record-creation rule",
            )
            self.services.announce_status(conversation)
        return conversation

    async def _append(
        self, conversation: Conversation, msg: InboundMessage, *, sender_id: str | None = None
    ) -> Received:
        attributes = await self._attributes(msg)
        text = msg.text
        if not text.strip() and msg.attachments:
            kinds = ", ".join(a.content_type for a in msg.attachments)
            text = f"[attachment: {kinds}]"
        request = AppendRequest(
            conversation_id=conversation.id,
            sender_role="customer",
            sender_id=sender_id or conversation.customer.id,
            sender_name=msg.sender_name or conversation.customer.name,
            text=text,
            channel=msg.channel,
            external_id=msg.external_id,
            attributes=attributes,
        )
        result: AppendResult = await self.services.submit_message(request)
        return Received(result.message, duplicate=result.duplicate)

    async def _attributes(self, msg: InboundMessage) -> dict[str, Any]:
        attributes: dict[str, Any] = {"from": msg.sender, "external_id": msg.external_id}
        if msg.recipient:
            attributes["to"] = msg.recipient
        if msg.subject is not None:
            attributes["subject"] = msg.subject
        if msg.original is not None and msg.original != msg.text:
            attributes["original"] = msg.original  # quoted history kept, not shown
        if msg.html is not None:
            attributes["html"] = msg.html
        if msg.edited:
            attributes["edited"] = True
        if msg.flags.automated:
            attributes["automated"] = {
                "auto_submitted": msg.flags.auto_submitted,
                "bulk": msg.flags.bulk,
                "bounce": msg.flags.bounce,
            }
        threading = msg.threading
        if threading.in_reply_to or threading.references or threading.reply_to_external_id:
            attributes["threading"] = {
                "in_reply_to": threading.in_reply_to,
                "references": list(threading.references),
                "reply_to_external_id": threading.reply_to_external_id,
            }
        if msg.attachments:
            attributes["attachments"] = await self._media(msg)
        if msg.metadata:
            attributes["metadata"] = _jsonable(dict(msg.metadata))
        return attributes

    async def _media(self, msg: InboundMessage) -> list[dict[str, Any]]:
        """Describe the attachments; MMS media is fetched under the SSRF rules of
        ``channels.media`` (refusals are recorded, the message is stored anyway)."""
        return list(await asyncio.gather(*(self._one_media(msg, a) for a in msg.attachments)))

    async def _one_media(self, msg: InboundMessage, attachment: Attachment) -> dict[str, Any]:
        record: dict[str, Any] = {
            "content_type": attachment.content_type,
            "filename": attachment.filename,
            "size": attachment.size,
            "url": attachment.url,
            "provider_ref": attachment.provider_ref,
            "inline": attachment.inline,
        }
        if self._refused_archive(
            record, attachment.content, attachment.filename, attachment.content_type
        ):
            return record  # an email's are refused with the whole mail, before this
        if attachment.content is not None:
            record["sha256"] = hashlib.sha256(attachment.content).hexdigest()
            record["fetched"] = True
            return record
        if msg.channel != "sms" or attachment.url is None:
            record["fetched"] = False
            return record
        config = self.config
        try:
            media = await fetch_twilio_media(
                attachment,
                account_sid=config.twilio_account_sid,
                auth_token=config.twilio_auth_token.get_secret_value(),
                allowed_hosts=config.media_allowed_hosts,
                max_bytes=config.media_max_bytes,
                timeout=config.media_timeout,
                policy=self.services.settings.security.egress(),
            )
        except (MediaFetchError, ChannelPayloadError) as exc:
            log.warning("MMS media of %s not fetched: %s", msg.external_id, exc)
            record.update(fetched=False, error=str(exc)[:300])
            return record
        record.update(content_type=media.content_type, size=media.size)
        if self._refused_archive(record, media.content, attachment.filename, media.content_type):
            log.warning("MMS media of %s refused: %s", msg.external_id, record["error"])
            return record
        record.update(fetched=True, sha256=hashlib.sha256(media.content).hexdigest())
        return record

    def _refused_archive(
        self,
        record: dict[str, Any],
        content: bytes | None,
        filename: str | None,
        content_type: str | None,
    ) -> bool:
        """Record an archive of a refused kind as not fetched, with the reason
        (``[security] refused_attachments``); its bytes are dropped."""
        kind = archive_kind(content, filename, content_type) if self._refused_kinds else None
        if kind is None or kind not in self._refused_kinds:
            return False
        record.update(
            fetched=False,
            refused=kind,
            error=f"archive attachments ({kind}) are not accepted",
        )
        return True

    async def receive_email(self, parsed: InboundMessage | DeliveryStatusUpdate) -> None:
        """The SMTP server's ``on_message``: raising makes it answer 451."""
        if isinstance(parsed, DeliveryStatusUpdate):
            await self.status_update(parsed)
            return
        await self.receive_mail(parsed)

    async def receive_mail(self, msg: InboundMessage) -> Received:
        """A mail: joins its thread (reply token, In-Reply-To, References), else the
        record-creation rules decide whether it opens a conversation."""
        known = await self.services.store.message_by_external_id("email", msg.external_id)
        if known is not None:
            return Received(known, duplicate=True)
        identity = self.identity("email", msg.sender)
        async with self._intake_lock(str(identity)):
            conversation = await self._email_thread(msg)
            if conversation is None:
                known_customer = (
                    await self.deliveries.customer_for_identity(identity.kind, identity.value)
                    is not None
                )
                decision = apply_email_rules(self.config.email_rules, msg, known_customer)
                if decision.action == "drop":
                    log.info(
                        "mail %s from %s dropped: %s", msg.external_id, msg.sender, decision.reason
                    )
                    return Received(None, dropped=decision.reason)
                conversation = await self._open(
                    msg, identity, queue=decision.queue, priority=decision.priority
                )
                sender_id = conversation.customer.id
            else:
                # A thread can have other writers (a colleague in Cc): each is
                # recorded as the customer they are.
                writer = await self.services.store.find_or_create_customer(
                    [identity], name=msg.sender_name
                )
                sender_id = writer.id
            received = await self._append(conversation, msg, sender_id=sender_id)
            await self.deliveries.index_email(
                msg.external_id,
                conversation.id,
                message_id=received.message.id if received.message else None,
                inbound=True,
            )
            return received

    async def _email_thread(self, msg: InboundMessage) -> Conversation | None:
        threading = msg.threading
        candidates: list[str | None] = []
        if threading.token:
            candidates.append(await self.deliveries.conversation_for_token(threading.token))
        ids = [i for i in (threading.in_reply_to, *reversed(threading.references)) if i]
        if ids:
            candidates.append(await self.deliveries.conversation_for_email(ids))
        for cid in candidates:
            if cid is None:
                continue
            conversation = await self.services.store.get_conversation(cid)
            # Closed is final: a reply to a closed thread starts a new
            # conversation (which the reply's Message-ID then threads to).
            if conversation.status != ConversationStatus.CLOSED:
                return conversation
        return None

    async def status_update(self, update: DeliveryStatusUpdate) -> None:
        """A provider's news about one of our messages (or a read watermark)."""
        changed: list[Delivery] = []
        if update.external_id is not None:
            found = await self.deliveries.update_status(
                update.channel,
                update.external_id,
                update.status,
                error_code=update.error_code,
                error_message=update.error_message,
            )
            if found is not None:
                changed.append(found)
            else:
                log.info(
                    "status %s for unknown %s message %s",
                    update.status,
                    update.channel,
                    update.external_id,
                )
        elif update.watermark is not None and update.recipient is not None:
            changed = await self.deliveries.mark_read_until(
                update.channel, update.recipient, update.watermark
            )
        for delivery in changed:
            self._announce(delivery)

    async def opt_out(self, event: OptOut) -> None:
        identity = self.identity(event.channel, event.sender)
        customer_id = await self.deliveries.customer_for_identity(identity.kind, identity.value)
        await self.deliveries.opt_out(event.channel, identity.value, customer_id, event.keyword)
        await self._keyword_message(event, identity, customer_id, opted_out=True)

    async def opt_in(self, event: OptIn) -> None:
        identity = self.identity(event.channel, event.sender)
        await self.deliveries.opt_in(event.channel, identity.value)
        customer_id = await self.deliveries.customer_for_identity(identity.kind, identity.value)
        await self._keyword_message(event, identity, customer_id, opted_out=False)

    async def _keyword_message(
        self,
        event: OptOut | OptIn,
        identity: IdentityKey,
        customer_id: str | None,
        *,
        opted_out: bool,
    ) -> None:
        """Show the keyword in the customer's open conversation, so the agent sees why
        replies stop (or start again); a keyword alone opens nothing."""
        if customer_id is None:
            return
        conversation = await self._open_conversation_of(customer_id, event.channel)
        if conversation is None:
            return
        await self.services.submit_message(
            AppendRequest(
                conversation_id=conversation.id,
                sender_role="customer",
                sender_id=customer_id,
                sender_name=conversation.customer.name,
                text=event.keyword,
                channel=event.channel,
                external_id=event.external_id,
                attributes={"from": event.sender, "opted_out": opted_out},
            )
        )

    # -- outbound -----------------------------------------------------------

    def _on_commit(self, results: Sequence[AppendResult]) -> None:
        for result in results:
            message = result.message
            if result.duplicate or message.sender_role not in ("agent", "bot"):
                continue
            if message.channel not in CHANNELS:
                continue  # web chat: the visitor's websocket is the delivery
            self._spawn(self._deliver(message))

    def _conversation_lock(self, conversation_id: str) -> asyncio.Lock:
        lock = self._conversation_locks.get(conversation_id)
        if lock is None:
            lock = asyncio.Lock()
            self._conversation_locks[conversation_id] = lock
        return lock

    async def _deliver(self, message: Message) -> None:
        # asyncio.Lock wakes waiters in order: replies leave in the order stored.
        async with self._conversation_lock(message.conversation_id):
            try:
                await self._send(message)
            except Exception:
                log.exception("delivering message %s failed", message.id)

    async def _send(self, message: Message) -> None:
        channel: Channel = message.channel  # type: ignore[assignment]  # checked in _on_commit
        existing = await self.deliveries.delivery(message.id)
        if existing is not None and (existing.attempts or existing.dead_letter):
            return  # already handled (a repeated commit notification)
        conversation = await self.services.store.get_conversation(message.conversation_id)
        recipient = await self.deliveries.last_customer_address(conversation.id)
        recipient = recipient or conversation.context.get("channel_address")
        if not isinstance(recipient, str) or not recipient:
            await self._refuse(
                message, "", "no_recipient", "the customer has no address on this channel"
            )
            return
        sender = self.senders.get(channel)
        if sender is None:
            await self._refuse(
                message, recipient, "channel_disabled", f"sending on {channel} is not configured"
            )
            return
        if channel == "sms" and await self.deliveries.opted_out(
            "sms", self.identity("sms", recipient).value
        ):
            await self._refuse(
                message,
                recipient,
                "opted_out",
                "the customer opted out of SMS (STOP); send START to opt in",
            )
            return
        self._announce(
            await self.deliveries.create_delivery(
                message_id=message.id,
                conversation_id=conversation.id,
                channel=channel,
                recipient=recipient,
            )
        )
        outbound = await self._outbound(message, conversation, recipient, channel)
        outcome = await send_with_retry(sender, outbound, self.config.retry)
        if isinstance(outcome, DeadLetter):
            log.warning("message %s dead-lettered: %s", message.id, outcome.reason)
            delivery = await self.deliveries.finish_send(
                message.id,
                attempts=outcome.attempts,
                status="failed",
                error_code=outcome.error_code or ("rejected" if outcome.permanent else "gave_up"),
                last_error=outcome.reason[:2000],
                dead_letter=True,
            )
        else:
            result = outcome.result
            delivery = await self.deliveries.finish_send(
                message.id,
                attempts=outcome.attempts,
                provider_message_id=result.provider_message_id,
                status=result.status,
            )
            if channel == "email":
                await self.deliveries.index_email(
                    result.provider_message_id,
                    conversation.id,
                    message_id=message.id,
                    inbound=False,
                )
        self._announce(delivery)

    async def _outbound(
        self, message: Message, conversation: Conversation, recipient: str, channel: Channel
    ) -> OutboundMessage:
        if channel != "email":
            return OutboundMessage(channel, recipient, message.text, message.id)
        in_reply_to, references = await self.deliveries.email_thread(conversation.id)
        subject = conversation.subject or "Your message"
        if not subject.lower().startswith("re:"):
            subject = f"Re: {subject}"
        return OutboundMessage(
            channel,
            recipient,
            message.text,
            message.id,
            subject=subject,
            in_reply_to=in_reply_to,
            references=references,
            reply_token=await self.deliveries.reply_token(conversation.id),
        )

    async def _refuse(self, message: Message, recipient: str, code: str, reason: str) -> None:
        """A reply that will not be sent: recorded as a dead letter and shown, never dropped."""
        log.warning("message %s not sent: %s", message.id, reason)
        delivery = await self.deliveries.create_delivery(
            message_id=message.id,
            conversation_id=message.conversation_id,
            channel=message.channel,
            recipient=recipient,
            status="failed",
            error_code=code,
            last_error=reason,
            dead_letter=True,
        )
        self._announce(delivery)

    def _announce(self, delivery: Delivery) -> None:
        cid = delivery.conversation_id
        self.services.hub.publish(Event(conv_topic(cid), "frame", dumps(delivery.to_frame()), cid))


def _phone(identity: IdentityKey) -> str | None:
    return identity.value if identity.kind == "phone" else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
