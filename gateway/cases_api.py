"""Cases, entitlements and device alerts over HTTP (docs/service.md, docs/protocol.md).

Staff only (agents, supervisors, admins, bots): a visitor token never reads
or changes a case. Device alerts authenticate with an API key
(``X-Api-Key``, made by ``switchboard apikeys add NAME``) instead.

Errors of the case core become error replies here: an illegal move is 409
with the reason in the message (and ``reason``), a missing resolution 400.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import date
from functools import wraps
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cases.errors import (
    CaseError,
    EntitlementRefused,
    IllegalTransition,
    MissingResolution,
    StageIncomplete,
    UnknownStage,
)
from cases.lifecycle import CaseStatus
from cases.model import Priority
from cases.store import AlreadyLinked, CaseNotFound
from conversations.times import utcnow
from gateway.api import Body, client_address, parse_body, services_of, user_caller
from gateway.audit_api import record
from gateway.cases_runtime import CaseRuntime
from gateway.errors import BadRequest, Conflict, GatewayError, NotFound, Unauthorized, Unavailable

Text = Annotated[str, Field(min_length=1, max_length=500)]
LongText = Annotated[str, Field(max_length=20_000)]
Id = Annotated[str, Field(min_length=1, max_length=40)]
ActiveReason = Literal["in_progress", "researching", "waiting_for_details", "on_hold"]
ResolvedReason = Literal["problem_solved", "information_provided"]
Endpoint = Callable[[Request], Awaitable[Response]]


class CaseCreate(Body):
    title: Text | None = None
    """Required unless a conversation gives one (its subject or first line)."""
    customer_id: Id | None = None
    conversation_id: Id | None = None
    priority: Priority = Priority.NORMAL
    description: LongText | None = None
    product: Annotated[str, Field(max_length=200)] | None = None
    origin: Annotated[str, Field(max_length=20)] | None = None
    owner_id: Id | None = None
    parent_id: Id | None = None
    entitlement_id: Id | None = None
    fields: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _titled(self) -> CaseCreate:
        if self.title is None and self.conversation_id is None:
            raise ValueError("title is required when no conversation_id is given")
        return self


class CaseUpdate(Body):
    status_reason: ActiveReason | None = None
    priority: Priority | None = None
    title: Text | None = None
    description: LongText | None = None
    product: Annotated[str, Field(max_length=200)] | None = None
    owner_id: Id | None = None
    parent_id: Id | None = None
    stage: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    fields: dict[str, Any] | None = None


class ResolveRequest(Body):
    resolution: Annotated[str, Field(max_length=20_000)]
    status_reason: ResolvedReason | None = None


class CancelRequest(Body):
    note: LongText | None = None


class ReactivateRequest(Body):
    pass


class MergeRequest(Body):
    into: Id
    """The case that survives."""


class LinkRequest(Body):
    conversation_id: Id


class ActivityCreate(Body):
    kind: Literal["note", "phone_call", "task"]
    text: Annotated[str, Field(min_length=1, max_length=20_000)]
    minutes: Annotated[int, Field(ge=0, le=100_000)] = 0
    billable: bool = False


class EntitlementCreate(Body):
    customer_id: Id
    name: Text
    kind: Literal["cases", "hours"]
    total: Annotated[float, Field(gt=0, le=1_000_000)]
    starts_on: date
    ends_on: date
    channel: Annotated[str, Field(max_length=20)] | None = None
    product: Annotated[str, Field(max_length=200)] | None = None

    @model_validator(mode="after")
    def _dates(self) -> EntitlementCreate:
        if self.ends_on < self.starts_on:
            raise ValueError(f"ends_on {self.ends_on} is before starts_on {self.starts_on}")
        if self.kind == "cases" and self.total != int(self.total):
            raise ValueError("total: a cases entitlement counts whole cases")
        return self


class DeviceAlertCreate(Body):
    device_id: Annotated[str, Field(min_length=1, max_length=200)]
    alert_type: Annotated[str, Field(min_length=1, max_length=100)]
    severity: Annotated[str, Field(min_length=1, max_length=20)]
    description: Annotated[str, Field(max_length=5000)] = ""
    customer_id: Id | None = None


class CaseConflict(Conflict):
    """A 409 whose body also names the reason (``error.reason``)."""

    def __init__(self, message: str, *, code: str, reason: str) -> None:
        super().__init__(message, code=code)
        self.reason = reason

    def to_body(self) -> dict[str, Any]:
        body = super().to_body()
        body["error"]["reason"] = self.reason
        return body


def _translate(exc: CaseError) -> GatewayError:
    if isinstance(exc, CaseNotFound):
        return NotFound("no such case")
    if isinstance(exc, IllegalTransition):
        reason = "merged" if exc.reason == "merged" else f"{exc.status}:{exc.event}"
        return CaseConflict(exc.message, code="illegal_transition", reason=reason)
    if isinstance(exc, StageIncomplete):
        return CaseConflict(exc.message, code="stage_incomplete", reason=",".join(exc.missing))
    if isinstance(exc, EntitlementRefused):
        return CaseConflict(exc.message, code="entitlement_refused", reason="entitlement")
    if isinstance(exc, AlreadyLinked):
        return CaseConflict(exc.message, code="already_linked", reason="conversation")
    if isinstance(exc, MissingResolution):
        return BadRequest(exc.message, code="missing_field")
    if isinstance(exc, UnknownStage):
        return BadRequest(exc.message, code="invalid_field")
    return BadRequest(exc.message, code="invalid_field")


def case_errors(endpoint: Endpoint) -> Endpoint:
    """Turn the case core's errors (and its ValueErrors) into error replies."""

    @wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        try:
            return await endpoint(request)
        except CaseError as exc:
            raise _translate(exc) from None
        except ValueError as exc:
            raise BadRequest(str(exc), code="invalid_field") from None

    return wrapper


def runtime(request: Request) -> CaseRuntime:
    cases: CaseRuntime | None = services_of(request).cases
    if cases is None:
        raise Unavailable("cases are not running")
    return cases


async def _staff(request: Request) -> str:
    who = await user_caller(request)
    return who.id


def _status_filter(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    statuses = [s for s in raw.split(",") if s]
    unknown = set(statuses) - {s.value for s in CaseStatus}
    if unknown:
        known = ", ".join(s.value for s in CaseStatus)
        raise BadRequest(
            f"unknown status {sorted(unknown)}; expected {known}", code="invalid_field"
        )
    return statuses


def _limit(request: Request, default: int, most: int) -> int:
    raw = request.query_params.get("limit", str(default))
    try:
        limit = int(raw)
    except ValueError:
        raise BadRequest(f"limit must be a number, got {raw!r}", code="invalid_field") from None
    if limit < 1:
        raise BadRequest(f"limit must be at least 1, got {limit}", code="invalid_field")
    return min(limit, most)


# -- cases -----------------------------------------------------------------------


@case_errors
async def create_case(request: Request) -> Response:
    """Open a case, from a conversation (pre-filled) or from scratch.
    ---
    tags: [cases]
    body: CaseCreate
    responses:
      201: {description: "the case"}
      400: {description: "invalid body, unknown customer or conversation"}
      403: {description: "not a staff token"}
      409: {description: "the conversation has a case, or the entitlement refuses"}
    """
    actor = await _staff(request)
    body = await parse_body(request, CaseCreate)
    cases = runtime(request)
    case, choice = await cases.create(
        title=body.title,
        actor=actor,
        customer_id=body.customer_id,
        conversation_id=body.conversation_id,
        priority=body.priority,
        description=body.description,
        product=body.product,
        origin=body.origin,
        owner_id=body.owner_id,
        parent_id=body.parent_id,
        entitlement_id=body.entitlement_id,
        fields=body.fields,
    )
    wire = await cases.wire(case)
    if choice.warning:
        wire["warnings"] = [choice.warning]
    return JSONResponse(wire, status_code=201)


@case_errors
async def list_cases(request: Request) -> Response:
    """Cases, newest first, by customer and/or status.
    ---
    tags: [cases]
    parameters:
      - {name: customer_id, in: query, schema: {type: string}}
      - name: status
        in: query
        schema: {type: string}
        description: "active, resolved, cancelled (comma-separated)"
      - {name: limit, in: query, schema: {type: integer}}
    responses:
      200: {description: "{cases: [...]}"}
      400: {description: "unknown status"}
      403: {description: "not a staff token"}
    """
    await _staff(request)
    cases = runtime(request)
    found = await cases.store.find(
        customer_id=request.query_params.get("customer_id"),
        statuses=_status_filter(request.query_params.get("status")),
        limit=_limit(request, 200, 1000),
    )
    return JSONResponse({"cases": [await cases.wire(c) for c in found]})


@case_errors
async def get_case(request: Request) -> Response:
    """One case, with its conversations, entitlement and SLA.
    ---
    tags: [cases]
    responses:
      200: {description: "the case"}
      403: {description: "not a staff token"}
      404: {description: "no such case"}
    """
    await _staff(request)
    cases = runtime(request)
    return JSONResponse(await cases.wire(await cases.get(request.path_params["id"])))


@case_errors
async def update_case(request: Request) -> Response:
    """Change a case's status reason, priority, stage or fields.
    ---
    tags: [cases]
    body: CaseUpdate
    responses:
      200: {description: "the case"}
      400: {description: "invalid body or unknown stage"}
      404: {description: "no such case"}
      409: {description: "not active (status reason), or a stage's required fields are missing"}
    """
    actor = await _staff(request)
    body = await parse_body(request, CaseUpdate)
    cases = runtime(request)
    values = {
        k: v
        for k, v in (
            ("title", body.title),
            ("description", body.description),
            ("product", body.product),
            ("owner_id", body.owner_id),
            ("parent_id", body.parent_id),
        )
        if v is not None
    }
    if body.parent_id is not None:
        if body.parent_id == request.path_params["id"]:
            raise BadRequest("parent_id: a case cannot be its own parent", code="invalid_field")
        await cases.get(body.parent_id)
    case = await cases.update(
        request.path_params["id"],
        actor=actor,
        status_reason=body.status_reason,
        priority=body.priority,
        stage=body.stage,
        fields=body.fields,
        set_values=values,
    )
    return JSONResponse(await cases.wire(case))


@case_errors
async def resolve_case(request: Request) -> Response:
    """Resolve a case; a resolution text is required.
    ---
    tags: [cases]
    body: ResolveRequest
    responses:
      200: {description: "the case, resolved; its entitlement charged"}
      400: {description: "no resolution"}
      404: {description: "no such case"}
      409: {description: "the case is not active"}
    """
    actor = await _staff(request)
    body = await parse_body(request, ResolveRequest)
    cases = runtime(request)
    case = await cases.resolve(
        request.path_params["id"], body.resolution, actor=actor, reason=body.status_reason
    )
    return JSONResponse(await cases.wire(case))


@case_errors
async def cancel_case(request: Request) -> Response:
    """Cancel a case (its entitlement is not charged).
    ---
    tags: [cases]
    body: CancelRequest
    responses:
      200: {description: "the case, cancelled"}
      404: {description: "no such case"}
      409: {description: "the case is not active"}
    """
    actor = await _staff(request)
    body = await parse_body(request, CancelRequest)
    cases = runtime(request)
    case = await cases.cancel(request.path_params["id"], actor=actor, note=body.note)
    return JSONResponse(await cases.wire(case))


@case_errors
async def reactivate_case(request: Request) -> Response:
    """Reactivate a resolved or cancelled case (not a merged one).
    ---
    tags: [cases]
    body: ReactivateRequest
    responses:
      200: {description: "the case, active again; a resolution's charge given back"}
      404: {description: "no such case"}
      409: {description: "the case is active, or was merged"}
    """
    actor = await _staff(request)
    await parse_body(request, ReactivateRequest)
    cases = runtime(request)
    case = await cases.reactivate(request.path_params["id"], actor=actor)
    return JSONResponse(await cases.wire(case))


@case_errors
async def merge_case(request: Request) -> Response:
    """Merge this case into another: it is cancelled as merged and its
    conversations and activities move to the survivor.
    ---
    tags: [cases]
    body: MergeRequest
    responses:
      200: {description: "{merged, survivor}"}
      400: {description: "a case cannot be merged into itself"}
      404: {description: "no such case"}
      409: {description: "either case is not active"}
    """
    who = await user_caller(request)
    body = await parse_body(request, MergeRequest)
    cases = runtime(request)
    merged, survivor = await cases.merge(request.path_params["id"], body.into, actor=who.id)
    await record(
        request,
        who,
        "case_merged",
        subject_type="case",
        subject_id=merged.id,
        subject_name=merged.number,
        into=survivor.id,
        into_number=survivor.number,
    )
    return JSONResponse(
        {"merged": await cases.wire(merged), "survivor": await cases.wire(survivor)}
    )


@case_errors
async def link_conversation(request: Request) -> Response:
    """Link a conversation to this case.
    ---
    tags: [cases]
    body: LinkRequest
    responses:
      200: {description: "the case"}
      400: {description: "no such conversation"}
      404: {description: "no such case"}
      409: {description: "the conversation belongs to another case"}
    """
    actor = await _staff(request)
    body = await parse_body(request, LinkRequest)
    cases = runtime(request)
    case = await cases.link(request.path_params["id"], body.conversation_id, actor=actor)
    return JSONResponse(await cases.wire(case))


@case_errors
async def add_activity(request: Request) -> Response:
    """Add a note, phone call or task; billable minutes add up on the case.
    ---
    tags: [cases]
    body: ActivityCreate
    responses:
      201: {description: "the activity and the case's billable_minutes"}
      400: {description: "invalid body"}
      404: {description: "no such case"}
    """
    actor = await _staff(request)
    body = await parse_body(request, ActivityCreate)
    cases = runtime(request)
    activity, case = await cases.add_activity(
        request.path_params["id"],
        body.kind,
        text=body.text,
        minutes=body.minutes,
        billable=body.billable,
        actor=actor,
    )
    return JSONResponse(
        {
            "id": activity.id,
            "case_id": case.id,
            "kind": activity.kind,
            "text": activity.text,
            "minutes": activity.minutes,
            "billable": activity.billable,
            "at": activity.created_at.isoformat().replace("+00:00", "Z"),
            "billable_minutes": case.billable_minutes,
        },
        status_code=201,
    )


@case_errors
async def case_timeline(request: Request) -> Response:
    """Messages, activities, status changes and SLA events, in time order, paged.
    ---
    tags: [cases]
    parameters:
      - name: limit
        in: query
        schema: {type: integer}
        description: "items per page (default 100, at most 500)"
      - name: cursor
        in: query
        schema: {type: string}
        description: "next_cursor of the previous page"
    responses:
      200: {description: "{items: [{kind, at, ...}], next_cursor}"}
      400: {description: "bad limit or cursor"}
      404: {description: "no such case"}
    """
    await _staff(request)
    cases = runtime(request)
    page = await cases.timeline(
        request.path_params["id"],
        limit=_limit(request, 100, 500),
        cursor=request.query_params.get("cursor"),
    )
    return JSONResponse(page)


# -- entitlements -------------------------------------------------------------------


@case_errors
async def create_entitlement(request: Request) -> Response:
    """Give a customer a number of cases or hours between two dates.
    ---
    tags: [entitlements]
    body: EntitlementCreate
    responses:
      201: {description: "the entitlement"}
      400: {description: "invalid body or unknown customer"}
      403: {description: "not an agent, supervisor or admin"}
    """
    await user_caller(request, "agent", "supervisor", "admin")
    body = await parse_body(request, EntitlementCreate)
    cases = runtime(request)
    entitlement = await cases.create_entitlement(
        customer_id=body.customer_id,
        name=body.name,
        kind=body.kind,
        total=body.total,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        channel=body.channel,
        product=body.product,
    )
    return JSONResponse(cases.entitlement_wire(entitlement, utcnow().date()), status_code=201)


@case_errors
async def get_entitlement(request: Request) -> Response:
    """One entitlement, with what remains.
    ---
    tags: [entitlements]
    responses:
      200: {description: "the entitlement"}
      404: {description: "no such entitlement"}
    """
    await _staff(request)
    cases = runtime(request)
    entitlement = await cases.store.entitlement(request.path_params["id"])
    if entitlement is None:
        raise NotFound("no such entitlement")
    return JSONResponse(cases.entitlement_wire(entitlement, utcnow().date()))


@case_errors
async def list_entitlements(request: Request) -> Response:
    """A customer's entitlements.
    ---
    tags: [entitlements]
    parameters:
      - {name: customer_id, in: query, required: true, schema: {type: string}}
    responses:
      200: {description: "{entitlements: [...]}"}
      400: {description: "customer_id missing"}
    """
    await _staff(request)
    customer_id = request.query_params.get("customer_id")
    if not customer_id:
        raise BadRequest("customer_id is required", code="missing_field")
    cases = runtime(request)
    today = utcnow().date()
    found = await cases.store.entitlements_of(customer_id)
    return JSONResponse({"entitlements": [cases.entitlement_wire(e, today) for e in found]})


# -- device alerts ------------------------------------------------------------------------


@case_errors
async def report_device_alert(request: Request) -> Response:
    """A connected device reports an alert (API key in X-Api-Key).
    ---
    tags: [device-alerts]
    body: DeviceAlertCreate
    responses:
      202: {description: "{alert_id, count}"}
      400: {description: "invalid body"}
      401: {description: "no valid API key; nothing stored"}
      429: {description: "too many requests from this address ([limits] webhooks_*);
            wait Retry-After seconds"}
    """
    services_of(request).address_limits.webhook(
        client_address(request) or "unknown", time.monotonic()
    )
    cases = runtime(request)
    key = request.headers.get("x-api-key", "")
    key_id = await cases.store.api_key_id(key) if key else None
    if key_id is None:
        raise Unauthorized("send a valid API key in X-Api-Key", code="invalid_api_key")
    body = await parse_body(request, DeviceAlertCreate)
    if body.customer_id is not None and await cases.store.customer(body.customer_id) is None:
        raise BadRequest(f"customer_id: no customer {body.customer_id!r}", code="invalid_field")
    alert = await cases.store.report_alert(
        device_id=body.device_id,
        alert_type=body.alert_type,
        severity=body.severity,
        description=body.description,
        customer_id=body.customer_id,
        api_key_id=key_id,
        now=utcnow(),
        window=cases.config.alert_window,
    )
    alert = await cases.alert_reported(alert)
    reply: dict[str, Any] = {"alert_id": alert.id, "count": alert.count}
    if alert.case_id is not None:
        reply["case_id"] = alert.case_id
    return JSONResponse(reply, status_code=202)


@case_errors
async def list_device_alerts(request: Request) -> Response:
    """Device alerts, most recent first.
    ---
    tags: [device-alerts]
    parameters:
      - {name: status, in: query, schema: {type: string, enum: [open, closed]}}
    responses:
      200: {description: "{alerts: [...]}"}
      403: {description: "not a staff token"}
    """
    await _staff(request)
    status = request.query_params.get("status")
    if status not in (None, "open", "closed"):
        raise BadRequest(f"status must be open or closed, got {status!r}", code="invalid_field")
    found = await runtime(request).store.alerts(status=status, limit=_limit(request, 200, 1000))
    return JSONResponse({"alerts": [a.to_wire() for a in found]})


class AlertClose(Body):
    pass


@case_errors
async def close_device_alert(request: Request) -> Response:
    """Close a device alert: the next report of its device and type opens a new one
    (resolving the alert's case closes it too).
    ---
    tags: [device-alerts]
    body: AlertClose
    responses:
      200: {description: "the alert"}
      403: {description: "not a staff token"}
      404: {description: "no such alert"}
    """
    await _staff(request)
    await parse_body(request, AlertClose)
    alert = await runtime(request).store.close_alert(request.path_params["id"])
    if alert is None:
        raise NotFound("no such alert")
    return JSONResponse(alert.to_wire())


routes = [
    Route("/api/v1/cases", create_case, methods=["POST"]),
    Route("/api/v1/cases", list_cases, methods=["GET"]),
    Route("/api/v1/cases/{id}", get_case, methods=["GET"]),
    Route("/api/v1/cases/{id}", update_case, methods=["PATCH"]),
    Route("/api/v1/cases/{id}/resolve", resolve_case, methods=["POST"]),
    Route("/api/v1/cases/{id}/cancel", cancel_case, methods=["POST"]),
    Route("/api/v1/cases/{id}/reactivate", reactivate_case, methods=["POST"]),
    Route("/api/v1/cases/{id}/merge", merge_case, methods=["POST"]),
    Route("/api/v1/cases/{id}/conversations", link_conversation, methods=["POST"]),
    Route("/api/v1/cases/{id}/activities", add_activity, methods=["POST"]),
    Route("/api/v1/cases/{id}/timeline", case_timeline, methods=["GET"]),
    Route("/api/v1/entitlements", create_entitlement, methods=["POST"]),
    Route("/api/v1/entitlements", list_entitlements, methods=["GET"]),
    Route("/api/v1/entitlements/{id}", get_entitlement, methods=["GET"]),
    Route("/api/v1/device-alerts", report_device_alert, methods=["POST"]),
    Route("/api/v1/device-alerts", list_device_alerts, methods=["GET"]),
    Route("/api/v1/device-alerts/{id}/close", close_device_alert, methods=["POST"]),
]
