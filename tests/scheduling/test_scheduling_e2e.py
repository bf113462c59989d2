"""Scheduling end to end: a real server over real sockets (SQLite and PostgreSQL).

Resources live in the shared server's database for the whole session, so each
test gives its resources a skill of its own and searches for that skill.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.support.channels import seeded_users
from tests.support.clients import bearer, new_session, token
from tests.support.server import Server

_n = itertools.count(1)


def monday_ahead(weeks: int = 1) -> datetime:
    """A Monday 00:00 UTC at least a week ahead (searches refuse the past)."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=7 * weeks + (7 - today.weekday()) % 7)


def z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Api:
    def __init__(self, base: str, username: str) -> None:
        self.base = base
        self.headers = bearer(token(base, username, PASSWORD))

    def post(self, path: str, body: Any = None, expect: int | None = None) -> httpx.Response:
        reply = httpx.post(self.base + path, json=body, headers=self.headers, timeout=30)
        if expect is not None:
            assert reply.status_code == expect, reply.text
        return reply

    def get(self, path: str, expect: int | None = 200, **params: str) -> httpx.Response:
        reply = httpx.get(self.base + path, params=params, headers=self.headers, timeout=30)
        if expect is not None:
            assert reply.status_code == expect, reply.text
        return reply


@pytest.fixture
def sam(server: Server) -> Api:
    return Api(server.http, "sam")


@pytest.fixture
def alice(server: Server) -> Api:
    return Api(server.http, "alice")


def skill() -> str:
    return f"repair{next(_n)}-{uuid.uuid4().hex[:6]}"


def person(api: Api, name: str, skills: dict[str, int], **extra: Any) -> str:
    body = {"name": name, "kind": "person", "skills": skills, "calendar": "24x7", **extra}
    return str(api.post("/api/v1/resources", body, expect=201).json()["id"])


def visit(api: Api, skill_name: str, level: int = 3, **extra: Any) -> dict[str, Any]:
    body = {
        "name": "home visit",
        "duration": "1h",
        "requires": [{"kind": "person", "skills": {skill_name: level}}],
        **extra,
    }
    reply: dict[str, Any] = api.post("/api/v1/services", body, expect=201).json()
    return reply


def test_search_book_list_cancel(sam: Api, alice: Api) -> None:
    s = skill()
    ann = person(sam, "Ann", {s: 4})
    bob = person(sam, "Bob", {s: 5})
    kit = str(
        sam.post(
            "/api/v1/resources",
            {"name": "Kit", "kind": "equipment", "site": "north", "calendar": "24x7"},
            expect=201,
        ).json()["id"]
    )
    service = visit(
        sam,
        s,
        requires=[{"kind": "person", "skills": {s: 3}}, {"kind": "equipment", "resource": kit}],
        buffer="15m",
    )
    assert service["buffer"] == {"before": "15m", "after": "15m"}
    day = monday_ahead()
    window = {
        "service_id": service["id"],
        "from": z(day + timedelta(hours=9)),
        "until": z(day + timedelta(hours=12)),
        "count": 3,
    }
    slots = alice.post("/api/v1/schedule/search", window, expect=200).json()["slots"]
    assert [x["start"] for x in slots] == [
        z(day + timedelta(hours=9)),
        z(day + timedelta(hours=9, minutes=15)),
        z(day + timedelta(hours=9, minutes=30)),
    ]
    assert slots[0]["end"] == z(day + timedelta(hours=10))
    assert slots[0]["resources"] == [bob, kit]  # Bob is the more proficient

    booked = alice.post(
        "/api/v1/appointments",
        {"service_id": service["id"], "start": slots[0]["start"], "resources": [bob, kit]},
        expect=201,
    ).json()
    assert booked["status"] == "scheduled" and booked["id"]
    assert booked["resources"] == [bob, kit]

    # The kit is busy 08:45-10:15 now (buffers), and the next visit needs it
    # from 15 minutes before its start: 10:30 is the first, with Ann or Bob.
    after = alice.post("/api/v1/schedule/search", window, expect=200).json()["slots"]
    assert after[0]["start"] == z(day + timedelta(hours=10, minutes=30))

    listed = alice.get(
        "/api/v1/appointments", resource=kit, **{"from": z(day), "until": z(day + timedelta(1))}
    ).json()["appointments"]
    assert [a["id"] for a in listed] == [booked["id"]]
    assert alice.get("/api/v1/appointments", resource=ann).json()["appointments"] == []

    cancelled = alice.post(f"/api/v1/appointments/{booked['id']}/cancel", expect=200).json()
    assert cancelled["status"] == "cancelled"
    again = alice.post("/api/v1/schedule/search", window, expect=200).json()["slots"]
    assert again[0]["start"] == z(day + timedelta(hours=9))
    alice.post(f"/api/v1/appointments/{booked['id']}/cancel", expect=409)
    got = alice.get(f"/api/v1/appointments/{booked['id']}").json()
    assert got["status"] == "cancelled"


async def test_two_agents_booking_the_same_resource_at_once_one_wins(
    server: Server, sam: Api
) -> None:
    s = skill()
    solo = person(sam, "Solo", {s: 3})
    service = visit(sam, s)
    start = monday_ahead() + timedelta(hours=14)
    tokens = [bearer(token(server.http, u, PASSWORD)) for u in ("alice", "bob")]

    async def book(client: httpx.AsyncClient, i: int) -> int:
        # Half ask for the same start, half for an overlapping one.
        at = start + timedelta(minutes=30 * (i % 2))
        reply = await client.post(
            "/api/v1/appointments",
            json={"service_id": service["id"], "start": z(at), "resources": [solo]},
            headers=tokens[i % 2],
        )
        return reply.status_code

    async with httpx.AsyncClient(base_url=server.http, timeout=30) as client:
        codes = await asyncio.gather(*(book(client, i) for i in range(12)))
    assert sorted(codes) == [201] + [409] * 11
    listed = sam.get("/api/v1/appointments", resource=solo).json()["appointments"]
    assert len(listed) == 1


def test_booking_a_closed_resource_is_a_conflict(sam: Api, alice: Api) -> None:
    s = skill()
    day = monday_ahead()
    closed = person(
        sam,
        "On leave",
        {s: 3},
        closures=[{"start": z(day + timedelta(hours=8)), "end": z(day + timedelta(hours=12))}],
    )
    service = visit(sam, s)
    reply = alice.post(
        "/api/v1/appointments",
        {"service_id": service["id"], "start": z(day + timedelta(hours=11)), "resources": [closed]},
        expect=409,
    )
    assert reply.json()["error"]["code"] == "slot_taken"
    assert "closed" in reply.json()["error"]["message"]
    slots = alice.post(
        "/api/v1/schedule/search",
        {
            "service_id": service["id"],
            "from": z(day + timedelta(hours=8)),
            "until": z(day + timedelta(hours=14)),
            "count": 1,
        },
        expect=200,
    ).json()["slots"]
    assert slots[0]["start"] == z(day + timedelta(hours=12))


def test_reschedule_keeps_history_and_frees_the_old_time(sam: Api, alice: Api) -> None:
    s = skill()
    tech = person(sam, "Tech", {s: 3})
    service = visit(sam, s)
    day = monday_ahead() + timedelta(hours=9)
    first = alice.post(
        "/api/v1/appointments",
        {"service_id": service["id"], "start": z(day), "resources": [tech]},
        expect=201,
    ).json()
    moved = alice.post(
        f"/api/v1/appointments/{first['id']}/reschedule",
        {"start": z(day + timedelta(hours=3))},
        expect=200,
    ).json()
    assert moved["start"] == z(day + timedelta(hours=3))
    assert moved["history"][-1]["start"] == z(day)
    assert moved["history"][-1]["resources"] == [tech]
    # Moving by 30 minutes overlaps only itself: allowed.
    alice.post(
        f"/api/v1/appointments/{first['id']}/reschedule",
        {"start": z(day + timedelta(hours=3, minutes=30))},
        expect=200,
    )
    # The old time is free again; the new one is not.
    other = alice.post(
        "/api/v1/appointments",
        {"service_id": service["id"], "start": z(day), "resources": [tech]},
        expect=201,
    ).json()
    reply = alice.post(
        f"/api/v1/appointments/{other['id']}/reschedule",
        {"start": z(day + timedelta(hours=3))},
        expect=409,
    )
    assert reply.json()["error"]["code"] == "slot_taken"
    # Status moves through the table; a completed one cannot move or be cancelled.
    path = f"/api/v1/appointments/{first['id']}"
    assert (
        alice.post(path + "/transition", {"to": "in_progress"}, expect=200).json()["status"]
        == "in_progress"
    )
    alice.post(path + "/transition", {"to": "completed"}, expect=200)
    alice.post(path + "/cancel", expect=409)
    alice.post(path + "/reschedule", {"start": z(day + timedelta(hours=6))}, expect=409)
    history = alice.get(path).json()["history"]
    assert [h.get("status") for h in history if "status" in h] == ["in_progress", "completed"]


def test_appointment_links_a_customer_and_case(server: Server, sam: Api, alice: Api) -> None:
    s = skill()
    tech = person(sam, "Linked", {s: 3})
    service = visit(sam, s)
    session = new_session(server.http, name="Carla", email=f"c{uuid.uuid4().hex[:6]}@example.com")
    conversation = alice.get(f"/api/v1/conversations/{session['conversation_id']}").json()
    customer_id = conversation["customer"]["id"]
    start = monday_ahead() + timedelta(hours=10)
    booked = alice.post(
        "/api/v1/appointments",
        {
            "service_id": service["id"],
            "start": z(start),
            "resources": [tech],
            "customer_id": customer_id,
            "conversation_id": session["conversation_id"],
            "timezone": "Europe/Rome",
        },
        expect=201,
    ).json()
    assert booked["customer_id"] == customer_id
    found = alice.get("/api/v1/appointments", customer_id=customer_id).json()["appointments"]
    assert [a["id"] for a in found] == [booked["id"]]
    # Search prefers the resource the customer had before when asked to.
    other = person(sam, "Other", {s: 5})
    slots = alice.post(
        "/api/v1/schedule/search",
        {
            "service_id": service["id"],
            "from": z(start + timedelta(hours=2)),
            "until": z(start + timedelta(hours=4)),
            "count": 1,
            "customer_id": customer_id,
            "prefer": ["previous", "proficiency"],
        },
        expect=200,
    ).json()["slots"]
    assert slots[0]["resources"] == [tech]
    slots = alice.post(
        "/api/v1/schedule/search",
        {
            "service_id": service["id"],
            "from": z(start + timedelta(hours=2)),
            "until": z(start + timedelta(hours=4)),
            "count": 1,
        },
        expect=200,
    ).json()["slots"]
    assert slots[0]["resources"] == [other]


def test_booking_from_a_conversation_with_a_case_puts_it_on_the_case(
    server: Server, sam: Api, alice: Api
) -> None:
    s = skill()
    tech = person(sam, "Case tech", {s: 3})
    service = visit(sam, s)
    session = new_session(server.http, name="Dario", email=f"d{uuid.uuid4().hex[:6]}@example.com")
    cid = session["conversation_id"]
    alice.post(f"/api/v1/conversations/{cid}/assign", expect=200)
    case = alice.post("/api/v1/cases", {"title": "Boiler", "conversation_id": cid}, expect=201)
    case_id = case.json()["id"]
    start = monday_ahead() + timedelta(hours=15)
    # Only the conversation is named: its customer and case come with it.
    booked = alice.post(
        "/api/v1/appointments",
        {
            "service_id": service["id"],
            "start": z(start),
            "resources": [tech],
            "conversation_id": cid,
        },
        expect=201,
    ).json()
    assert booked["case_id"] == case_id
    assert (
        booked["customer_id"] == alice.get(f"/api/v1/conversations/{cid}").json()["customer"]["id"]
    )
    items = alice.get(f"/api/v1/cases/{case_id}/timeline").json()["items"]
    notes = [i for i in items if "Appointment booked" in (i.get("text") or "")]
    assert len(notes) == 1 and booked["id"] in notes[0]["text"]
    listed = alice.get("/api/v1/appointments", case_id=case_id).json()["appointments"]
    assert [a["id"] for a in listed] == [booked["id"]]
    # Unknown links are refused, nothing booked.
    bad = {"service_id": service["id"], "start": z(start + timedelta(hours=3)), "resources": [tech]}
    reply = alice.post("/api/v1/appointments", {**bad, "conversation_id": "c_nope"}, expect=404)
    assert reply.json()["error"]["code"] == "unknown_conversation"
    reply = alice.post("/api/v1/appointments", {**bad, "case_id": "case_nope"}, expect=404)
    assert reply.json()["error"]["code"] == "unknown_case"
    assert len(alice.get("/api/v1/appointments", resource=tech).json()["appointments"]) == 1


def test_bad_input_is_a_clear_error_and_stores_nothing(sam: Api, alice: Api) -> None:
    s = skill()
    tech = person(sam, "Bad input", {s: 3})
    service = visit(sam, s)
    before = len(sam.get("/api/v1/resources").json()["resources"])
    day = monday_ahead()

    def code(reply: httpx.Response, status: int) -> str:
        assert reply.status_code == status, reply.text
        error = reply.json()["error"]
        assert error["message"]
        return str(error["code"])

    # Search.
    search = "/api/v1/schedule/search"
    window = {"from": z(day), "until": z(day + timedelta(hours=8))}
    assert code(alice.post(search, {"service_id": "svc_nope", **window}), 404) == "unknown_service"
    inverted = {"service_id": service["id"], "from": z(day + timedelta(1)), "until": z(day)}
    assert code(alice.post(search, inverted), 400) == "invalid_window"
    past = {
        "service_id": service["id"],
        "from": "2020-01-01T00:00:00Z",
        "until": "2020-01-02T00:00:00Z",
    }
    assert code(alice.post(search, past), 400) == "window_in_past"
    short = {"service_id": service["id"], "from": z(day), "until": z(day + timedelta(minutes=30))}
    assert code(alice.post(search, short), 400) == "window_too_short"
    naive = {"service_id": service["id"], "from": "2030-01-01T00:00:00", "until": z(day)}
    assert code(alice.post(search, naive), 400) == "invalid_field"
    assert code(alice.post(search, {"service_id": service["id"]}), 400) == "missing_field"
    assert code(alice.post(search, {**inverted, "colour": "red"}), 400) == "invalid_field"
    # Booking.
    book = {"service_id": service["id"], "start": z(day + timedelta(hours=9))}
    assert code(alice.post("/api/v1/appointments", {**book, "resources": ["res_nope"]}), 404) == (
        "unknown_resource"
    )
    assert (
        code(
            alice.post(
                "/api/v1/appointments", {**book, "service_id": "svc_x", "resources": [tech]}
            ),
            404,
        )
        == "unknown_service"
    )
    assert (
        code(
            alice.post(
                "/api/v1/appointments",
                {**book, "start": "2020-01-01T09:00:00Z", "resources": [tech]},
            ),
            400,
        )
        == "in_past"
    )
    weak = person(sam, "Weak", {s: 1})
    assert code(alice.post("/api/v1/appointments", {**book, "resources": [weak]}), 400) == (
        "resources_mismatch"
    )
    assert (
        code(
            alice.post(
                "/api/v1/appointments", {**book, "resources": [tech], "customer_id": "cus_x"}
            ),
            404,
        )
        == "unknown_customer"
    )
    assert (
        code(
            alice.post(
                "/api/v1/appointments", {**book, "resources": [tech], "timezone": "Mars/Base"}
            ),
            400,
        )
        == "unknown_timezone"
    )
    assert code(alice.post("/api/v1/appointments/apt_nope/cancel"), 404) == "unknown_appointment"
    # Resources and services.
    assert code(alice.post("/api/v1/resources", {"name": "x", "kind": "person"}), 403)
    assert code(sam.post("/api/v1/resources", {"name": "x", "kind": "robot"}), 400)
    assert (
        code(
            sam.post("/api/v1/resources", {"name": "x", "kind": "person", "calendar": "nowhere"}),
            400,
        )
        == "unknown_calendar"
    )
    overlapping = [
        {"start": z(day), "end": z(day + timedelta(hours=3))},
        {"start": z(day + timedelta(hours=2)), "end": z(day + timedelta(hours=4))},
    ]
    reply = sam.post(
        "/api/v1/resources",
        {"name": "x", "kind": "person", "calendar": "24x7", "closures": overlapping},
    )
    assert "overlap" in reply.json()["error"]["message"] and reply.status_code == 400
    assert code(
        sam.post("/api/v1/resources", {"name": "x", "kind": "person", "skills": {s: 9}}), 400
    )
    never = {"name": "x", "duration": "1h", "requires": [{"kind": "person", "skills": {s: 5}}]}
    assert code(sam.post("/api/v1/services", never), 400) == "unsatisfiable"
    unknown = {
        "name": "x",
        "duration": "1h",
        "requires": [{"kind": "person", "resource": "res_nope"}],
    }
    assert code(sam.post("/api/v1/services", unknown), 404) == "unknown_resource"
    assert code(sam.post("/api/v1/services", {**never, "duration": "ages"}), 400)
    assert (
        code(
            sam.post(
                "/api/v1/services",
                {**never, "requires": [{"kind": "person"}], "timezone": "Mars/Base"},
            ),
            400,
        )
        == "unknown_timezone"
    )
    # Listing.
    assert code(alice.get("/api/v1/appointments", expect=None, resource="res_nope"), 404)
    assert code(alice.get("/api/v1/appointments", expect=None, **{"from": "yesterday"}), 400)
    # Nothing was stored by any of that.
    assert len(sam.get("/api/v1/resources").json()["resources"]) == before + 1  # "Weak"
    assert sam.get("/api/v1/appointments", resource=tech).json()["appointments"] == []


def test_a_resource_without_a_calendar_is_refused_never_taken_as_24x7(
    backend_url: str, sam: Api, alice: Api
) -> None:
    def error(reply: httpx.Response, status: int) -> dict[str, str]:
        assert reply.status_code == status, reply.text
        found: dict[str, str] = reply.json()["error"]
        return found

    # Created naming no calendar (and no default_calendar): stored, but
    # searching and booking with it are refused, never answered as if 24x7.
    s = skill()
    tech = person(sam, "Has one", {s: 3})
    service = visit(sam, s)
    old = str(
        sam.post(
            "/api/v1/resources",
            {"name": "Old row", "kind": "person", "skills": {s: 4}},
            expect=201,
        ).json()["id"]
    )
    day = monday_ahead()
    window = {"service_id": service["id"], "from": z(day), "until": z(day + timedelta(1))}
    found = error(alice.post("/api/v1/schedule/search", window), 400)
    assert found["code"] == "no_calendar" and "Old row" in found["message"]
    book = {"service_id": service["id"], "start": z(day + timedelta(hours=9))}
    found = error(alice.post("/api/v1/appointments", {**book, "resources": [old]}), 400)
    assert found["code"] == "no_calendar"
    assert error(sam.post("/api/v1/services", {**visit_body(s)}), 400)["code"] == "no_calendar"
    # The resource with a calendar is still bookable on its own.
    alice.post("/api/v1/appointments", {**book, "resources": [tech]}, expect=201)


def test_a_service_that_can_never_happen_is_refused(sam: Api, alice: Api) -> None:
    s = skill()
    north = person(sam, "North tech", {s: 3}, site="north")
    kit = str(
        sam.post(
            "/api/v1/resources",
            {"name": "South kit", "kind": "equipment", "site": "south", "calendar": "24x7"},
            expect=201,
        ).json()["id"]
    )
    apart = {
        **visit_body(s),
        "requires": [{"kind": "person", "resource": north}, {"kind": "equipment", "resource": kit}],
        "same_site": True,
    }
    reply = sam.post("/api/v1/services", apart, expect=400)
    assert reply.json()["error"]["code"] == "unsatisfiable"
    assert "even with nothing booked" in reply.json()["error"]["message"]
    # Without same_site the same two can meet.
    sam.post("/api/v1/services", {**apart, "same_site": False}, expect=201)


def visit_body(skill_name: str) -> dict[str, Any]:
    return {
        "name": "home visit",
        "duration": "1h",
        "requires": [{"kind": "person", "skills": {skill_name: 3}}],
    }


CALENDAR_CONFIG = """
[[calendars]]
name = "office"
timezone = "Asia/Tokyo"
monday = ["10:00-12:00"]

[scheduling]
step = "30m"

[[scheduling.calendars]]
name = "workshop"
timezone = "Europe/Rome"
monday = ["09:00-13:00", "14:00-18:00"]
tuesday = ["09:00-13:00"]
"""


@pytest.fixture
def nodes(backend_url: str, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """Two gateway processes on one database (a cluster of two nodes)."""
    first = Server(tmp_path, backend_url, config=CALENDAR_CONFIG)
    second = Server(tmp_path, backend_url, config=CALENDAR_CONFIG)
    # The session's server may have made "sam" in this database already.
    first.cli(
        "users", "add", "sam", "--role", "supervisor", "--password-stdin", stdin=PASSWORD + "\n"
    )
    with first, second:
        yield first, second


async def test_calendars_and_booking_across_two_nodes(nodes: tuple[Server, Server]) -> None:
    one, two = nodes
    sam = Api(one.http, "sam")
    s = skill()
    tech = person(sam, "Workshop tech", {s: 3}, calendar="workshop")
    service = visit(sam, s)
    monday = monday_ahead(2)
    slots = sam.post(
        "/api/v1/schedule/search",
        {
            "service_id": service["id"],
            "from": z(monday),
            "until": z(monday + timedelta(2)),
            "count": 25,
        },
        expect=200,
    ).json()["slots"]
    # Rome is UTC+1 in winter and UTC+2 in summer: take the offset of that day.
    from zoneinfo import ZoneInfo

    offset = monday.astimezone(ZoneInfo("Europe/Rome")).utcoffset()
    assert offset is not None
    local = [datetime.fromisoformat(x["start"].replace("Z", "+00:00")) + offset for x in slots]
    hours = [(t.weekday(), t.hour + t.minute / 60) for t in local]
    assert hours[:7] == [(0, 9), (0, 9.5), (0, 10), (0, 10.5), (0, 11), (0, 11.5), (0, 12)]
    assert (0, 12.5) not in hours and (0, 14) in hours and (0, 17) in hours
    assert (0, 17.5) not in hours and (1, 9) in hours and (1, 12) in hours
    assert len(slots) == 21  # Monday 7 + 7, Tuesday 7 (a visit at 12:00 ends at 13:00)
    # Off work: 409.
    evening = monday + timedelta(hours=20)
    reply = sam.post(
        "/api/v1/appointments",
        {"service_id": service["id"], "start": z(evening), "resources": [tech]},
        expect=409,
    )
    assert "not working" in reply.json()["error"]["message"]
    # The service desk's business hours ([[calendars]], shared with SLA clocks)
    # serve too: Tokyo is UTC+9 all year, so 10:00-12:00 is 01:00-03:00 UTC.
    clerk = person(sam, "Office clerk", {s: 3}, calendar="office")
    office = visit(sam, s, requires=[{"kind": "person", "skills": {s: 3}, "resource": clerk}])
    slots_office = sam.post(
        "/api/v1/schedule/search",
        {
            "service_id": office["id"],
            "from": z(monday),
            "until": z(monday + timedelta(2)),
            "count": 10,
        },
        expect=200,
    ).json()["slots"]
    assert [x["start"] for x in slots_office] == [
        z(monday + timedelta(hours=1)),
        z(monday + timedelta(hours=1, minutes=30)),
        z(monday + timedelta(hours=2)),
    ]
    # Racing bookings spread over both nodes: exactly one wins.
    tokens = [bearer(token(n.http, "sam", PASSWORD)) for n in (one, two)]
    start = slots[0]["start"]

    async def book(i: int) -> int:
        node = (one, two)[i % 2]
        async with httpx.AsyncClient(base_url=node.http, timeout=30) as client:
            reply = await client.post(
                "/api/v1/appointments",
                json={"service_id": service["id"], "start": start, "resources": [tech]},
                headers=tokens[i % 2],
            )
            return reply.status_code

    codes = await asyncio.gather(*(book(i) for i in range(10)))
    assert sorted(codes) == [201] + [409] * 9


def test_a_person_linked_to_an_agent_takes_its_routing_skills(server: Server, sam: Api) -> None:
    ada = Api(server.http, "ada")
    username = f"tech{uuid.uuid4().hex[:8]}"
    ada.post(
        "/api/v1/users",
        {"username": username, "password": "long enough password", "skills": {"boilers": 4}},
        expect=201,
    )
    linked = sam.post(
        "/api/v1/resources",
        {"name": "Tech", "kind": "person", "user": username, "calendar": "24x7"},
        expect=201,
    ).json()
    assert linked["user"] == username and linked["skills"] == {"boilers": 4}
    own = sam.post(
        "/api/v1/resources",
        {
            "name": "Tech",
            "kind": "person",
            "user": username,
            "skills": {"gas": 2},
            "calendar": "24x7",
        },
        expect=201,
    ).json()
    assert own["skills"] == {"gas": 2}
    reply = sam.post(
        "/api/v1/resources",
        {"name": "Ghost", "kind": "person", "user": "nobody-here", "calendar": "24x7"},
        expect=400,
    )
    assert reply.json()["error"]["code"] == "unknown_user"


def _short_hours(hours: str) -> str:
    days = "\n".join(
        f'{d} = ["{hours}"]'
        for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    )
    return f"""
[scheduling]
default_calendar = "short"

[[scheduling.calendars]]
name = "short"
timezone = "Europe/Rome"
{days}
"""


def test_a_service_that_can_no_longer_happen_is_an_error_at_search(tmp_path: Path) -> None:
    """After a restart with shorter hours, a 90-minute visit fits no day: the
    search says so (400 ``unsatisfiable``) instead of an empty "no time free"."""
    url = f"sqlite:///{tmp_path / 'switchboard.sqlite3'}"
    first = Server(tmp_path, url, config=_short_hours("09:00-11:00"), **seeded_users())
    with first:
        sam = Api(first.http, "sam")
        # default_calendar: a resource that names none gets it.
        tech = sam.post("/api/v1/resources", {"name": "Tech", "kind": "person"}, expect=201).json()
        assert tech["calendar"] == "short"
        requires = [{"kind": "person", "resource": tech["id"]}]
        body = {"name": "visit", "duration": "90m", "requires": requires}
        service = sam.post("/api/v1/services", body, expect=201).json()
        # Longer than the working day: refused when defined.
        reply = sam.post("/api/v1/services", {**body, "duration": "3h"}, expect=400)
        assert reply.json()["error"]["code"] == "unsatisfiable"
    second = Server(tmp_path, url, config=_short_hours("09:00-10:00"))
    with second:
        sam = Api(second.http, "sam")
        day = monday_ahead()
        window = {"service_id": service["id"], "from": z(day), "until": z(day + timedelta(7))}
        reply = sam.post("/api/v1/schedule/search", window, expect=400)
        assert reply.json()["error"]["code"] == "unsatisfiable"
        assert "visit" in reply.json()["error"]["message"]
        # A 30-minute visit still fits: an empty answer there means "booked".
        short = sam.post("/api/v1/services", {**body, "duration": "30m"}, expect=201).json()
        slots = sam.post(
            "/api/v1/schedule/search", {**window, "service_id": short["id"]}, expect=200
        ).json()["slots"]
        assert slots
