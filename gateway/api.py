"""The HTTP API under ``/api/v1`` (see docs/protocol.md)."""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conversations import (
    Conversation,
    ConversationExists,
    ConversationNotFound,
    ConversationStatus,
    User,
    UserExists,
)
from gateway.auth import Principal, dummy_hash, hash_password, verify_password
from gateway.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from gateway.ratelimit import Throttled
from gateway.services import Services, may_see
from gateway.settings import Role
from prechat import PrechatError, check_answers

MAX_BODY = 256 * 1024
M = TypeVar("M", bound=BaseModel)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenRequest(Body):
    username: Annotated[str, Field(min_length=1, max_length=100)]
    password: Annotated[str, Field(min_length=1, max_length=1000)]


SessionKey = Annotated[str, Field(min_length=16, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$")]
"""Long enough not to be guessed: whoever holds it gets the chat's token."""


class SessionRequest(Body):
    name: Annotated[str, Field(max_length=200)] | None = None
    email: EmailStr | None = None
    phone: Annotated[str, Field(max_length=40, pattern=r"^\+?[0-9 ()\-.]{3,40}$")] | None = None
    language: Annotated[str, Field(max_length=20)] | None = None
    prechat: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    widget: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    """The widget's id (``[[webchat.widgets]]``): its pre-chat survey applies."""
    session_key: SessionKey | None = None
    """Made by the widget once per chat it starts: requests with one key (a
    retry, a double submit, two racing tabs) yield one conversation."""


def session_conversation_id(key: str) -> str:
    """The conversation a ``session_key`` names: derived, so that the
    conversations table's primary key makes concurrent creations one."""
    digest = hashlib.sha256(b"switchboard webchat session\0" + key.encode()).hexdigest()
    return f"c_{digest[:32]}"


class UserCreate(Body):
    username: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\w.@+-]+$")]
    password: Annotated[str, Field(min_length=8, max_length=1000)]
    role: Role = "agent"
    display_name: Annotated[str, Field(max_length=200)] | None = None
    skills: dict[str, Annotated[int, Field(ge=1, le=5)]] = Field(default_factory=dict)
    capacity: dict[str, Any] = Field(default_factory=dict)
    queues: list[str] | None = None


class UserUpdate(Body):
    password: Annotated[str, Field(min_length=8, max_length=1000)] | None = None
    role: Role | None = None
    display_name: Annotated[str, Field(max_length=200)] | None = None
    disabled: bool | None = None
    skills: dict[str, Annotated[int, Field(ge=1, le=5)]] | None = None
    capacity: dict[str, Any] | None = None
    queues: list[str] | None = None


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def parse_body(request: Request, model: type[M]) -> M:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise BadRequest(f"the body is over {MAX_BODY} bytes", code="too_large", status=413)
    if b"\\u0000" in raw:  # PostgreSQL cannot store it; no field of ours has one
        raise BadRequest("the body contains a NUL character (\\u0000)", code="invalid_field")
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            raise BadRequest("the body is not valid JSON", code="invalid_json") from None
        field = ".".join(str(p) for p in first["loc"]) or "body"
        code = "missing_field" if first["type"] == "missing" else "invalid_field"
        raise BadRequest(f"{field}: {first['msg']}", code=code) from None


async def caller(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send Authorization: Bearer <token>")
    return await services_of(request).authenticate(token.strip())


async def user_caller(request: Request, *roles: str) -> Principal:
    who = await caller(request)
    if who.kind != "user":
        raise Forbidden("this needs an agent, supervisor or admin token")
    if roles and who.role not in roles:
        raise Forbidden(f"this needs the role {' or '.join(roles)}")
    return who


# -- auth ---------------------------------------------------------------------


def client_address(request: Request) -> str | None:
    """The caller's address (behind a trusted proxy, from its forwarding headers)."""
    return request.client.host if request.client is not None else None


def _too_many(throttled: Throttled) -> TooManyRequests:
    seconds = max(1, math.ceil(throttled.retry_after))
    whose = "from this address" if throttled.scope == "address" else "for this username"
    return TooManyRequests(
        f"too many failed sign-ins {whose}; try again in {seconds} s",
        retry_after=seconds,
        code="login_throttled",
    )


async def issue_token(request: Request) -> Response:
    """Exchange a username and password for a bearer token.
    ---
    tags: [auth]
    body: TokenRequest
    responses:
      200: {description: "the token and the account"}
      400: {description: "invalid body"}
      401: {description: "wrong username or password"}
      429: {description: "too many failed sign-ins from this address or for this username;
            wait Retry-After seconds"}
    """
    body = await parse_body(request, TokenRequest)
    services = services_of(request)
    address = client_address(request) or "unknown"
    throttled = await services.logins.check(address, body.username)
    if throttled is not None:
        raise _too_many(throttled)
    user = await services.store.user_by_name(body.username)
    # The hash is checked even without an account, so the answer takes as
    # long for a name that does not exist as for a wrong password.
    right = verify_password(user.password_hash if user else dummy_hash(), body.password)
    if user is None or user.disabled or not right:
        throttled = await services.logins.failed(address, body.username)
        await services.audit.add(
            "login_failed",
            subject_type="user",
            subject_id=user.id if user else None,
            subject_name=body.username,
            address=address,
            reason="disabled" if user is not None and user.disabled and right else "credentials",
        )
        if throttled is not None:
            await services.audit.add(
                "login_throttled",
                subject_type="user",
                subject_id=user.id if user else None,
                subject_name=body.username,
                address=address,
                scope=throttled.scope,
                retry_after=math.ceil(throttled.retry_after),
            )
        raise Unauthorized("wrong username or password", code="invalid_credentials")
    await services.logins.succeeded(body.username)
    await services.audit.add(
        "login_succeeded",
        actor_id=user.id,
        actor_name=user.username,
        subject_type="user",
        subject_id=user.id,
        subject_name=user.username,
        address=address,
    )
    return JSONResponse(
        {
            "access_token": services.tokens.issue_user(user.id, user.role, user.password_hash),
            "token_type": "bearer",
            "expires_in": services.tokens.user_ttl_s,
            "user": user.to_wire(),
        }
    )


async def me(request: Request) -> Response:
    """The calling account.
    ---
    tags: [auth]
    responses:
      200: {description: "the account"}
      401: {description: "no or bad token"}
      403: {description: "not a staff token"}
    """
    who = await user_caller(request)
    user = await services_of(request).store.user_by_id(who.id)
    assert user is not None
    return JSONResponse(user.to_wire())


# -- web chat -----------------------------------------------------------------


async def create_session(request: Request) -> Response:
    """Open a web chat conversation and get its visitor token. With a
    ``session_key`` seen before, the same conversation and a new token.
    ---
    tags: [webchat]
    body: SessionRequest
    responses:
      200: {description: "the conversation of this session_key, made before, and a new token"}
      201: {description: "conversation_id and visitor_token"}
      400: {description: "invalid body, unknown widget, or answers that do not fit its survey"}
      429: {description: "too many new sessions from this address ([limits] sessions_*);
            wait Retry-After seconds"}
    """
    services = services_of(request)
    services.address_limits.new_session(client_address(request) or "unknown", time.monotonic())
    body = await parse_body(request, SessionRequest)
    webchat = services.settings.webchat
    widget = webchat.widget(body.widget)
    if widget is None:
        raise BadRequest(
            f"unknown widget {body.widget!r}; widgets: {', '.join(webchat.widget_ids())}",
            code="unknown_widget",
        )
    context = body.context if body.widget is None else {**body.context, "widget": widget.id}
    try:
        prechat = check_answers(widget.prechat, body.prechat)
    except PrechatError as exc:
        code = "missing_field" if exc.missing else "invalid_field"
        raise BadRequest(str(exc), code=code) from None
    identities = []
    if body.email:
        identities.append(("email", body.email.lower()))
    if body.phone:
        identities.append(("phone", body.phone))
    fixed = session_conversation_id(body.session_key) if body.session_key else None
    try:
        if fixed is not None:
            with contextlib.suppress(ConversationNotFound):
                return _session(services, await services.store.get_conversation(fixed), 200)
        conversation = await services.open_conversation(
            channel="webchat",
            identities=identities,
            name=body.name,
            email=body.email,
            phone=body.phone,
            language=body.language,
            prechat=prechat,
            context=context,
            conversation_id=fixed,
        )
    except ConversationExists as exc:  # a concurrent request with this key won
        return _session(services, await services.store.get_conversation(exc.conversation_id), 200)
    return _session(services, conversation, 201)


def _session(services: Services, conversation: Conversation, status: int) -> Response:
    return JSONResponse(
        {
            "conversation_id": conversation.id,
            "visitor_token": services.tokens.issue_visitor(
                conversation.customer.id, conversation.id
            ),
            "expires_in": services.tokens.visitor_ttl_s,
        },
        status_code=status,
    )


# -- conversations ------------------------------------------------------------


async def list_conversations(request: Request) -> Response:
    """Conversations the caller may see.
    ---
    tags: [conversations]
    parameters:
      - name: status
        in: query
        schema: {type: string}
        description: "comma-separated statuses"
      - name: limit
        in: query
        schema: {type: string}
        description: "at most this many (max 1000)"
    responses:
      200: {description: "the conversations"}
      400: {description: "unknown status or bad limit"}
      401: {description: "no or bad token"}
    """
    who = await user_caller(request)
    status = request.query_params.get("status")
    statuses = None
    if status is not None:
        statuses = [s for s in status.split(",") if s]
        unknown = set(statuses) - {s.value for s in ConversationStatus}
        if unknown:
            raise BadRequest(f"unknown status {sorted(unknown)}", code="invalid_field")
    try:
        limit = min(int(request.query_params.get("limit", "200")), 1000)
    except ValueError:
        raise BadRequest("limit must be a number", code="invalid_field") from None
    store = services_of(request).store
    if who.sees_everything:
        found = await store.list_conversations(statuses=statuses, limit=limit)
    else:
        found = await store.list_conversations(
            statuses=statuses, agent_id=who.id, include_unassigned=True, limit=limit
        )
        found = [c for c in found if may_see(who, c)]
    return JSONResponse({"conversations": [c.to_wire() for c in found]})


async def get_conversation(request: Request) -> Response:
    """One conversation.
    ---
    tags: [conversations]
    responses:
      200: {description: "the conversation"}
      404: {description: "no such conversation, or not visible to the caller"}
    """
    who = await caller(request)
    services = services_of(request)
    conversation = await services.visible_conversation(who, request.path_params["id"])
    body = conversation.to_wire()
    if services.sla is not None and who.kind == "user":  # staff see the SLA clocks
        body["sla"] = await services.sla.for_subject("conversation", conversation.id)
    return JSONResponse(body)


async def conversation_messages(request: Request) -> Response:
    """A conversation's messages in seq order.
    ---
    tags: [conversations]
    parameters:
      - name: after_seq
        in: query
        schema: {type: string}
        description: "only messages after this seq"
    responses:
      200: {description: "the messages"}
      400: {description: "bad after_seq"}
      404: {description: "no such conversation"}
    """
    who = await caller(request)
    services = services_of(request)
    conversation = await services.visible_conversation(who, request.path_params["id"])
    try:
        after = int(request.query_params.get("after_seq", "0"))
    except ValueError:
        raise BadRequest("after_seq must be a number", code="invalid_field") from None
    messages = await services.store.messages_after(conversation.id, after, limit=5000)
    return JSONResponse({"messages": [m.to_wire() for m in messages]})


async def conversation_context(request: Request) -> Response:
    """The session context an agent sees: customer, pre-chat answers, recent
    conversations and the timeline.
    ---
    tags: [conversations]
    responses:
      200: {description: "customer, pre-chat, recent conversations, timeline"}
      404: {description: "no such conversation"}
    """
    who = await user_caller(request)
    services = services_of(request)
    conversation = await services.visible_conversation(who, request.path_params["id"])
    recent = await services.store.list_conversations(customer_id=conversation.customer.id, limit=6)
    timeline = await services.store.timeline(conversation.id)
    return JSONResponse(
        {
            "conversation": conversation.to_wire(),
            "customer": conversation.customer.to_wire(),
            "prechat": conversation.prechat,
            "context": conversation.context,
            "recent_conversations": [c.to_wire() for c in recent if c.id != conversation.id][:5],
            "timeline": [e.to_wire() for e in timeline],
        }
    )


async def assign_conversation(request: Request) -> Response:
    """Take a conversation by hand.
    ---
    tags: [conversations]
    responses:
      200: {description: "the conversation"}
      404: {description: "no such conversation"}
      409: {description: "already taken or closed"}
    """
    who = await user_caller(request, "agent", "supervisor", "admin", "bot")
    services = services_of(request)
    await services.visible_conversation(who, request.path_params["id"])
    conversation = await services.assign(request.path_params["id"], who.id, actor=who.id)
    return JSONResponse(conversation.to_wire())


async def close_conversation(request: Request) -> Response:
    """Close a conversation.
    ---
    tags: [conversations]
    responses:
      200: {description: "the conversation"}
      403: {description: "not the assigned agent or a supervisor"}
      404: {description: "no such conversation"}
      409: {description: "already closed"}
    """
    who = await caller(request)
    conversation = await services_of(request).close(request.path_params["id"], who)
    return JSONResponse(conversation.to_wire())


# -- operations (supervisors) ------------------------------------------------


async def list_queues(request: Request) -> Response:
    """Queues with their waiting work.
    ---
    tags: [operations]
    responses:
      200: {description: "the queues"}
      403: {description: "not staff"}
    """
    await user_caller(request, "supervisor", "admin", "agent")
    return JSONResponse({"queues": services_of(request).routing.queues()})


async def list_agents(request: Request) -> Response:
    """Agents with presence and load.
    ---
    tags: [operations]
    responses:
      200: {description: "the agents"}
      403: {description: "not a supervisor or admin"}
    """
    await user_caller(request, "supervisor", "admin")
    return JSONResponse({"agents": services_of(request).routing.agents()})


async def cluster_status(request: Request) -> Response:
    """The cluster: its nodes, which one routes, the routing log's lag.

    ``self`` is the node that answers; each node has the time of its last
    heartbeat and the agent connections it holds; ``log_lag`` counts routing
    inputs appended but not yet carried out by the router. On one process
    without Redis: that node, routing, with a lag of 0.
    ---
    tags: [operations]
    responses:
      200: {description: "self, nodes [{id, router, last_seen, agents}], log_lag"}
      403: {description: "not an admin"}
      503: {description: "Redis is down"}
    """
    await user_caller(request, "admin")
    try:
        view = await services_of(request).routing.cluster_view()
    except (OSError, RedisError) as exc:
        return JSONResponse({"error": f"the cluster's state is unavailable: {exc}"}, 503)
    return JSONResponse(view)


# -- users (admin) ------------------------------------------------------------


async def list_users(request: Request) -> Response:
    """Accounts.
    ---
    tags: [users]
    responses:
      200: {description: "the accounts"}
      403: {description: "not a supervisor or admin"}
    """
    await user_caller(request, "admin", "supervisor")
    users = await services_of(request).store.list_users()
    return JSONResponse({"users": [u.to_wire() for u in users]})


async def create_user(request: Request) -> Response:
    """Create an account.
    ---
    tags: [users]
    body: UserCreate
    responses:
      201: {description: "the account"}
      400: {description: "invalid body"}
      403: {description: "not an admin"}
      409: {description: "the username is taken"}
    """
    who = await user_caller(request, "admin")
    body = await parse_body(request, UserCreate)
    try:
        user = await services_of(request).store.create_user(
            username=body.username,
            role=body.role,
            password_hash=hash_password(body.password),
            display_name=body.display_name,
            skills=body.skills,
            capacity=body.capacity,
            queues=body.queues,
        )
    except UserExists as exc:
        raise Conflict(str(exc), code="user_exists") from None
    await services_of(request).user_changed(user, actor=who.id)
    await services_of(request).audit.add(
        "user_created",
        **_actor(who, request),
        subject_type="user",
        subject_id=user.id,
        subject_name=user.username,
        role=user.role,
    )
    return JSONResponse(user.to_wire(), status_code=201)


async def update_user(request: Request) -> Response:
    """Edit an account (skills, capacity, role, disabled).
    ---
    tags: [users]
    body: UserUpdate
    responses:
      200: {description: "the account"}
      400: {description: "invalid body"}
      403: {description: "not an admin"}
      404: {description: "no such account"}
    """
    who = await user_caller(request, "admin")
    body = await parse_body(request, UserUpdate)
    values = body.model_dump(exclude_unset=True)
    if "password" in values:
        values["password_hash"] = hash_password(values.pop("password"))
    store = services_of(request).store
    before = await store.user_by_id(request.path_params["id"])
    user = await store.update_user(request.path_params["id"], **values)
    if before is None or user is None:
        raise NotFound("no such user")
    await services_of(request).user_changed(
        user,
        actor=who.id,
        role_changed=user.role != before.role,
        password_changed=user.password_hash != before.password_hash,
    )
    await _audit_user_change(request, who, before, user)
    return JSONResponse(user.to_wire())


def _actor(who: Principal, request: Request) -> dict[str, Any]:
    name = who.user.username if who.user is not None else who.name
    return {"actor_id": who.id, "actor_name": name, "address": client_address(request)}


async def _audit_user_change(request: Request, who: Principal, before: User, after: User) -> None:
    changes: list[tuple[str, dict[str, Any]]] = []
    if after.password_hash != before.password_hash:
        changes.append(("password_changed", {}))
    if after.role != before.role:
        changes.append(("role_changed", {"from": before.role, "to": after.role}))
    if after.disabled != before.disabled:
        changes.append(("account_disabled" if after.disabled else "account_enabled", {}))
    audit = services_of(request).audit
    for action, detail in changes:
        await audit.add(
            action,
            **_actor(who, request),
            subject_type="user",
            subject_id=after.id,
            subject_name=after.username,
            **detail,
        )


routes = [
    Route("/api/v1/auth/token", issue_token, methods=["POST"]),
    Route("/api/v1/me", me, methods=["GET"]),
    Route("/api/v1/webchat/sessions", create_session, methods=["POST"]),
    Route("/api/v1/conversations", list_conversations, methods=["GET"]),
    Route("/api/v1/conversations/{id}", get_conversation, methods=["GET"]),
    Route("/api/v1/conversations/{id}/messages", conversation_messages, methods=["GET"]),
    Route("/api/v1/conversations/{id}/context", conversation_context, methods=["GET"]),
    Route("/api/v1/conversations/{id}/assign", assign_conversation, methods=["POST"]),
    Route("/api/v1/conversations/{id}/close", close_conversation, methods=["POST"]),
    Route("/api/v1/queues", list_queues, methods=["GET"]),
    Route("/api/v1/agents", list_agents, methods=["GET"]),
    Route("/api/v1/cluster", cluster_status, methods=["GET"]),
    Route("/api/v1/users", list_users, methods=["GET"]),
    Route("/api/v1/users", create_user, methods=["POST"]),
    Route("/api/v1/users/{id}", update_user, methods=["PATCH"]),
]
