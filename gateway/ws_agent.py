"""``/ws/agent``: an agent's (or supervisor's, or bot's) live connection.

The agent follows every conversation assigned to it; assignments made while
connected arrive as an ``assigned`` frame followed by the transcript.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.websockets import WebSocket

import router as r
from bots import HandoffBody
from conversations.models import AppendRequest
from gateway.auth import Principal
from gateway.connection import CLOSE_UNAUTHORIZED
from gateway.errors import GatewayError, NotFound
from gateway.frames import (
    Accept,
    Close,
    FrameError,
    Handoff,
    Hello,
    MessageIn,
    Ping,
    PresenceIn,
    Reject,
    Transfer,
    Typing,
    check_text,
    dumps,
    parse_agent_frame,
)
from gateway.hub import SUPERVISORS, Event, conv_topic, user_topic
from gateway.routing import ROUTED_ROLES
from gateway.websocket_session import Reject as RejectHandshake
from gateway.websocket_session import Session
from gateway.ws_visitor import acknowledge


class AgentSession(Session):
    def __init__(self, websocket: WebSocket) -> None:
        super().__init__(websocket)
        self._channels: dict[str, str] = {}
        self.routed = False
        """Agents and bots take routed work; supervisors and admins watch."""

    async def on_hello(self, hello: Hello, principal: Principal) -> None:
        if principal.kind != "user":
            raise RejectHandshake(CLOSE_UNAUTHORIZED, "an agent token is required")
        after = hello.after_seq if isinstance(hello.after_seq, dict) else {}
        services = self.services
        user = principal.user
        assert user is not None  # authenticate() looked it up
        # Listen before the router hears of us (an offer may follow at once),
        # but hold it until the welcome has gone out.
        self.conn.hold()
        await self.conn.listen(user_topic(principal.id))
        if principal.sees_everything:
            await self.conn.listen(SUPERVISORS)
        self.routed = user.role in ROUTED_ROLES
        if services.bots is not None and services.bots.claims(user):
            self.routed = False  # a configured bot gets work from the bot runtime
            services.bots.connected(user.id)
        if self.routed:
            await services.routing.agent_connected(user)
        presence = services.routing.presence(principal.id)
        mine = await services.store.assigned_to(principal.id)
        self.conn.send(
            {
                "type": "welcome",
                "agent_id": principal.id,
                "role": principal.role,
                "presence": presence,
                "conversations": [c.to_wire() for c in mine],
            }
        )
        self.conn.release()
        for conversation in mine:
            await self.conn.follow(conversation.id, after.get(conversation.id, 0))

    def parse(self, raw: str) -> Any:
        return parse_agent_frame(raw)

    async def handle(self, frame: Any) -> None:
        assert self.principal is not None
        services = self.services
        if isinstance(frame, MessageIn):
            await self._message(frame)
        elif isinstance(frame, Transfer):
            await services.transfer(frame.conversation_id, self.principal, frame.queue, frame.note)
        elif isinstance(frame, Close):
            await services.close(frame.conversation_id, self.principal)
        elif isinstance(frame, Handoff):
            await self._handoff(frame)

    def handle_now(self, frame: Any) -> bool:
        """The frames that need no await: a message in a conversation this
        session already writes in, typing, ping, presence and offers."""
        assert self.principal is not None
        routing = self.services.routing
        if isinstance(frame, MessageIn):
            cid = frame.conversation_id
            if cid is None:
                raise FrameError(
                    "missing_field",
                    "message frame: field 'conversation_id' is required",
                    frame.client_msg_id,
                )
            check_text(frame, self.limits.max_text_chars)
            channel = self._channels.get(cid)
            if channel is None or not self.conn.follows(cid):
                return False  # ``_message`` checks the store first
            self._append(frame, channel)
        elif isinstance(frame, Typing):
            self._typing(frame)
        elif isinstance(frame, Ping):
            self.conn.send({"type": "pong"})
        elif isinstance(frame, PresenceIn):
            if not self.routed:
                raise FrameError("not_routed", "supervisors and admins are not routed work")
            # The router answers with a `presence` frame, or an error frame
            # naming the statuses it knows.
            routing.submit(r.PresenceChanged(self.principal.id, frame.status))
        elif isinstance(frame, Accept):
            routing.submit(r.OfferAccepted(frame.offer_id, self.principal.id))
        elif isinstance(frame, Reject):
            routing.submit(r.OfferRejected(frame.offer_id, self.principal.id, frame.reason or ""))
        else:
            return False
        return True

    async def _handoff(self, frame: Handoff) -> None:
        assert self.principal is not None
        bots = self.services.bots
        if bots is None:
            raise FrameError("not_a_bot", "no bots are configured")
        try:
            body = HandoffBody.model_validate(
                frame.model_dump(exclude={"type", "conversation_id"}, exclude_none=True)
            )
            await bots.handoff_by(self.principal, frame.conversation_id, body)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise FrameError(
                "invalid_field",
                f"handoff frame: field {field!r}: {first['msg']}",
                frame.conversation_id,
            ) from None
        except GatewayError as exc:
            raise FrameError(exc.code, exc.message, frame.conversation_id) from None

    async def _message(self, frame: MessageIn) -> None:
        """A message ``handle_now`` checked but left: the store says first
        whether this agent may write in its conversation."""
        assert frame.conversation_id is not None
        self._append(frame, await self._writable(frame.conversation_id, frame.client_msg_id))

    def _append(self, frame: MessageIn, channel: str) -> None:
        assert self.principal is not None and frame.conversation_id is not None
        ref = frame.client_msg_id
        request = AppendRequest(
            conversation_id=frame.conversation_id,
            sender_role="bot" if self.principal.role == "bot" else "agent",
            sender_id=self.principal.id,
            sender_name=self.principal.name,
            text=frame.text,
            channel=channel,
            client_msg_id=ref,
            origin=self.conn.id,
        )
        future = self.services.submit_message(request)
        future.add_done_callback(lambda f: acknowledge(self, ref, f))

    async def _writable(self, cid: str, ref: str) -> str:
        """Check in the store that this agent may write here (the live
        ``attach`` after an assignment may not have arrived yet) and start
        following the conversation; returns its channel."""
        assert self.principal is not None
        try:
            conversation = await self.services.visible_conversation(self.principal, cid)
        except NotFound:
            raise FrameError("not_found", "no such conversation", ref) from None
        mine = conversation.assigned_agent_id == self.principal.id
        if not (mine or self.principal.sees_everything):
            raise FrameError(
                "not_assigned", "you can only write in conversations assigned to you", ref
            )
        if mine:
            await self.conn.follow(cid, 0)
        self._channels[cid] = conversation.channel
        return conversation.channel

    def _typing(self, frame: Typing) -> None:
        assert self.principal is not None
        cid = frame.conversation_id
        if cid is None or not self.conn.follows(cid):
            self.error("not_assigned", "typing needs a conversation assigned to you")
            return
        payload = {
            "type": "typing",
            "conversation_id": cid,
            "sender": {"role": "agent", "name": self.principal.name},
            "active": frame.active,
        }
        self.services.hub.publish(
            Event(conv_topic(cid), "frame", dumps(payload), cid, origin=self.conn.id)
        )

    async def on_disconnect(self) -> None:
        bots = self.services.bots
        if bots is not None and self.principal is not None and bots.is_bot(self.principal.id):
            bots.disconnected(self.principal.id)
        if self.routed and self.principal is not None:
            self.services.routing.agent_disconnected(self.principal.id)


async def agent_endpoint(websocket: WebSocket) -> None:
    await AgentSession(websocket).run()
