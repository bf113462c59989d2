"""HTTP for bots and about bots: post a message, hand off, and the supervisors' report.

``POST /api/v1/conversations/{id}/messages`` is for any staff account or bot
that may write in the conversation (a webhook bot answering later uses it);
``client_msg_id`` makes it idempotent and the reply comes once the message is
stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bots import HandoffBody
from conversations import AppendRequest, ConversationStatus
from conversations.errors import ConversationClosed, ConversationNotFound, StoreError
from gateway.api import Body, parse_body, services_of, user_caller
from gateway.errors import BadRequest, Conflict, Forbidden, NotFound


class MessageBody(Body):
    text: Annotated[str, Field(min_length=1)]
    client_msg_id: Annotated[str, Field(min_length=1, max_length=100)]


async def post_message(request: Request) -> Response:
    """Post a message in a conversation as the calling agent, supervisor or bot.
    ---
    summary: Post a message
    tags: [conversations, bots]
    body: MessageBody
    responses:
      201: {description: "the stored message"}
      200: {description: "the message stored earlier with this client_msg_id"}
      400: {description: "invalid body or text too long"}
      403: {description: "not assigned to the caller"}
      404: {description: "no such conversation"}
      409: {description: "the conversation is closed"}
    """
    who = await user_caller(request, "agent", "supervisor", "admin", "bot")
    body = await parse_body(request, MessageBody)
    services = services_of(request)
    limit = services.settings.limits.max_text_chars
    if len(body.text) > limit:
        raise BadRequest(
            f"text is {len(body.text)} characters; the limit is {limit}", code="text_too_long"
        )
    if not body.text.strip():
        raise BadRequest("text must not be empty", code="empty_text")
    conversation = await services.visible_conversation(who, request.path_params["id"])
    if conversation.assigned_agent_id != who.id and not who.sees_everything:
        raise Forbidden("you can only write in conversations assigned to you", code="not_assigned")
    if conversation.status == ConversationStatus.CLOSED.value:
        raise Conflict("the conversation is closed", code="closed")
    append = AppendRequest(
        conversation_id=conversation.id,
        sender_role="bot" if who.role == "bot" else "agent",
        sender_id=who.id,
        sender_name=who.name,
        text=body.text,
        channel=conversation.channel,
        client_msg_id=body.client_msg_id,
    )
    try:
        result = await services.submit_message(append)
    except ConversationClosed:
        raise Conflict("the conversation is closed", code="closed") from None
    except ConversationNotFound:
        raise NotFound("no such conversation") from None
    except StoreError as exc:
        raise Conflict(str(exc), code="not_stored") from None
    return JSONResponse(result.message.to_wire(), status_code=200 if result.duplicate else 201)


async def hand_off(request: Request) -> Response:
    """A bot hands the conversation it holds to people.
    ---
    summary: Hand off to people
    tags: [bots]
    body: HandoffBody
    responses:
      200: {description: "the conversation, queued for people"}
      400: {description: "invalid body, or unknown_queue (it still went to people in its queue)"}
      403: {description: "the caller is not a configured bot"}
      404: {description: "no such conversation"}
      409: {description: "this bot does not hold the conversation"}
    """
    who = await user_caller(request, "bot")
    body = await parse_body(request, HandoffBody)
    services = services_of(request)
    await services.visible_conversation(who, request.path_params["id"])
    if services.bots is None:
        raise Forbidden("no bots are configured", code="not_a_bot")
    conversation = await services.bots.handoff_by(who, request.path_params["id"], body)
    return JSONResponse(conversation.to_wire())


def _moment(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"{name}: expected an RFC 3339 time such as 2026-11-29T10:00:00Z, got {raw!r}",
            code="invalid_field",
        ) from None
    if moment.tzinfo is None:
        raise BadRequest(f"{name}: give a time zone (e.g. Z)", code="invalid_field")
    return moment


async def bots_report(request: Request) -> Response:
    """Bots for supervisors: held now, containment and hand-offs by reason.
    ---
    summary: Bot report
    tags: [reports, bots]
    parameters:
      - {name: since, in: query, schema: {type: string}, description: "RFC 3339, inclusive"}
      - {name: until, in: query, schema: {type: string}, description: "RFC 3339, exclusive"}
    responses:
      200: {description: "held, containment, handoffs"}
      400: {description: "since/until not RFC 3339"}
      403: {description: "needs a supervisor or admin"}
    """
    await user_caller(request, "supervisor", "admin")
    since, until = _moment(request, "since"), _moment(request, "until")
    if since is not None and until is not None and until <= since:
        raise BadRequest("until must be after since", code="invalid_field")
    bots = services_of(request).bots
    if bots is None:
        return JSONResponse(
            {
                "bots": [],
                "held": [],
                "held_now": {},
                "taken": 0,
                "closed_by_bot": 0,
                "closed_otherwise": 0,
                "handed_off": 0,
                "containment": None,
                "handoffs": {},
            }
        )
    report = await bots.report(since, until)
    return JSONResponse(
        {
            "bots": sorted(bots.configs),
            "held": bots.held_conversations(),
            "held_now": {name: report.held_now.get(name, 0) for name in sorted(bots.configs)},
            "taken": report.taken,
            "closed_by_bot": report.closed_by_bot,
            "closed_otherwise": report.closed_otherwise,
            "handed_off": report.handed_off,
            "containment": report.containment,
            "handoffs": report.reasons,
        }
    )


routes = [
    Route("/api/v1/conversations/{id}/messages", post_message, methods=["POST"]),
    Route("/api/v1/conversations/{id}/handoff", hand_off, methods=["POST"]),
    Route("/api/v1/reports/bots", bots_report, methods=["GET"]),
]
