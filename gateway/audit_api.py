"""The audit log over HTTP: ``GET /api/v1/audit``, admins only.

What is recorded (``AuditStore.add``, called where each action happens):
sign-ins (succeeded, failed, throttled), accounts created, password, role and
enabled/disabled changes (with who made them), API keys made and revoked
(the CLI), KPI exports, case and customer merges (``record`` below). The
HTTP API deletes nothing; a route that deletes, merges or exports must
record itself (tests/e2e/test_audit_log.py fails otherwise).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from audit import ACTIONS
from conversations.times import as_utc
from gateway.api import client_address, services_of, user_caller
from gateway.auth import Principal
from gateway.errors import BadRequest

MAX_LIMIT = 1000


async def record(request: Request, who: Principal, action: str, **fields: Any) -> None:
    """Add ``action``, done by ``who`` over ``request``, to the audit log
    (``subject_type``, ``subject_id``, ``subject_name`` and details in
    ``fields``); never raises."""
    name = who.user.username if who.user is not None else who.name
    await services_of(request).audit.add(
        action, actor_id=who.id, actor_name=name, address=client_address(request), **fields
    )


def _time(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        return as_utc(datetime.fromisoformat(raw.replace(" ", "+"))).astimezone(UTC)
    except ValueError:
        raise BadRequest(
            f"{name}: expected an RFC 3339 time such as 2026-11-29T09:00:00Z, got {raw[:60]!r}",
            code="invalid_field",
        ) from None


def _int(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadRequest(
            f"{name}: expected a whole number from {low} to {high}, got {raw[:30]!r}",
            code="invalid_field",
        )
    return int(raw)


async def audit_log(request: Request) -> Response:
    """The audit log, newest first: sign-ins, account and role changes, API
    keys, exports, merges. Page back with ``before`` (the last entry's id).
    ---
    tags: [security]
    parameters:
      - name: action
        in: query
        schema: {type: string}
        description: "comma-separated actions, e.g. login_failed,role_changed"
      - name: actor
        in: query
        schema: {type: string}
        description: "user id of who acted"
      - name: subject
        in: query
        schema: {type: string}
        description: "id of the account or API key acted on"
      - {name: since, in: query, schema: {type: string, format: date-time}}
      - {name: until, in: query, schema: {type: string, format: date-time}}
      - name: before
        in: query
        schema: {type: integer}
        description: "entries older than this id"
      - name: limit
        in: query
        schema: {type: integer}
        description: "at most this many (1-1000, default 100)"
    responses:
      200:
        description: "entries: [{id, at, action, actor, subject, address, detail}], next_before"
      400: {description: "an unknown action, or a bad time, id or limit"}
      401: {description: "no or bad token"}
      403: {description: "not an admin"}
    """
    await user_caller(request, "admin")
    params = request.query_params
    actions = [a for a in params.get("action", "").split(",") if a.strip()]
    unknown = sorted({a.strip() for a in actions} - set(ACTIONS))
    if unknown:
        raise BadRequest(
            f"unknown action {unknown[0][:40]!r} (known: {', '.join(ACTIONS)})",
            code="invalid_field",
        )
    limit = _int(request, "limit", 100, 1, MAX_LIMIT)
    assert limit is not None
    entries = await services_of(request).audit.entries(
        actions=[a.strip() for a in actions],
        actor_id=params.get("actor") or None,
        subject_id=params.get("subject") or None,
        since=_time(request, "since"),
        until=_time(request, "until"),
        before_id=_int(request, "before", None, 1, 2**62),
        limit=limit,
    )
    last = entries[-1].id if len(entries) == limit else None
    return JSONResponse({"entries": [e.to_wire() for e in entries], "next_before": last})


routes = [Route("/api/v1/audit", audit_log, methods=["GET"])]
