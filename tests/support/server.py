"""A real ``switchboard serve`` process on a free port, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


def alive(pid: int) -> bool:
    """Whether a process of that id exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """Start, stop and talk to one gateway process."""

    def __init__(
        self,
        workdir: Path,
        database_url: str,
        config: str | None = None,
        serve_args: tuple[str, ...] = (),
        **env: str,
    ) -> None:
        self.workdir = workdir
        self.config = config
        self.serve_args = serve_args
        """More ``serve`` options (``--workers 2``)."""
        self.database_url = database_url
        self.port = free_port()
        self.smtp_port = free_port()
        self.env = {
            **os.environ,
            "SWITCHBOARD_DATABASE_URL": database_url,
            "SWITCHBOARD_PORT": str(self.port),
            "SWITCHBOARD_SMTP_PORT": str(self.smtp_port),
            "SWITCHBOARD_PUBLIC_URL": f"http://127.0.0.1:{self.port}",
            "SWITCHBOARD_SECRET_KEY": SECRET,
            "SWITCHBOARD_LOG_LEVEL": "warning",
            "SWITCHBOARD_SQLITE_SYNCHRONOUS": "NORMAL",
            # Tests open chat sessions and call webhooks from one address far
            # faster than any office would; tests/e2e/test_address_limits.py
            # sets these limits itself.
            "SWITCHBOARD_LIMITS__SESSIONS_BURST": "1000000",
            "SWITCHBOARD_LIMITS__WEBHOOKS_BURST": "1000000",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"server-{self.port}.log"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gateway.cli", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.workdir,
            timeout=60,
        )

    def add_user(self, username: str, password: str, role: str = "agent") -> None:
        result = self.cli(
            "users", "add", username, "--role", role, "--password-stdin", stdin=password + "\n"
        )
        assert result.returncode == 0, result.stderr

    def start(self, timeout: float = 30.0) -> Server:
        args = [sys.executable, "-m", "gateway.cli", "serve", *self.serve_args]
        if self.config is not None:
            path = self.workdir / f"config-{self.port}.toml"
            path.write_text(self.config)
            args += ["--config", str(path)]
        with self.log.open("ab") as handle:
            self.process = subprocess.Popen(
                args,
                env=self.env,
                cwd=self.workdir,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(self.http + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.process.kill()  # not left running (and loading the machine) after the test
        self.process.wait()
        raise RuntimeError(f"server did not start:\n{self.log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
