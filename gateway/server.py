"""Serving the app with uvicorn, with a shutdown that stores before it closes."""

from __future__ import annotations

import logging
import socket
import sys

import uvicorn

from gateway.app import create_app, drain
from gateway.settings import Settings
from gateway.workers import STARTUP_FAILED
from gateway.ws_protocol import CoalescingWebSocketProtocol


class _Server(uvicorn.Server):
    """uvicorn, but our websockets are closed (1001) after in-flight messages
    are stored, before uvicorn tears connections down."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        app = self.config.loaded_app
        services = getattr(getattr(app, "state", None), "services", None)
        if services is None:  # wrapped by uvicorn's middleware
            inner = getattr(app, "app", None)
            services = getattr(getattr(inner, "state", None), "services", None)
        if services is not None:
            await drain(services)
        await super().shutdown(sockets)


SWITCH_INTERVAL_S = 0.0002
"""The message writer thread gives up the GIL inside every database call and
must win it back from the event loop to go on; at CPython's default 5 ms each
such wait adds to every message's latency. On PostgreSQL (two round trips a
batch) 0.2 ms delivered 8% more than 1 ms (``bench/delivery.py``, rounds
alternating between the two); 0.05 ms no more than 0.2."""


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def serve(
    settings: Settings,
    sockets: list[socket.socket] | None = None,
    smtp_socket: socket.socket | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT; on ``sockets`` (and ``smtp_socket``) bound
    by a ``--workers`` supervisor, else on the configured host and ports."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    configure_logging(settings)
    config = uvicorn.Config(
        create_app(settings, smtp_socket=smtp_socket),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        ws=CoalescingWebSocketProtocol,
        ws_max_size=settings.limits.max_frame_bytes,
        ws_per_message_deflate=settings.limits.websocket_compression,
        ws_ping_interval=20,
        ws_ping_timeout=20,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s) + 1,
        proxy_headers=True,
        server_header=False,
    )
    server = _Server(config)
    server.run(sockets=sockets)
    if not server.started:
        raise SystemExit(STARTUP_FAILED)  # (logged) a ``--workers`` parent backs off
