"""HTTP for agent guidance: the conversation's script and its progress,
macros, canned responses and the take-over summary (docs/console.md).

The pure parts live in ``guidance/``; this shell reads the conversation,
asks the core what to do and does it through ``Services`` (the message
writer, transfer, close), so a macro changes a conversation exactly as the
agent doing it by hand would. The summary is also put on offers
(``offer_summary``, called from gateway/routing.py).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conversations import AppendRequest, Conversation, ConversationStatus
from conversations.ids import new_id
from conversations.models import rfc3339
from gateway.api import Body, parse_body, services_of, user_caller
from gateway.auth import Principal
from gateway.errors import BadRequest, Conflict, Forbidden, NotFound
from gateway.services import Services
from guidance import (
    Close,
    Escape,
    Happening,
    Line,
    MacroConfig,
    ScriptConfig,
    Send,
    SetContext,
    StepError,
    Summary,
    Template,
    Transfer,
    check_mark,
    choose_script,
    conversation_facts,
    fingerprint,
    plan,
    script_view,
    search,
    step_of,
    summarize,
    template_values,
)
from guidance.config import MacroStep
from guidance.store import GuidanceStore

log = logging.getLogger(__name__)
SUMMARY_MESSAGES = 500


class StepMark(Body):
    done: bool = True


class MacroRun(Body):
    """Running a macro takes no options today; the body may be empty."""


def _store(request: Request) -> GuidanceStore:
    state = request.app.state
    store: GuidanceStore | None = getattr(state, "guidance_store", None)
    if store is None:
        store = state.guidance_store = GuidanceStore(services_of(request).store.engines)
    return store


def _customer(conversation: Conversation) -> dict[str, Any]:
    return {**conversation.customer.attributes, **conversation.customer.to_wire()}


def _facts(conversation: Conversation) -> dict[str, Any]:
    return conversation_facts(
        queue=conversation.queue,
        channel=conversation.channel,
        language=conversation.language,
        context=conversation.context,
        prechat=conversation.prechat,
        customer=_customer(conversation),
    )


def _values(conversation: Conversation, who: Principal) -> dict[str, Any]:
    return template_values(
        customer=_customer(conversation),
        context=conversation.context,
        prechat=conversation.prechat,
        agent_name=who.name,
        conversation={
            "id": conversation.id,
            "channel": conversation.channel,
            "queue": conversation.queue,
            "language": conversation.language,
            "subject": conversation.subject,
        },
    )


def _may_act(who: Principal, conversation: Conversation, what: str) -> None:
    if not who.sees_everything and conversation.assigned_agent_id != who.id:
        raise Forbidden(f"only the assigned agent or a supervisor can {what}")


def _macro(services: Services, name: str) -> MacroConfig:
    for macro in services.settings.macros:
        if macro.name == name:
            return macro
    known = ", ".join(sorted(m.name for m in services.settings.macros)) or "none configured"
    raise NotFound(f"no macro named {name!r} (known: {known})", code="unknown_macro")


def _script(services: Services, conversation: Conversation) -> ScriptConfig | None:
    return choose_script(services.settings.scripts, _facts(conversation))


async def _script_body(
    request: Request, services: Services, conversation: Conversation
) -> dict[str, Any]:
    script = _script(services, conversation)
    if script is None:
        return {"conversation_id": conversation.id, "script": None}
    progress = await _store(request).progress(conversation.id, script.name)
    macros = {m.name: m for m in services.settings.macros}
    return {
        "conversation_id": conversation.id,
        "script": script_view(script, progress, macros, rfc3339),
    }


# -- macros --------------------------------------------------------------------


async def run_macro(
    request: Request, who: Principal, conversation: Conversation, macro: MacroConfig
) -> list[dict[str, Any]]:
    """Carry out a macro's actions in order; what each did."""
    services = services_of(request)
    if conversation.status == ConversationStatus.CLOSED.value:
        raise Conflict("the conversation is closed", code="closed")
    _may_act(who, conversation, "run macros on it")
    planned = plan(macro, _values(conversation, who), conversation.channel)
    limit = services.settings.limits.max_text_chars
    for action in planned:
        if isinstance(action, Send) and len(action.text) > limit:
            raise BadRequest(
                f"macro {macro.name!r} would send {len(action.text)} characters;"
                f" the limit is {limit}",
                code="text_too_long",
            )
    results: list[dict[str, Any]] = []
    await services.store.add_event(
        conversation.id, "macro", who.id, {"macro": macro.name, "by": who.name}
    )
    for action in planned:
        if isinstance(action, Send):
            stored = await services.submit_message(
                AppendRequest(
                    conversation_id=conversation.id,
                    sender_role="bot" if who.role == "bot" else "agent",
                    sender_id=who.id,
                    sender_name=who.name,
                    text=action.text,
                    channel=conversation.channel,
                    client_msg_id=new_id("macro"),
                )
            )
            message = stored.message
            results.append(
                {"kind": "send", "message_id": message.id, "seq": message.seq, "text": message.text}
            )
        elif isinstance(action, SetContext):
            await _store(request).set_context(
                conversation.id, action.name, action.value, actor=who.id
            )
            results.append({"kind": "set", "name": action.name, "value": action.value})
        elif isinstance(action, Transfer):
            moved = await services.transfer(conversation.id, who, action.queue, action.note)
            results.append({"kind": "transfer", "queue": moved.queue})
        elif isinstance(action, Close):
            await services.close(conversation.id, who)
            results.append({"kind": "close"})
    return results


async def post_macro(request: Request) -> Response:
    """Run a macro on a conversation.

    Sends its templated messages as the caller, sets context variables, and
    transfers or closes, in order. Only the assigned agent or a supervisor.
    ---
    tags: [guidance]
    body: MacroRun
    responses:
      200: {description: "what each action did, and the conversation after"}
      400: {description: "invalid body, or a message over the length limit"}
      401: {description: "no or bad token"}
      403: {description: "not the assigned agent or a supervisor"}
      404: {description: "no such conversation, or no such macro"}
      409: {description: "the conversation is closed"}
    """
    who = await user_caller(request)
    await parse_body(request, MacroRun)
    services = services_of(request)
    conversation = await services.visible_conversation(who, request.path_params["id"])
    macro = _macro(services, request.path_params["name"])
    results = await run_macro(request, who, conversation, macro)
    after = await services.store.get_conversation(conversation.id)
    return JSONResponse({"macro": macro.name, "results": results, "conversation": after.to_wire()})


async def list_macros(request: Request) -> Response:
    """The configured macros, for the console's macro menu.
    ---
    tags: [guidance]
    responses:
      200: {description: "macros: [{name, title, actions}]"}
      401: {description: "no or bad token"}
      403: {description: "not a staff token"}
    """
    await user_caller(request)
    macros = services_of(request).settings.macros
    return JSONResponse(
        {
            "macros": [
                {"name": m.name, "title": m.label, "actions": [a.kind for a in m.actions]}
                for m in macros
            ]
        }
    )


# -- scripts -------------------------------------------------------------------


async def get_script(request: Request) -> Response:
    """The conversation's script: its steps and their stored progress.

    The first configured script whose ``when`` holds for the conversation;
    ``script`` is null when none does.
    ---
    tags: [guidance]
    responses:
      200: {description: "conversation_id and script (name, title, steps, done, total) or null"}
      401: {description: "no or bad token"}
      403: {description: "not a staff token"}
      404: {description: "no such conversation"}
    """
    who = await user_caller(request)
    services = services_of(request)
    conversation = await services.visible_conversation(who, request.path_params["id"])
    return JSONResponse(await _script_body(request, services, conversation))


async def post_step(request: Request) -> Response:
    """Tick or untick a step of the conversation's script.

    A text or check step is marked done (or not); a macro step runs its macro
    once. Progress is stored on the conversation, so it survives reloads and
    transfers.
    ---
    tags: [guidance]
    body: StepMark
    responses:
      200: {description: "the script with its progress, and the macro's result for a macro step"}
      400: {description: "invalid body"}
      401: {description: "no or bad token"}
      403: {description: "not the assigned agent or a supervisor"}
      404: {description: "no such conversation, no script for it, or no such step"}
      409: {description: "a macro step already run or undone, or the conversation is closed"}
    """
    who = await user_caller(request)
    body = await parse_body(request, StepMark)
    services = services_of(request)
    conversation = await services.visible_conversation(who, request.path_params["id"])
    script = _script(services, conversation)
    if script is None:
        raise NotFound("no script applies to this conversation", code="no_script")
    index: int = request.path_params["index"]
    store = _store(request)
    try:
        step = step_of(script, index)
        stored = (await store.progress(conversation.id, script.name)).get(index)
        if stored is not None and stored.fingerprint != fingerprint(step):
            stored = None  # a tick of what the step said before the config changed
        check_mark(step, body.done, stored)
    except StepError as exc:
        if exc.code == "no_such_step":
            raise NotFound(str(exc), code=exc.code) from None
        raise Conflict(str(exc), code=exc.code) from None
    _may_act(who, conversation, "work through its script")
    key = (conversation.id, script.name, index, fingerprint(step))
    reply: dict[str, Any] = {}
    if isinstance(step, MacroStep):
        macro = _macro(services, step.macro)
        if conversation.status == ConversationStatus.CLOSED.value:
            raise Conflict("the conversation is closed", code="closed")
        _may_act(who, conversation, "run macros on it")
        claimed = await store.mark(*key, done=True, by=who.id, by_name=who.name, claim=True)
        if not claimed:
            raise Conflict("this macro step has already been run", code="step_done")
        try:
            results = await run_macro(request, who, conversation, macro)
        except Exception:
            await store.release(conversation.id, script.name, index)
            raise
        await store.finish(conversation.id, script.name, index, {"results": results})
        reply["results"] = results
        conversation = await services.store.get_conversation(conversation.id)
    else:
        await store.mark(*key, done=body.done, by=who.id, by_name=who.name)
    return JSONResponse({**await _script_body(request, services, conversation), **reply})


# -- canned responses ----------------------------------------------------------


async def get_canned(request: Request) -> Response:
    """Search canned responses.

    With ``conversation_id``, each also comes ``rendered`` with that
    conversation's values (escaped for its channel), ready for the composer.
    ---
    tags: [guidance]
    parameters:
      - name: q
        in: query
        schema: {type: string}
        description: "words to find in the name, title, tags or text; empty: all"
      - name: conversation_id
        in: query
        schema: {type: string}
        description: "fill the templates for this conversation"
      - name: limit
        in: query
        schema: {type: string}
        description: "at most this many (default 20, max 100)"
    responses:
      200: {description: "canned: [{name, title, text, tags, score, rendered?}]"}
      400: {description: "bad limit"}
      401: {description: "no or bad token"}
      403: {description: "not a staff token"}
      404: {description: "no such conversation"}
    """
    who = await user_caller(request)
    services = services_of(request)
    try:
        limit = max(1, min(int(request.query_params.get("limit", "20")), 100))
    except ValueError:
        raise BadRequest("limit must be a number", code="invalid_field") from None
    query = request.query_params.get("q", "")[:200]
    conversation = None
    if request.query_params.get("conversation_id"):
        conversation = await services.visible_conversation(
            who, request.query_params["conversation_id"]
        )
    found = []
    for item, score in search(services.settings.canned, query, limit):
        entry: dict[str, Any] = {
            "name": item.name,
            "title": item.title or item.name,
            "text": item.text,
            "tags": item.tags,
            "score": round(score, 3),
        }
        if conversation is not None:
            entry["rendered"] = Template.parse(item.text).render(
                _values(conversation, who), Escape.for_channel(conversation.channel)
            )
        found.append(entry)
    return JSONResponse({"canned": found})


# -- summary -------------------------------------------------------------------


async def build_summary(services: Services, conversation: Conversation) -> Summary:
    store = services.store
    messages = await store.messages_after(conversation.id, 0, limit=SUMMARY_MESSAGES)
    timeline = await store.timeline(conversation.id)
    earlier = await store.list_conversations(customer_id=conversation.customer.id, limit=100)
    users: dict[str, tuple[str, str] | None] = {}

    async def user_of(user_id: Any) -> tuple[str, str] | None:
        """(display name, role) of a user id; None for anything else."""
        if not isinstance(user_id, str) or not user_id.startswith("u_"):
            return None
        if user_id not in users:
            user = await store.user_by_id(user_id)
            users[user_id] = (user.display_name or user.username, user.role) if user else None
        return users[user_id]

    events = []
    for event in timeline:
        data = dict(event.data)
        if data.get("agent_id") and (agent := await user_of(data["agent_id"])):
            data["agent_name"], data["agent_is_bot"] = agent[0], agent[1] == "bot"
        by = await user_of(event.actor)
        actor = by[0] if by else (event.actor if event.actor in ("router", "system") else None)
        events.append(Happening(event.type, actor, data))
    context = dict(conversation.context)
    bots = services.bots
    if bots is not None and hasattr(bots, "handoff_of"):
        handoff = await bots.handoff_of(conversation.id)
        if handoff:
            context["handoff"] = handoff
    return summarize(
        customer=_customer(conversation),
        channel=conversation.channel,
        language=conversation.language,
        prechat=conversation.prechat,
        context=context,
        lines=[Line(m.sender_role, m.sender_name, m.text) for m in messages],
        events=events,
        previous_conversations=sum(1 for c in earlier if c.id != conversation.id),
    )


async def offer_summary(services: Services, conversation: Conversation) -> dict[str, Any] | None:
    """The summary for an offer's context; None (and a log line) if it
    cannot be made: an offer must never fail for want of a summary."""
    try:
        return (await build_summary(services, conversation)).to_wire()
    except Exception:
        log.exception("summary for the offer of %s failed", conversation.id)
        return None


async def get_summary(request: Request) -> Response:
    """An extractive summary for the agent taking the conversation over.

    Who the customer is, what they asked (their key sentences), and what was
    done (hand-offs, transfers, macros), taken from what is stored.
    ---
    tags: [guidance]
    responses:
      200: {description: "who, asked, done and text"}
      401: {description: "no or bad token"}
      403: {description: "not a staff token"}
      404: {description: "no such conversation"}
    """
    who = await user_caller(request)
    services = services_of(request)
    conversation = await services.visible_conversation(who, request.path_params["id"])
    summary = await build_summary(services, conversation)
    return JSONResponse({"conversation_id": conversation.id, **summary.to_wire()})


routes = [
    Route("/api/v1/conversations/{id}/script", get_script, methods=["GET"]),
    Route("/api/v1/conversations/{id}/script/steps/{index:int}", post_step, methods=["POST"]),
    Route("/api/v1/conversations/{id}/macros/{name}", post_macro, methods=["POST"]),
    Route("/api/v1/conversations/{id}/summary", get_summary, methods=["GET"]),
    Route("/api/v1/canned", get_canned, methods=["GET"]),
    Route("/api/v1/macros", list_macros, methods=["GET"]),
]
