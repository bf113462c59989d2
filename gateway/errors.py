"""Errors of the gateway, each with a stable ``code`` for the wire."""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """An error that becomes an HTTP or websocket error reply."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


class BadRequest(GatewayError):
    code, status = "bad_request", 400


class Unauthorized(GatewayError):
    code, status = "unauthorized", 401


class Forbidden(GatewayError):
    code, status = "forbidden", 403


class NotFound(GatewayError):
    code, status = "not_found", 404


class Conflict(GatewayError):
    code, status = "conflict", 409


class TooManyRequests(GatewayError):
    """429; ``retry_after`` (whole seconds) goes out as the ``Retry-After`` header."""

    code, status = "too_many_requests", 429

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after

    def to_body(self) -> dict[str, Any]:
        body = super().to_body()
        body["error"]["retry_after"] = self.retry_after
        return body


class Unavailable(GatewayError):
    code, status = "unavailable", 503


class ConfigError(Exception):
    """The configuration is invalid; the message names file, key and expectation."""
