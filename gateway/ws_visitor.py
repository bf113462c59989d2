"""``/ws/visitor``: a web chat customer's live connection to one conversation."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.websockets import WebSocket

from conversations import AppendResult, Conversation, ConversationClosed
from conversations.errors import ConversationNotFound
from conversations.models import AppendRequest
from gateway.auth import Principal
from gateway.connection import CLOSE_UNAUTHORIZED
from gateway.frames import (
    Hello,
    MessageIn,
    Ping,
    SurveyResponse,
    Typing,
    check_text,
    dumps,
    parse_visitor_frame,
)
from gateway.hub import Event, conv_topic
from gateway.surveys_runtime import visitor_survey_response
from gateway.websocket_session import Reject, Session


class VisitorSession(Session):
    staff = False
    conversation: Conversation

    async def on_hello(self, hello: Hello, principal: Principal) -> None:
        if principal.kind != "visitor" or principal.conversation_id is None:
            raise Reject(CLOSE_UNAUTHORIZED, "a visitor token is required")
        if isinstance(hello.after_seq, dict):
            raise Reject(CLOSE_UNAUTHORIZED, "after_seq must be a number for a visitor")
        # Listen first, then read: whatever the read's ``last_seq`` misses
        # comes live (held until the welcome is out).
        self.conn.hold()
        await self.conn.listen(conv_topic(principal.conversation_id))
        try:
            self.conversation = await self.services.store.get_conversation(
                principal.conversation_id
            )
        except ConversationNotFound:
            raise Reject(CLOSE_UNAUTHORIZED, "the conversation no longer exists") from None
        c = self.conversation
        self.conn.send({"type": "welcome", "conversation_id": c.id, "last_seq": c.last_seq})
        self.conn.send({"type": "status", "conversation_id": c.id, "status": c.status})
        await self.conn.follow(c.id, hello.after_seq or 0, last_seq=c.last_seq)
        surveys = getattr(self.websocket.app.state, "surveys", None)
        if surveys is not None:  # closed and not yet answered: ask again
            survey = await surveys.pending_frame(c)
            if survey is not None:
                self.conn.send(survey)
        self.conn.release()

    def parse(self, raw: str) -> Any:
        return parse_visitor_frame(raw)

    async def handle(self, frame: Any) -> None:
        if isinstance(frame, SurveyResponse):
            await visitor_survey_response(self, frame)

    def handle_now(self, frame: Any) -> bool:
        if isinstance(frame, MessageIn):
            self._message(frame)
        elif isinstance(frame, Typing):
            self._typing(frame)
        elif isinstance(frame, Ping):
            self.conn.send({"type": "pong"})
        else:
            return False
        return True

    def _message(self, frame: MessageIn) -> None:
        text = check_text(frame, self.limits.max_text_chars)
        assert self.principal is not None
        request = AppendRequest(
            conversation_id=self.conversation.id,
            sender_role="customer",
            sender_id=self.principal.id,
            sender_name=self.conversation.customer.name,
            text=text,
            channel=self.conversation.channel,
            client_msg_id=frame.client_msg_id,
            origin=self.conn.id,
        )
        future = self.services.submit_message(request)
        future.add_done_callback(lambda f: acknowledge(self, frame.client_msg_id, f))

    def _typing(self, frame: Typing) -> None:
        payload = {
            "type": "typing",
            "conversation_id": self.conversation.id,
            "sender": {"role": "customer", "name": self.conversation.customer.name},
            "active": frame.active,
        }
        self.services.hub.publish(
            Event(
                conv_topic(self.conversation.id),
                "frame",
                dumps(payload),
                self.conversation.id,
                origin=self.conn.id,
            )
        )


def acknowledge(session: Session, client_msg_id: str, future: asyncio.Future[AppendResult]) -> None:
    """Answer a stored message with its ack, or say why it was not stored."""
    if future.cancelled():
        return
    exc = future.exception()
    if exc is None:
        message = future.result().message
        session.conn.send(
            {
                "type": "ack",
                "client_msg_id": client_msg_id,
                "conversation_id": message.conversation_id,
                "message_id": message.id,
                "seq": message.seq,
            }
        )
    elif isinstance(exc, ConversationClosed):
        session.error("conversation_closed", "the conversation is closed", client_msg_id)
    elif isinstance(exc, ConversationNotFound):
        session.error("not_found", "no such conversation", client_msg_id)
    else:
        session.error(
            "storage_unavailable",
            "the message was not stored; send it again with the same client_msg_id",
            client_msg_id,
        )


async def visitor_endpoint(websocket: WebSocket) -> None:
    await VisitorSession(websocket).run()
