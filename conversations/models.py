"""Plain data objects for what the store keeps; frozen, so they can be shared."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

JSON = dict[str, Any]


@lru_cache(maxsize=64)
def rfc3339(moment: datetime) -> str:
    """Render a UTC time as RFC 3339 with a ``Z`` suffix (the wire format).
    Cached: a batch of messages shares one commit time."""
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    name: str | None
    email: str | None
    phone: str | None
    created_at: datetime
    attributes: JSON = field(default_factory=dict)

    def to_wire(self) -> JSON:
        return {"id": self.id, "name": self.name, "email": self.email, "phone": self.phone}


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    channel: str
    status: str
    queue: str
    customer: Customer
    subject: str | None
    language: str | None
    priority: int
    assigned_agent_id: str | None
    last_seq: int
    prechat: JSON
    context: JSON
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    sentiment: JSON | None = None
    case_id: str | None = None

    def to_wire(self) -> JSON:
        return {
            "id": self.id,
            "channel": self.channel,
            "status": self.status,
            "queue": self.queue,
            "customer": self.customer.to_wire(),
            "subject": self.subject,
            "language": self.language,
            "priority": self.priority,
            "assigned_agent_id": self.assigned_agent_id,
            "last_seq": self.last_seq,
            "prechat": self.prechat,
            "sentiment": self.sentiment,
            "created_at": rfc3339(self.created_at),
            "closed_at": rfc3339(self.closed_at) if self.closed_at else None,
            "case_id": self.case_id,
        }


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    conversation_id: str
    seq: int
    sender_role: str
    sender_id: str | None
    sender_name: str | None
    text: str
    channel: str
    created_at: datetime
    client_msg_id: str | None = None
    attributes: JSON = field(default_factory=dict)
    sentiment: JSON | None = None

    def to_wire(self) -> JSON:
        """The ``message`` frame of the protocol (also the HTTP message object)."""
        wire = {
            "type": "message",
            "conversation_id": self.conversation_id,
            "message_id": self.id,
            "seq": self.seq,
            "sender": {"role": self.sender_role, "name": self.sender_name},
            "text": self.text,
            "channel": self.channel,
            "created_at": rfc3339(self.created_at),
        }
        if self.sentiment is not None:
            wire["sentiment"] = self.sentiment
        attachments = self.attributes.get("attachments")
        if attachments:
            # What an agent may see; provider URLs and refs stay server-side.
            wire["attachments"] = [
                {k: a.get(k) for k in ("content_type", "filename", "size", "inline")}
                | ({"refused": a["refused"]} if a.get("refused") else {})
                for a in attachments
            ]
        if self.attributes.get("html"):
            wire["html"] = self.attributes["html"]  # sanitised on the way in
        return wire


@dataclass(frozen=True, slots=True)
class AppendRequest:
    """One message to store; idempotent on (conversation, sender, client_msg_id)
    for websocket clients and on (channel, external_id) for channel webhooks."""

    conversation_id: str
    sender_role: str
    sender_id: str | None
    sender_name: str | None
    text: str
    channel: str
    client_msg_id: str | None = None
    external_id: str | None = None
    attributes: JSON = field(default_factory=dict)
    origin: str | None = None
    """The connection that sent it (not stored): it gets an ack, not an echo."""


@dataclass(frozen=True, slots=True)
class AppendResult:
    message: Message
    duplicate: bool
    origin: str | None = None


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    id: int
    conversation_id: str
    type: str
    actor: str | None
    data: JSON
    created_at: datetime

    def to_wire(self) -> JSON:
        return {
            "type": self.type,
            "actor": self.actor,
            "data": self.data,
            "created_at": rfc3339(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class User:
    id: str
    username: str
    role: str
    display_name: str | None
    password_hash: str
    disabled: bool
    skills: dict[str, int]
    capacity: JSON
    queues: list[str] | None
    created_at: datetime

    def to_wire(self) -> JSON:
        return {
            "id": self.id,
            "username": self.username,
            "role": self.role,
            "display_name": self.display_name,
            "disabled": self.disabled,
            "skills": self.skills,
            "capacity": self.capacity,
            "queues": self.queues,
            "created_at": rfc3339(self.created_at),
        }
