"""``switchboard serve --workers N``: N gateway processes sharing one port.

One Python process tops out at one core. The parent binds the HTTP and
SMTP sockets once and starts N workers (``switchboard serve`` with the
sockets' file descriptors, ``--inherit-fds``); every worker accepts on the
same sockets and the kernel hands each new connection to one of them. A
worker is a whole cluster node with its own node id: the routing log, the
router lease and live fan-out go through Redis between workers exactly as
between machines, so N > 1 needs Redis and PostgreSQL.

The parent only supervises: it forwards SIGTERM/SIGINT to the workers and
waits for them (each drains as one process would), restarts a worker that
dies (logged; backing off while a worker keeps dying young), and exits 0.
Workers sit in a process group of their own, so a terminal's Ctrl-C reaches
them once, through the parent; a worker whose parent is gone stops itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.errors import ConfigError
from gateway.settings import Settings

log = logging.getLogger("gateway.workers")

STARTUP_FAILED = 3
"""A worker's exit code when its start-up failed (the database is down)."""
HEALTHY_AFTER_S = 30.0
"""A worker that served this long is restarted at once; one that could not
start, or died younger, after a back-off (1 s, doubling up to 30 s), so a
worker that cannot start does not spin."""
MAX_BACKOFF_S = 30.0


def check_workers(settings: Settings, workers: int) -> None:
    """Refuse what N workers cannot do: share routing without Redis, or
    share one SQLite file between writer processes."""
    if workers < 1:
        raise ConfigError(f"--workers: expected a number of processes >= 1, got {workers}")
    if workers == 1:
        return
    missing = []
    if not settings.redis_url:
        missing.append("Redis (SWITCHBOARD_REDIS_URL)")
    if not settings.database_url.startswith("postgresql"):
        missing.append("PostgreSQL (SWITCHBOARD_DATABASE_URL=postgresql://…)")
    if missing:
        raise ConfigError(
            f"--workers {workers}: several worker processes are a cluster and need "
            f"{' and '.join(missing)}; with the embedded default use one process"
        )


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=2048)


def inherited(fds: str) -> tuple[socket.socket, socket.socket | None]:
    """The sockets a worker was given: ``"HTTP,SMTP"`` (``-`` for no SMTP)."""
    http, _, smtp = fds.partition(",")
    return socket.socket(fileno=int(http)), (
        socket.socket(fileno=int(smtp)) if smtp and smtp != "-" else None
    )


def watch_parent() -> None:
    """Stop this worker (SIGTERM to itself: a graceful drain) if the
    supervisor dies without saying so (SIGKILL leaves workers orphaned)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


@dataclass
class _Worker:
    index: int
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    backoff: float = 0.0
    restart_at: float | None = None


class Supervisor:
    """Runs ``workers`` copies of ``serve_args`` on shared sockets."""

    def __init__(self, settings: Settings, workers: int, serve_args: Sequence[str]) -> None:
        self.settings = settings
        self.serve_args = list(serve_args)
        self.workers = [_Worker(i) for i in range(workers)]
        self._stop: int | None = None
        self._wake = threading.Event()
        self._fds: tuple[int, int | None] = (-1, None)
        """The HTTP and SMTP sockets' descriptors, once bound."""

    def run(self) -> int:
        settings = self.settings
        http = listen(settings.host, settings.port)
        smtp: socket.socket | None = None
        try:
            smtp = listen(settings.smtp_host, settings.smtp_port)
        except OSError as exc:  # as one process does: chat and webhooks go on
            log.error(
                "SMTP could not listen on %s:%s: %s", settings.smtp_host, settings.smtp_port, exc
            )
        self._fds = (http.fileno(), smtp.fileno() if smtp is not None else None)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        log.warning(
            "serving on %s:%d with %d workers (pid %d)",
            settings.host,
            http.getsockname()[1],
            len(self.workers),
            os.getpid(),
        )
        try:
            for worker in self.workers:
                self._start(worker)
            while self._stop is None:
                self._supervise()
                self._wake.wait(0.2)
            self._shutdown(self._stop)
        finally:
            http.close()
            if smtp is not None:
                smtp.close()
        return 0

    def _on_signal(self, sig: int, frame: object) -> None:
        if self._stop is None:
            self._stop = sig
        self._wake.set()

    def _start(self, worker: _Worker) -> None:
        http_fd, smtp_fd = self._fds
        fds = f"{http_fd},{'-' if smtp_fd is None else smtp_fd}"
        worker.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", *self.serve_args, "--inherit-fds", fds],
            pass_fds=[fd for fd in self._fds if fd is not None],
            process_group=0,
        )
        worker.started, worker.restart_at = time.monotonic(), None
        log.info("worker %d started (pid %d)", worker.index, worker.process.pid)

    def _supervise(self) -> None:
        now = time.monotonic()
        for worker in self.workers:
            if worker.restart_at is not None:
                if now >= worker.restart_at:
                    self._start(worker)
                continue
            assert worker.process is not None
            code = worker.process.poll()
            if code is None:
                continue
            lived = now - worker.started
            worker.backoff = (
                0.0
                if lived >= HEALTHY_AFTER_S
                else min(MAX_BACKOFF_S, max(1.0, worker.backoff * 2))
            )
            log.warning(
                "worker %d (pid %d) exited with %s after %.1f s; restarting%s",
                worker.index,
                worker.process.pid,
                _how(code),
                lived,
                f" in {worker.backoff:g} s" if worker.backoff else "",
            )
            worker.restart_at = now + worker.backoff

    def _shutdown(self, sig: int) -> None:
        """Forward the signal and wait for the workers' drains; a worker
        still up after the grace period plus a margin is killed."""
        live = [w.process for w in self.workers if w.process is not None and w.restart_at is None]
        log.warning("stopping %d workers (%s)", len(live), signal.Signals(sig).name)
        for process in live:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sig)
        deadline = time.monotonic() + self.settings.shutdown_grace_s * 2 + 10
        for process in live:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker pid %d did not stop in time; killing it", process.pid)
                process.kill()
                process.wait()


def _how(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return signal.Signals(-code).name
    return f"code {code}"
