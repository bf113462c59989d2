"""The widget's API beyond sessions: its config (the pre-chat survey of
each widget),
proactive invitations, and the report of invitations for supervisors.

The rules and counts are pure (``proactive/``); this shell answers the
service variables they ask for: ``agents_available`` from the router of this
node, ``open`` from the rule's ``[[calendars]]`` entry (always open without
one). Counts live in this process.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Annotated

from pydantic import Field, StrictFloat, StrictInt, StrictStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conversations.models import rfc3339
from gateway.api import Body, parse_body, services_of, user_caller
from gateway.errors import NotFound
from gateway.services import Services
from proactive import InvitationCounts, ProactiveRules, Visit

log = logging.getLogger(__name__)

Scalar = StrictStr | StrictInt | StrictFloat | bool | None


class ProactiveRequest(Body):
    page_url: Annotated[StrictStr, Field(min_length=1, max_length=4096)]
    seconds_on_page: Annotated[StrictFloat | StrictInt, Field(ge=0, le=10_000_000)]
    visits: Annotated[StrictInt, Field(ge=0, le=1_000_000_000)] | None = None
    language: Annotated[StrictStr, Field(max_length=20)] | None = None
    variables: Annotated[
        dict[Annotated[str, Field(max_length=64)], Scalar], Field(max_length=50)
    ] = Field(default_factory=dict)


class Proactive:
    """This process's proactive rules and invitation counts."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self.rules = ProactiveRules(services.settings.proactive)
        self.counts = InvitationCounts(r.name for r in self.rules.rules)
        self.since = datetime.now(UTC)
        self.calendars = {c.name: c.build() for c in services.settings.calendars}

    def agents_available(self, queue: str | None) -> bool:
        routing = self._services.routing
        if routing is None:
            return False
        return bool(routing.has_ready_agent(queue))

    def open(self, calendar: str | None) -> bool:
        if calendar is None:
            return True
        return self.calendars[calendar].is_open(datetime.now(UTC))  # names checked at start


def _proactive(request: Request) -> Proactive:
    state = request.app.state
    found: Proactive | None = getattr(state, "proactive", None)
    if found is None:
        found = state.proactive = Proactive(services_of(request))
    return found


async def widget_config(request: Request) -> Response:
    """What the chat widget needs before a chat: its pre-chat survey's
    fields, and whether to ask about proactive invitations.
    ---
    tags: [webchat]
    parameters:
      - name: widget
        in: query
        schema: {type: string}
        description: "the widget's id ([[webchat.widgets]]); default: the default widget"
    responses:
      200: {description: "widget id, prechat fields and proactive switch"}
      404: {description: "no widget with this id"}
    """
    settings = services_of(request).settings
    asked = request.query_params.get("widget")
    widget = settings.webchat.widget(asked or None)
    if widget is None:
        known = ", ".join(settings.webchat.widget_ids())
        raise NotFound(f"unknown widget {asked!r}; widgets: {known}", code="unknown_widget")
    return JSONResponse(
        {
            "widget": widget.id,
            "prechat": {"fields": [f.to_wire() for f in widget.prechat]},
            "proactive": {"enabled": bool(settings.proactive)},
        }
    )


async def ask_invitation(request: Request) -> Response:
    """Whether to invite this visitor to chat now: the first configured
    proactive rule whose condition holds gives the invitation.
    ---
    tags: [webchat]
    body: ProactiveRequest
    responses:
      200: {description: "invitation (rule, message) or null"}
      400: {description: "invalid body"}
    """
    body = await parse_body(request, ProactiveRequest)
    proactive = _proactive(request)
    visit = Visit(
        page_url=body.page_url,
        seconds_on_page=float(body.seconds_on_page),
        visits=body.visits,
        language=body.language,
        variables=body.variables,
    )
    started = time.perf_counter()
    invitation = proactive.rules.invite(visit, proactive)
    log.debug("proactive rules took %.3f ms", (time.perf_counter() - started) * 1000)
    if invitation is None:
        return JSONResponse({"invitation": None})
    proactive.counts.record(invitation.rule, "shown")
    return JSONResponse({"invitation": invitation.to_wire()})


async def invitation_outcome(request: Request) -> Response:
    """The visitor accepted or declined an invitation (counted per rule).
    A chat opened from an invitation passes ``context.proactive = <rule>``
    to the session, which routes it to the rule's queue.
    ---
    tags: [webchat]
    responses:
      200: {description: "counted"}
      404: {description: "no such rule or outcome"}
    """
    rule, outcome = request.path_params["rule"], request.path_params["outcome"]
    proactive = _proactive(request)
    if outcome not in ("accepted", "declined"):
        raise NotFound(f"unknown outcome {outcome!r}; expected accepted or declined")
    if rule not in proactive.rules:
        raise NotFound(f"no proactive rule {rule!r}", code="unknown_rule")
    proactive.counts.record(rule, outcome)
    return JSONResponse({"rule": rule, "outcome": outcome})


async def proactive_report(request: Request) -> Response:
    """Invitations shown, accepted and declined per proactive rule, since
    this process started.
    ---
    tags: [reports]
    responses:
      200: {description: "counts per rule"}
      401: {description: "no or bad token"}
      403: {description: "not a supervisor or admin"}
    """
    await user_caller(request, "supervisor", "admin")
    proactive = _proactive(request)
    return JSONResponse({"since": rfc3339(proactive.since), "rules": proactive.counts.report()})


routes = [
    Route("/api/v1/webchat/config", widget_config, methods=["GET"]),
    Route("/api/v1/webchat/proactive", ask_invitation, methods=["POST"]),
    Route("/api/v1/webchat/proactive/{rule}/{outcome}", invitation_outcome, methods=["POST"]),
    Route("/api/v1/reports/proactive", proactive_report, methods=["GET"]),
]
