"""Running a Starlette app on 127.0.0.1 for the length of an ``async with``.

The socket is bound and listening before uvicorn starts, so clients can
connect at once (the kernel queues them) and nothing has to wait for a
"started" flag.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import uvicorn
from starlette.types import ASGIApp


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Leave Ctrl-C to pytest.
        yield


@dataclass
class Failure:
    """One injected failure: answer ``status`` with ``body`` (JSON, or raw text)."""

    status: int
    body: Any
    headers: dict[str, str] | None = None


class FailureQueue:
    def __init__(self) -> None:
        self._queue: list[Failure] = []

    def add(self, failure: Failure, times: int = 1) -> None:
        self._queue.extend([failure] * times)

    def pop(self) -> Failure | None:
        return self._queue.pop(0) if self._queue else None


class HttpStandin:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        sock = socket.create_server(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            ws="none",
            http="h11",
        )
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        self._sock = sock
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        await self._task
        self._sock.close()
