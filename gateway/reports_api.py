"""``GET /api/v1/reports/kpis``: service KPIs over a period, as JSON or CSV.

Durations are counted per conversation in the calendar of the SLA policy
that applies to it (the ``calendar`` its ``sla_instances`` rows counted in,
business time via ``sla.calendar``), 24x7 where none applies.

Reads the facts of the conversations created in ``[since, until)`` (and
matching ``queue``, ``channel``, ``agent``) with a handful of aggregate
queries, and leaves the arithmetic to ``reports.kpis``. SLA compliance comes
from the ``sla_instances`` table when the SLA runtime has made it; without
it the counts are zero.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, column, func, select, table
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conversations import schema as t
from conversations.models import rfc3339
from conversations.times import as_utc, utcnow
from gateway.api import services_of, user_caller
from gateway.errors import BadRequest
from reports import (
    ConversationFacts,
    Durations,
    SlaFacts,
    SurveyFacts,
    breakdown,
    summarize,
    to_csv,
)
from reports.kpis import Between, by_day
from sla.calendar import Calendar
from surveys.tables import surveys as survey_table

log = logging.getLogger(__name__)

DEFAULT_PERIOD = timedelta(days=7)
MAX_PERIOD = timedelta(days=366)

# Made by the SLA runtime's migration (0006); read without owning it.
_sla_instances = table(
    "sla_instances",
    column("subject_kind"),
    column("subject_id"),
    column("status"),
    column("kpi"),
    column("calendar"),
)


def _moment(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), time(), UTC)
        moment = datetime.fromisoformat(raw.replace(" ", "+") if "T" in raw else raw)
    except ValueError:
        raise BadRequest(
            f"{name}: expected an RFC 3339 time such as 2026-11-29T09:00:00Z"
            f" or a date such as 2026-11-29, got {raw!r}",
            code="invalid_field",
        ) from None
    return as_utc(moment).astimezone(UTC)


def period(request: Request, now: datetime) -> tuple[datetime, datetime]:
    """``since`` and ``until`` from the query (default: the last 7 days).

    Raises:
        BadRequest: unreadable times, ``since`` not before ``until``, or a
            period over a year.
    """
    until = _moment(request, "until") or now
    since = _moment(request, "since") or until - DEFAULT_PERIOD
    if since >= until:
        raise BadRequest("since must be before until", code="invalid_field")
    if until - since > MAX_PERIOD:
        raise BadRequest("the period may be at most 366 days", code="invalid_field")
    return since, until


def business_time(request: Request, slas: list[SlaFacts]) -> Durations:
    """Each conversation's durations in the calendar its SLA instances
    counted in (a name no longer in ``[[calendars]]`` counts 24x7)."""
    used = {s.calendar for s in slas if s.calendar is not None}
    calendars: dict[str, Between] = {}
    for config in services_of(request).settings.calendars:
        if config.name in used:
            calendars[config.name] = _counting(config.build())
    return Durations(slas, calendars)


def _counting(calendar: Calendar) -> Between:
    def between(start: datetime, end: datetime) -> float:
        return calendar.between(start, end).total_seconds()

    return between


async def _agent_id(request: Request, value: str) -> str:
    """An agent given by id or by username."""
    user = await services_of(request).store.user_by_name(value)
    return user.id if user is not None else value


async def gather(
    request: Request,
    since: datetime,
    until: datetime,
    *,
    queue: str | None,
    channel: str | None,
    agent_id: str | None,
) -> tuple[list[ConversationFacts], list[SurveyFacts], list[SlaFacts]]:
    """The facts of the conversations the report covers."""
    read = services_of(request).store.engines.read
    c, m = t.conversations.c, t.messages
    chosen = select(c.id).where(c.created_at >= since, c.created_at < until)
    if queue:
        chosen = chosen.where(c.queue == queue)
    if channel:
        chosen = chosen.where(c.channel == channel)
    if agent_id:
        chosen = chosen.where(c.assigned_agent_id == agent_id)
    ids = chosen.scalar_subquery()
    rows = await read.all(
        select(
            c.id, c.channel, c.queue, c.assigned_agent_id, c.status, c.created_at, c.closed_at
        ).where(c.id.in_(ids))
    )
    first_customer = (
        select(m.c.conversation_id.label("cid"), func.min(m.c.created_at).label("at"))
        .where(m.c.sender_role == "customer", m.c.conversation_id.in_(ids))
        .group_by(m.c.conversation_id)
        .subquery()
    )
    reply = m.alias("reply")
    first_reply = (
        select(reply.c.conversation_id, func.min(reply.c.created_at))
        .join(first_customer, first_customer.c.cid == reply.c.conversation_id)
        .where(reply.c.sender_role == "agent", reply.c.created_at >= first_customer.c.at)
        .group_by(reply.c.conversation_id)
    )
    first_agent = (
        select(m.c.conversation_id, func.min(m.c.created_at))
        .where(m.c.sender_role == "agent", m.c.conversation_id.in_(ids))
        .group_by(m.c.conversation_id)
    )
    customers = await _times(read, select(first_customer.c.cid, first_customer.c.at))
    replies = await _times(read, first_reply)
    agents = await _times(read, first_agent)
    transfers: dict[str, int] = defaultdict(int)
    requeues = await read.all(
        select(t.timeline.c.conversation_id, t.timeline.c.data).where(
            t.timeline.c.type == "queued", t.timeline.c.conversation_id.in_(ids)
        )
    )
    for requeue in requeues:
        conversation_id, data = requeue._mapping["conversation_id"], requeue._mapping["data"]
        # A transfer requeues with a note field (even null); other requeues
        # (an offer declined, an agent disabled) carry none.
        if isinstance(data, dict) and "note" in data:
            transfers[conversation_id] += 1
    facts = [
        ConversationFacts(
            id=row.id,
            channel=row.channel,
            queue=row.queue,
            agent_id=row.assigned_agent_id,
            status=row.status,
            created_at=as_utc(row.created_at),
            closed_at=None if row.closed_at is None else as_utc(row.closed_at),
            first_customer_at=customers.get(row.id),
            first_reply_at=replies.get(row.id),
            first_agent_at=agents.get(row.id),
            transfers=transfers.get(row.id, 0),
        )
        for row in rows
    ]
    s = survey_table.c
    surveys = [
        SurveyFacts(r.conversation_id, r.status == "answered", r.csat, r.nps)
        for r in await read.all(
            select(s.conversation_id, s.status, s.csat, s.nps).where(s.conversation_id.in_(ids))
        )
    ]
    slas: list[SlaFacts] = []
    try:
        i = _sla_instances.c
        sla_rows = await read.all(
            select(i.subject_id, i.status, i.kpi, i.calendar).where(
                i.subject_kind == "conversation", i.subject_id.in_(ids)
            )
        )
        slas = [SlaFacts(r.subject_id, r.status, r.kpi, r.calendar) for r in sla_rows]
    except DBAPIError as exc:  # no SLA tracking in this database (yet)
        log.debug("no SLA instances to report: %s", exc)
    return facts, surveys, slas


async def _times(read: Any, query: Select[Any]) -> dict[str, datetime]:
    return {row[0]: as_utc(row[1]) for row in await read.all(query) if row[1] is not None}


async def kpis(request: Request) -> Response:
    """Service KPIs over a period, per queue, channel and agent; CSV with
    ``Accept: text/csv``. First response and resolution times count each
    conversation in the business hours of the SLA policy that applies to it
    (24x7 where none does).
    ---
    summary: Service KPIs
    tags: [reports]
    parameters:
      - {name: since, in: query, schema: {type: string, format: date-time},
         description: "start, inclusive (default: 7 days before until)"}
      - {name: until, in: query, schema: {type: string, format: date-time},
         description: "end, exclusive (default: now)"}
      - {name: queue, in: query, schema: {type: string}}
      - {name: channel, in: query, schema: {type: string}}
      - {name: agent, in: query, schema: {type: string}, description: user id or username}
    responses:
      200: {description: "the KPIs: conversations, first_response_seconds, resolution_seconds,
            sla, abandoned, csat, nps, transfers, surveys, by_queue, by_channel, by_agent,
            by_day"}
      400: {description: "since or until unreadable or not in order, or a calendar parameter"}
      401: {description: "no or bad token"}
      403: {description: "not a supervisor or admin"}
    """
    who = await user_caller(request, "supervisor", "admin")
    since, until = period(request, utcnow())
    params = request.query_params
    queue = params.get("queue", "").strip() or None
    channel = params.get("channel", "").strip() or None
    agent = params.get("agent", "").strip() or None
    agent_id = await _agent_id(request, agent) if agent else None
    if "calendar" in params:
        raise BadRequest(
            "calendar: not taken; each conversation counts in the calendar of the SLA"
            " policy that applies to it (24x7 where none does)",
            code="invalid_field",
        )
    facts, surveys, slas = await gather(
        request, since, until, queue=queue, channel=channel, agent_id=agent_id
    )
    durations = business_time(request, slas)
    report = summarize(facts, surveys, slas, durations)
    users = await services_of(request).store.list_users()
    names = {u.id: u.display_name or u.username for u in users}
    by_agent = breakdown(facts, lambda f: f.agent_id, surveys, slas, durations)
    report.update(
        {
            "period": {"since": rfc3339(since), "until": rfc3339(until)},
            "filters": {"queue": queue, "channel": channel, "agent": agent_id},
            "by_queue": breakdown(facts, lambda f: f.queue, surveys, slas, durations),
            "by_channel": breakdown(facts, lambda f: f.channel, surveys, slas, durations),
            "by_agent": {k: {**v, "name": names.get(k, k)} for k, v in by_agent.items()},
            "by_day": breakdown(facts, by_day, surveys, slas, durations),
        }
    )
    if "text/csv" in request.headers.get("accept", ""):
        await services_of(request).audit.add(
            "report_exported",
            actor_id=who.id,
            actor_name=who.user.username if who.user is not None else who.name,
            address=request.client.host if request.client is not None else None,
            report="kpis",
            since=rfc3339(since),
            until=rfc3339(until),
        )
        return Response(
            to_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="kpis.csv"'},
        )
    return JSONResponse(report)


routes = [Route("/api/v1/reports/kpis", kpis, methods=["GET"])]
