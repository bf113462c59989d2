"""Customers over HTTP: read one (identities, opt-outs, recent conversations),
set what we know of them, and merge two.

``GET /api/v1/customers/{id}``: supervisors and admins see every customer;
an agent sees a customer one of whose conversations it may see.
``PATCH /api/v1/customers/{id}`` ``{"timezone"}`` (whoever may see them): the
customer's own IANA time zone (kept in the customer's attributes), used for
the times in what we send them (appointment confirmations and reminders).
``POST /api/v1/customers/{id}/merge`` ``{"other_id"}`` (supervisor, admin):
the other customer's identities, conversations and opt-outs move to this one.
"""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conversations import Conversation, Customer
from conversations.deliveries import CustomerNotFound, DeliveryStore
from conversations.errors import StoreError
from gateway.api import Body, parse_body, services_of, user_caller
from gateway.audit_api import record
from gateway.auth import Principal
from gateway.errors import BadRequest, Conflict, NotFound
from gateway.services import may_see

RECENT = 20


class MergeRequest(Body):
    other_id: Annotated[str, Field(min_length=1, max_length=40)]


class CustomerUpdate(Body):
    timezone: Annotated[str, Field(min_length=1, max_length=64)] | None
    """The customer's IANA time zone (``Europe/Rome``); ``null`` forgets it."""


def _known_zone(name: str) -> str:
    try:
        return ZoneInfo(name).key
    except (ZoneInfoNotFoundError, ValueError):
        raise BadRequest(
            f"timezone: unknown time zone {name!r} (expected an IANA name such as 'Europe/Rome')",
            code="unknown_timezone",
        ) from None


def _deliveries(request: Request) -> DeliveryStore:
    store: DeliveryStore = request.app.state.channels.deliveries
    return store


async def _customer_row(request: Request, customer_id: str) -> Customer:
    customer = await _deliveries(request).customer(customer_id)
    if customer is None:
        raise NotFound("no such customer")
    return customer


async def _visible(
    request: Request, who: Principal, customer_id: str
) -> tuple[Customer, list[Conversation]]:
    services = services_of(request)
    customer = await _customer_row(request, customer_id)
    conversations = await services.store.list_conversations(customer_id=customer_id, limit=RECENT)
    if not who.sees_everything and not any(may_see(who, c) for c in conversations):
        raise NotFound("no such customer")  # an agent must not learn who else exists
    return customer, conversations


async def _wire(
    request: Request, customer: Customer, conversations: list[Conversation]
) -> dict[str, Any]:
    store = _deliveries(request)
    body = customer.to_wire()
    body["identities"] = [
        {"kind": kind, "value": value} for kind, value in await store.identities_of(customer.id)
    ]
    body["opt_outs"] = [o.to_wire() for o in await store.opt_outs_of(customer.id)]
    body["timezone"] = customer.attributes.get("timezone")
    body["conversations"] = [c.to_wire() for c in conversations]
    merged_into = customer.attributes.get("merged_into")
    if merged_into:
        body["merged_into"] = merged_into
    return body


async def get_customer(request: Request) -> Response:
    """A customer with identities, opt-outs and recent conversations.
    ---
    tags: [customers]
    responses:
      200: {description: "the customer"}
      404: {description: "no such customer"}
    """
    who = await user_caller(request)
    customer, conversations = await _visible(request, who, request.path_params["id"])
    return JSONResponse(await _wire(request, customer, conversations))


async def update_customer(request: Request) -> Response:
    """Set what we know of a customer: their own time zone.
    ---
    tags: [customers]
    body: CustomerUpdate
    responses:
      200: {description: "the customer"}
      400: {description: "invalid body or an unknown time zone"}
      404: {description: "no such customer"}
    """
    who = await user_caller(request)
    body = await parse_body(request, CustomerUpdate)
    customer_id = request.path_params["id"]
    await _visible(request, who, customer_id)
    zone = _known_zone(body.timezone) if body.timezone is not None else None
    updated = await _deliveries(request).set_customer_attributes(customer_id, {"timezone": zone})
    if updated is None:
        raise NotFound("no such customer")
    conversations = await services_of(request).store.list_conversations(
        customer_id=customer_id, limit=RECENT
    )
    return JSONResponse(await _wire(request, updated, conversations))


async def merge_customer(request: Request) -> Response:
    """Merge another customer into this one.
    ---
    tags: [customers]
    body: MergeRequest
    responses:
      200: {description: "the surviving customer"}
      400: {description: "invalid body"}
      404: {description: "no such customer"}
      409: {description: "already merged"}
    """
    who = await user_caller(request, "supervisor", "admin")
    body = await parse_body(request, MergeRequest)
    services = services_of(request)
    keep_id = request.path_params["id"]
    if body.other_id == keep_id:
        raise BadRequest("other_id: cannot merge a customer into itself", code="invalid_field")
    try:
        await _deliveries(request).merge_customers(keep_id, body.other_id)
    except CustomerNotFound as exc:
        raise NotFound(f"no such customer {exc.customer_id!r}") from None
    except StoreError as exc:
        raise Conflict(str(exc), code="already_merged") from None
    await record(
        request,
        who,
        "customer_merged",
        subject_type="customer",
        subject_id=body.other_id,
        into=keep_id,
    )
    customer = await _customer_row(request, keep_id)
    conversations = await services.store.list_conversations(customer_id=keep_id, limit=RECENT)
    return JSONResponse(await _wire(request, customer, conversations))


routes = [
    Route("/api/v1/customers/{id}", get_customer, methods=["GET"]),
    Route("/api/v1/customers/{id}", update_customer, methods=["PATCH"]),
    Route("/api/v1/customers/{id}/merge", merge_customer, methods=["POST"]),
]
