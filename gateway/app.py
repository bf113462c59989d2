"""The ASGI application: routes, error replies, and start-up/shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from conversations.errors import UserExists
from gateway import (
    api,
    audit_api,
    bots_api,
    cases_api,
    customers_api,
    guidance_api,
    knowledge_api,
    openapi,
    reports_api,
    scheduling_api,
    surveys_runtime,
    webchat_api,
    webhooks,
)
from gateway.auth import hash_password
from gateway.bot_runtime import BotRuntime
from gateway.cases_runtime import CaseRuntime
from gateway.channel_runtime import ChannelRuntime
from gateway.connection import CLOSE_GOING_AWAY
from gateway.errors import GatewayError, TooManyRequests
from gateway.knowledge_runtime import KnowledgeRuntime
from gateway.request_guard import RequestGuard
from gateway.routing import RoutingShell
from gateway.security_headers import SecurityHeaders
from gateway.sentiment_runtime import SentimentRuntime
from gateway.services import Services
from gateway.settings import Settings
from gateway.sla_runtime import SlaRuntime
from gateway.surveys_runtime import SurveysRuntime
from gateway.ws_agent import agent_endpoint
from gateway.ws_visitor import visitor_endpoint

log = logging.getLogger(__name__)
STATIC = Path(__file__).with_name("static")


async def healthz(request: Request) -> Response:
    """Liveness: 200 while the process accepts work.
    ---
    tags: [meta]
    responses:
      200: {description: "ok"}
    """
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Readiness: 503 while a required dependency is down.
    ---
    tags: [meta]
    responses:
      200: {description: "ready"}
      503: {description: "the database or Redis is down"}
    """
    services: Services = request.app.state.services
    down = await services.check_ready()
    if down:
        return JSONResponse(
            {
                "status": "unavailable",
                "down": down,
                "error": {"code": "unavailable", "message": f"down: {', '.join(down)}"},
            },
            status_code=503,
        )
    return JSONResponse({"status": "ready"})


def _page(name: str) -> Route:
    async def page(request: Request) -> Response:
        return FileResponse(STATIC / name)

    return Route("/" if name == "console.html" else f"/{name.removesuffix('.html')}", page)


async def gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
    return JSONResponse(exc.to_body(), status_code=exc.status, headers=headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    body = {"error": {"code": codes.get(exc.status_code, "http_error"), "message": exc.detail}}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    body = {"error": {"code": "internal", "message": "internal server error"}}
    return JSONResponse(body, status_code=500)


async def seed_users(services: Services) -> None:
    """Create the accounts listed in the config that do not exist yet."""
    import os

    for seed in services.settings.users:
        if await services.store.user_by_name(seed.username) is not None:
            continue
        password_hash = seed.password_hash
        if password_hash is None and seed.password_env:
            password = os.environ.get(seed.password_env)
            if password:
                password_hash = hash_password(password)
        if password_hash is None:
            log.warning("user %s from config has no password; not created", seed.username)
            continue
        try:
            user = await services.store.create_user(
                username=seed.username,
                role=seed.role,
                password_hash=password_hash,
                display_name=seed.display_name,
                skills=seed.skills,
                capacity=seed.capacity,
                queues=seed.queues,
            )
        except UserExists:  # another node starting with us made it
            continue
        await services.audit.add(
            "user_created",
            actor_name="config",
            subject_type="user",
            subject_id=user.id,
            subject_name=user.username,
            role=user.role,
        )


async def drain(services: Services) -> None:
    """Graceful shutdown: store what is in flight, then say goodbye (1001)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(services.writer.flush(), services.settings.shutdown_grace_s)
    connections = list(services.connections)
    for conn in connections:
        conn.close(CLOSE_GOING_AWAY, "server shutting down")
    if connections:
        await asyncio.wait(
            [asyncio.ensure_future(c.closed()) for c in connections],
            timeout=services.settings.shutdown_grace_s,
        )


def create_app(settings: Settings, smtp_socket: socket.socket | None = None) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await Services.start(settings)
        app.state.services = services
        await seed_users(services)
        bots = BotRuntime(services, settings) if settings.bots else None
        if bots is not None:
            await bots.prepare()  # routing must know the bot accounts to leave them out
            services.bots = bots
        services.routing = RoutingShell(services, settings.routing, settings.timezone)
        await services.routing.start()
        if bots is not None:
            await bots.start()
        channels = ChannelRuntime(services, smtp_socket=smtp_socket)
        await channels.start()
        app.state.channels = channels
        sla = SlaRuntime(services, email_sender=channels.senders.get("email"))
        await sla.start()
        services.sla = sla
        case_runtime = CaseRuntime(services, settings.cases, settings.record_rules)
        await case_runtime.start()
        knowledge = KnowledgeRuntime(services)
        await knowledge.start()
        app.state.knowledge = knowledge
        scheduling = scheduling_api.SchedulingRuntime(services, channels)
        await scheduling.start()
        app.state.scheduling = scheduling
        surveys = SurveysRuntime(services, settings.surveys, channels)
        await surveys.start()
        app.state.surveys = surveys
        scoring = None
        if settings.sentiment.enabled:
            scoring = SentimentRuntime(services, settings.sentiment)
            await scoring.start()
        # What start-up loaded (modules, metadata, models) lives as long as
        # the process: keep it out of the collector's full passes, which
        # otherwise stall every connection for tens of milliseconds.
        await knowledge.loaded()
        gc.freeze()
        try:
            yield
        finally:
            await drain(services)
            if bots is not None:
                await bots.stop()
            await surveys.stop()
            await knowledge.stop()
            await scheduling.stop()
            await case_runtime.stop()
            await sla.stop()
            await channels.stop()
            if scoring is not None:
                await scoring.stop()
            await services.routing.stop()
            await services.stop()

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        *api.routes,
        *audit_api.routes,
        *webchat_api.routes,
        *bots_api.routes,
        *openapi.routes,
        *customers_api.routes,
        *cases_api.routes,
        *knowledge_api.routes,
        *scheduling_api.routes,
        *guidance_api.routes,
        *webhooks.routes,
        *reports_api.routes,
        *surveys_runtime.routes,
        WebSocketRoute("/ws/visitor", visitor_endpoint),
        WebSocketRoute("/ws/agent", agent_endpoint),
    ]
    if STATIC.is_dir():
        routes += [_page("console.html"), _page("chat.html")]
        routes.append(Mount("/static", StaticFiles(directory=STATIC), name="static"))
    origins = settings.allowed_origins or [settings.public_url]
    middleware = [
        Middleware(SecurityHeaders, embedders=settings.allowed_origins),
        Middleware(RequestGuard),
        Middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PATCH"],
            allow_headers=["authorization", "content-type"],
        ),
    ]
    return Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={
            GatewayError: gateway_error,
            HTTPException: http_error,
            Exception: server_error,
        },
    )
