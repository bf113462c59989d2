"""Telling the customer about their appointment, on their channel.

The I/O shell for ``scheduling.messages``. After a booking, a move or a
cancellation, and when a reminder falls due (``reminder_at``, claimed by one
node; see ``SchedulingStore.claim_due_reminders``), the customer gets a text
with the time in their time zone: the one the booking names (``timezone``),
else the one stored on the customer (``PATCH /api/v1/customers/{id}``), else
their browser's (a web chat's ``context.timezone``), else their phone
number's (when its country and area show one time), else the zone of the
first resource's calendar, else the server's (``scheduling.messages.pick_zone``):

- into the appointment's conversation (or the customer's latest) while it
  is open, as a message from ``sender_name``: web chat shows it live, and the
  channel runtime sends it over SMS or email with its delivery records;
- straight through the channel's sender when that conversation is closed
  (SMS, email; a closed web chat reaches the customer by email when we know
  their address).

An SMS reply of just the cancel keyword (``[scheduling] cancel_keyword``)
cancels the customer's next appointment: from an open conversation (a commit
listener) or with none open (the channel runtime's intake hook, so it opens
nothing). Every attempt is recorded on the appointment (``notifications``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any

from channels import DeadLetter, InboundMessage, OutboundMessage, send_with_retry
from channels.inbound import Channel
from conversations import AppendRequest, AppendResult, Conversation, ConversationStatus
from conversations.ids import new_id
from gateway import tasks
from gateway.services import Services
from scheduling.config import SchedulingConfig
from scheduling.errors import IllegalTransition
from scheduling.messages import is_cancel_reply, phone_zone, pick_zone, text_for
from scheduling.store import Appointment, SchedulingStore

log = logging.getLogger(__name__)
OPEN = (ConversationStatus.QUEUED, ConversationStatus.OFFERED, ConversationStatus.ASSIGNED)
STOP_GRACE_S = 5.0


def _now() -> datetime:
    return datetime.now(UTC)


class Notifier:
    """Start after the channel runtime; stop before it."""

    def __init__(
        self,
        services: Services,
        store: SchedulingStore,
        config: SchedulingConfig,
        channels: Any,
        resource_zone: Callable[[Sequence[str]], Awaitable[str | None]] | None = None,
    ) -> None:
        self.services = services
        self.store = store
        self.config = config
        self.channels = channels
        self.resource_zone = resource_zone
        """The zone of the calendar of the first of these resources that has one."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if not self.config.notify:
            return
        self.services.commit_listeners.append(self._on_commit)
        if self.channels is not None:
            self.channels.intake_hooks.append(self.sms_intake)
        self._loop = asyncio.create_task(self._reminders(), name="scheduling-reminders")

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.services.commit_listeners.remove(self._on_commit)
        if self.channels is not None:
            with contextlib.suppress(ValueError):
                self.channels.intake_hooks.remove(self.sms_intake)
        await tasks.stop(self._loop)
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=STOP_GRACE_S)
            for task in pending:
                task.cancel()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- telling ------------------------------------------------------------------

    def tell(self, appointment: Appointment, kind: str) -> None:
        """Send ``kind`` about the appointment in the background (never raises)."""
        if self.config.notify and (appointment.conversation_id or appointment.customer_id):
            self._spawn(self._tell(appointment, kind))

    async def _tell(self, appointment: Appointment, kind: str) -> None:
        try:
            entry = await self._deliver(appointment, kind)
        except Exception as exc:
            log.exception("appointment %s: %s not sent", appointment.id, kind)
            entry = {"sent": False, "reason": f"error: {exc}"}
        entry = {"kind": kind, "at": _now().isoformat().replace("+00:00", "Z"), **entry}
        await self.store.record_notification(appointment.id, entry)

    async def _conversation(self, appointment: Appointment) -> Conversation | None:
        store = self.services.store
        if appointment.conversation_id is not None:
            with contextlib.suppress(Exception):
                return await store.get_conversation(appointment.conversation_id)
        if appointment.customer_id is not None:
            found = await store.list_conversations(customer_id=appointment.customer_id, limit=1)
            return found[0] if found else None
        return None

    async def _deliver(self, appointment: Appointment, kind: str) -> dict[str, Any]:
        conversation = await self._conversation(appointment)
        if conversation is None:
            return {"sent": False, "reason": "no conversation with the customer"}
        service = await self.store.service(appointment.service_id)
        name = service.name if service is not None else "appointment"
        source, tz = await self.customer_zone(appointment, conversation)
        keyword = self.config.cancel_keyword if kind != "cancelled" else None
        channel = conversation.channel
        text = text_for(
            kind,
            name,
            appointment.start,
            appointment.end,
            tz,
            cancel_keyword=keyword if channel == "sms" else None,
        )
        if conversation.status in OPEN:
            request = AppendRequest(
                conversation_id=conversation.id,
                sender_role="bot",
                sender_id=None,
                sender_name=self.config.sender_name,
                text=text,
                channel=channel,
                client_msg_id=f"{appointment.id}:{kind}:{len(appointment.notifications)}",
                attributes={"appointment_id": appointment.id, "appointment_notice": kind},
            )
            result = await self.services.submit_message(request)
            return {
                "sent": True,
                "channel": channel,
                "conversation_id": conversation.id,
                "message_id": result.message.id,
                "timezone": tz,
                "timezone_from": source,
            }
        sent = await self._send_direct(appointment, conversation, text)
        return {**sent, "timezone": tz, "timezone_from": source}

    async def customer_zone(
        self, appointment: Appointment, conversation: Conversation | None
    ) -> tuple[str, str]:
        """``(source, zone)`` for the times the customer reads, best first."""
        candidates: list[tuple[str, str | None]] = [("appointment", appointment.timezone)]
        customer_id = appointment.customer_id or (
            conversation.customer.id if conversation is not None else None
        )
        if customer_id is not None:
            candidates.append(("customer", await self.store.customer_timezone(customer_id)))
        if conversation is not None and conversation.channel == "webchat":
            browser = conversation.context.get("timezone")
            candidates.append(("browser", browser if isinstance(browser, str) else None))
        if conversation is not None:
            candidates.append(("phone", phone_zone(conversation.customer.phone, appointment.start)))
        if self.resource_zone is not None:
            candidates.append(("calendar", await self.resource_zone(appointment.resources)))
        candidates.append(("server", self.services.settings.timezone))
        return pick_zone(candidates)

    async def _send_direct(
        self, appointment: Appointment, conversation: Conversation, text: str
    ) -> dict[str, Any]:
        channels = self.channels
        if channels is None:
            return {"sent": False, "reason": "channels are not running"}
        channel: Channel = "email"
        recipient: str | None = None
        if conversation.channel in ("sms", "email"):
            channel = "sms" if conversation.channel == "sms" else "email"
            recipient = await channels.deliveries.last_customer_address(conversation.id)
            recipient = recipient or conversation.context.get("channel_address")
        if not recipient and conversation.customer.email:
            channel, recipient = "email", conversation.customer.email
        if not recipient:
            where = conversation.channel
            return {"sent": False, "reason": f"no address to reach the customer on {where}"}
        sender = channels.senders.get(channel)
        if sender is None:
            return {"sent": False, "reason": f"sending on {channel} is not configured"}
        if channel == "sms" and await channels.deliveries.opted_out(
            "sms", channels.identity("sms", recipient).value
        ):
            return {"sent": False, "reason": "the customer opted out of SMS"}
        outbound = OutboundMessage(
            channel,
            recipient,
            text,
            new_id("msg"),
            subject="Your appointment" if channel == "email" else None,
        )
        outcome = await send_with_retry(sender, outbound, channels.config.retry)
        if isinstance(outcome, DeadLetter):
            return {"sent": False, "channel": channel, "reason": outcome.reason}
        return {"sent": True, "channel": channel, "recipient": recipient}

    # -- reminders -------------------------------------------------------------------

    async def _reminders(self) -> None:
        poll = self.config.reminder_poll.total_seconds()
        while True:
            try:
                for appointment in await self.store.claim_due_reminders(_now()):
                    await self._tell(appointment, "reminder")
            except Exception:
                log.exception("reminder pass failed; trying again")
            await asyncio.sleep(poll)

    # -- cancelling by SMS ----------------------------------------------------------

    def _on_commit(self, results: Sequence[AppendResult]) -> None:
        for result in results:
            m = result.message
            if result.duplicate or m.sender_role != "customer" or m.channel != "sms":
                continue
            if m.sender_id and is_cancel_reply(m.text, self.config.cancel_keyword):
                self._spawn(self._cancel_by_reply(m.sender_id))

    async def sms_intake(self, customer_id: str, msg: InboundMessage) -> bool:
        """The channel runtime's intake hook (no open conversation): the cancel
        keyword cancels the next appointment and opens nothing."""
        if msg.channel != "sms" or not is_cancel_reply(msg.text, self.config.cancel_keyword):
            return False
        if await self.store.next_for_customer(customer_id, _now()) is None:
            return False
        self._spawn(self._cancel_by_reply(customer_id))
        return True

    async def _cancel_by_reply(self, customer_id: str) -> None:
        appointment = await self.store.next_for_customer(customer_id, _now())
        if appointment is None:
            return
        try:
            cancelled = await self.store.change_status(
                appointment.id, "cancelled", by=f"customer:{customer_id}", now=_now()
            )
        except IllegalTransition:
            return
        if cancelled is not None:
            await self._tell(cancelled, "cancelled")
