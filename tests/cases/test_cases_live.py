"""Cases over real HTTP on a running server, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.support.clients import bearer, new_session, taken_session, token
from tests.support.server import Server

TODAY = date.today()


class Api:
    def __init__(self, server: Server, user: str) -> None:
        self.base = server.http + "/api/v1"
        self.headers = bearer(token(server.http, user, PASSWORD))

    def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return httpx.post(self.base + path, json=body or {}, headers=self.headers, **kw)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(self.base + path, params=params, headers=self.headers)

    def patch(self, path: str, body: Any) -> httpx.Response:
        return httpx.patch(self.base + path, json=body, headers=self.headers)

    def ok(self, reply: httpx.Response, status: int = 200) -> dict[str, Any]:
        assert reply.status_code == status, reply.text
        data: dict[str, Any] = reply.json()
        return data


@pytest.fixture(scope="module")
def alice(server: Server) -> Api:
    return Api(server, "alice")


@pytest.fixture(scope="module")
def sam(server: Server) -> Api:
    return Api(server, "sam")


def customer_of(server: Server, alice: Api, **fields: str) -> tuple[str, str]:
    """A web chat's customer and conversation, taken by alice."""
    session = taken_session(server.http, alice.headers["Authorization"][7:], **fields)
    conversation = alice.ok(alice.get(f"/conversations/{session['conversation_id']}"))
    return conversation["customer"]["id"], conversation["id"]


def test_a_case_is_created_resolved_and_reactivated(server: Server, alice: Api):
    customer_id, _ = customer_of(server, alice, name="Ann", email="ann@example.com")
    case = alice.ok(
        alice.post(
            "/cases",
            {
                "title": "Printer jams",
                "customer_id": customer_id,
                "priority": "high",
                "description": "every page",
            },
        ),
        201,
    )
    assert re.fullmatch(r"CAS-\d{5,}", case["number"])
    assert (case["status"], case["status_reason"], case["priority"]) == (
        "active",
        "in_progress",
        "high",
    )
    assert case["customer"]["id"] == customer_id
    assert case["conversations"] == [] and case["entitlement"] is None
    assert case["sla"] == [] or isinstance(case["sla"], list)
    assert case["billable_minutes"] == 0

    # 400 without a resolution: nothing changes.
    for body in ({}, {"resolution": "   "}):
        reply = alice.post(f"/cases/{case['id']}/resolve", body)
        assert reply.status_code == 400, reply.text
        assert reply.json()["error"]["code"] == "missing_field"
    assert alice.ok(alice.get(f"/cases/{case['id']}"))["status"] == "active"

    resolved = alice.ok(alice.post(f"/cases/{case['id']}/resolve", {"resolution": "new roller"}))
    assert (resolved["status"], resolved["status_reason"], resolved["resolution"]) == (
        "resolved",
        "problem_solved",
        "new roller",
    )
    # Resolving twice, or cancelling a resolved case, is an illegal move: 409.
    for path, body in (("resolve", {"resolution": "again"}), ("cancel", {})):
        reply = alice.post(f"/cases/{case['id']}/{path}", body)
        assert reply.status_code == 409, reply.text
        assert reply.json()["error"]["code"] == "illegal_transition"

    back = alice.ok(alice.post(f"/cases/{case['id']}/reactivate"))
    assert (back["status"], back["status_reason"], back["resolution"]) == (
        "active",
        "in_progress",
        None,
    )
    assert alice.post(f"/cases/{case['id']}/reactivate").status_code == 409

    cancelled = alice.ok(alice.post(f"/cases/{case['id']}/cancel"))
    assert (cancelled["status"], cancelled["status_reason"]) == ("cancelled", "cancelled")
    assert alice.ok(alice.post(f"/cases/{case['id']}/reactivate"))["status"] == "active"


def test_case_numbers_are_unique_and_increasing(alice: Api):
    numbers = [alice.ok(alice.post("/cases", {"title": f"n{i}"}), 201)["number"] for i in range(5)]
    values = [int(n.removeprefix("CAS-")) for n in numbers]
    assert values == sorted(values) and len(set(values)) == 5


def test_patch_sets_status_reason_and_priority_and_checks_stages(alice: Api):
    case = alice.ok(alice.post("/cases", {"title": "Stages"}), 201)
    assert case["stage"] == "identify"
    changed = alice.ok(
        alice.patch(f"/cases/{case['id']}", {"status_reason": "on_hold", "priority": "urgent"})
    )
    assert (changed["status_reason"], changed["priority"]) == ("on_hold", "urgent")
    # identify needs a customer before research.
    reply = alice.patch(f"/cases/{case['id']}", {"stage": "research"})
    assert reply.status_code == 409 and reply.json()["error"]["code"] == "stage_incomplete"
    bad = [
        {"status_reason": "problem_solved"},
        {"priority": "whenever"},
        {"stage": "nowhere"},
        {"colour": "red"},
    ]
    for body in bad:
        assert alice.patch(f"/cases/{case['id']}", body).status_code == 400, body
    alice.ok(alice.post(f"/cases/{case['id']}/resolve", {"resolution": "ok"}))
    reply = alice.patch(f"/cases/{case['id']}", {"status_reason": "researching"})
    assert reply.status_code == 409


def test_a_case_moves_through_the_stages_once_their_fields_are_set(server: Server, alice: Api):
    customer_id, _ = customer_of(server, alice, name="Gus")
    case = alice.ok(alice.post("/cases", {"title": "Flow", "customer_id": customer_id}), 201)
    assert alice.ok(alice.patch(f"/cases/{case['id']}", {"stage": "research"}))["stage"] == (
        "research"
    )
    reply = alice.patch(f"/cases/{case['id']}", {"stage": "resolve"})
    assert reply.status_code == 409 and "description" in reply.json()["error"]["message"]
    moved = alice.ok(
        alice.patch(f"/cases/{case['id']}", {"description": "found it", "stage": "resolve"})
    )
    assert moved["stage"] == "resolve"
    assert alice.ok(alice.patch(f"/cases/{case['id']}", {"stage": "identify"}))["stage"] == (
        "identify"
    )


def test_bad_input_is_refused_and_nothing_is_stored(alice: Api, server: Server):
    before = len(alice.ok(alice.get("/cases", limit=1000))["cases"])
    bodies = [
        {},
        {"title": ""},
        {"title": "x", "priority": "asap"},
        {"title": "x", "customer_id": "cu_nobody"},
        {"title": "x", "conversation_id": "c_nothing"},
        {"title": "x", "extra": 1},
    ]
    for body in bodies:
        reply = alice.post("/cases", body)
        assert reply.status_code == 400, (body, reply.text)
        assert set(reply.json()["error"]) >= {"code", "message"}
    reply = httpx.post(server.http + "/api/v1/cases", content=b"{not json", headers=alice.headers)
    assert reply.status_code == 400
    assert len(alice.ok(alice.get("/cases", limit=1000))["cases"]) == before
    assert alice.get("/cases/cs_nothing").status_code == 404
    assert alice.post("/cases/cs_nothing/resolve", {"resolution": "x"}).status_code == 404
    assert alice.get("/cases", status="open").status_code == 400


def test_visitors_never_see_cases(server: Server, alice: Api):
    session = new_session(server.http, name="Vic")
    case = alice.ok(
        alice.post("/cases", {"title": "Secret", "conversation_id": session["conversation_id"]}),
        201,
    )
    visitor = bearer(session["visitor_token"])
    for reply in (
        httpx.get(f"{server.http}/api/v1/cases/{case['id']}", headers=visitor),
        httpx.get(f"{server.http}/api/v1/cases", headers=visitor),
        httpx.post(f"{server.http}/api/v1/cases", json={"title": "x"}, headers=visitor),
    ):
        assert reply.status_code == 403, reply.text
    assert httpx.get(f"{server.http}/api/v1/cases/{case['id']}").status_code == 401


def test_a_case_from_a_conversation_links_it_and_lists_by_customer(server: Server, alice: Api):
    customer_id, conversation_id = customer_of(server, alice, name="Bea", email="bea@example.com")
    conversation = alice.ok(alice.get(f"/conversations/{conversation_id}"))
    assert conversation["case_id"] is None
    case = alice.ok(alice.post("/cases", {"conversation_id": conversation_id}), 201)
    assert case["title"]  # pre-filled
    assert case["conversations"] == [conversation_id]
    assert case["customer"]["id"] == customer_id and case["origin"] == "webchat"
    assert alice.ok(alice.get(f"/conversations/{conversation_id}"))["case_id"] == case["id"]
    # Every conversation object carries case_id.
    listed = alice.ok(alice.get("/conversations"))["conversations"]
    assert all("case_id" in c for c in listed)

    # A second case cannot take the same conversation.
    reply = alice.post("/cases", {"title": "dup", "conversation_id": conversation_id})
    assert reply.status_code == 409

    # Link another conversation of the customer to the existing case.
    _, second = customer_of(server, alice, email="bea@example.com")
    linked = alice.ok(alice.post(f"/cases/{case['id']}/conversations", {"conversation_id": second}))
    assert linked["conversations"] == [conversation_id, second]

    mine = alice.ok(alice.get("/cases", customer_id=customer_id))["cases"]
    assert [c["id"] for c in mine] == [case["id"]]
    alice.ok(alice.post(f"/cases/{case['id']}/resolve", {"resolution": "done"}))
    assert alice.ok(alice.get("/cases", customer_id=customer_id, status="active"))["cases"] == []
    assert (
        len(alice.ok(alice.get("/cases", customer_id=customer_id, status="resolved"))["cases"]) == 1
    )


def test_activities_add_up_billable_minutes_and_the_timeline_is_in_order(
    server: Server, alice: Api
):
    _, conversation_id = customer_of(server, alice, name="Cy")
    case = alice.ok(
        alice.post("/cases", {"title": "Timeline", "conversation_id": conversation_id}), 201
    )
    activities = [
        {"kind": "note", "text": "looked at logs", "minutes": 10, "billable": True},
        {"kind": "phone_call", "text": "called back", "minutes": 25, "billable": True},
        {"kind": "task", "text": "order part", "minutes": 5},
    ]
    for body in activities:
        alice.ok(alice.post(f"/cases/{case['id']}/activities", body), 201)
    for bad in (
        {"kind": "email", "text": "x"},
        {"kind": "note", "text": "x", "minutes": -1},
        {"kind": "note"},
    ):
        assert alice.post(f"/cases/{case['id']}/activities", bad).status_code == 400
    assert alice.ok(alice.get(f"/cases/{case['id']}"))["billable_minutes"] == 35
    alice.ok(alice.patch(f"/cases/{case['id']}", {"status_reason": "researching"}))
    alice.ok(alice.post(f"/cases/{case['id']}/resolve", {"resolution": "fixed"}))

    items = alice.ok(alice.get(f"/cases/{case['id']}/timeline"))["items"]
    kinds = [i["kind"] for i in items]
    assert [i["at"] for i in items] == sorted(i["at"] for i in items)
    assert {"status_change", "note", "phone_call", "task"} <= set(kinds)
    assert kinds.index("note") < kinds.index("phone_call") < kinds.index("task")
    status = [i for i in items if i["kind"] == "status_change"]
    assert [s.get("status") for s in status][-1] == "resolved"

    # Paged: the pages put together are the whole, in the same order.
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = alice.ok(alice.get(f"/cases/{case['id']}/timeline", **params))
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == items
    assert alice.get(f"/cases/{case['id']}/timeline", cursor="garbage").status_code == 400


def test_entitlement_is_attached_charged_on_resolve_and_given_back(
    server: Server, alice: Api, sam: Api
):
    customer_id, _ = customer_of(server, alice, name="Dee", email="dee@example.com")
    body = {
        "customer_id": customer_id,
        "name": "Gold",
        "kind": "cases",
        "total": 2,
        "starts_on": str(TODAY - timedelta(days=1)),
        "ends_on": str(TODAY + timedelta(days=30)),
    }
    # Bad bodies are refused.
    for bad in (
        {**body, "kind": "beers"},
        {**body, "total": 0},
        {**body, "ends_on": str(TODAY - timedelta(days=5))},
        {**body, "customer_id": "cu_nobody"},
        {**body, "total": 1.5},
    ):
        assert sam.post("/entitlements", bad).status_code == 400, bad
    entitlement = sam.ok(sam.post("/entitlements", body), 201)
    assert (entitlement["remaining"], entitlement["kind"]) == (2, "cases")

    case = alice.ok(alice.post("/cases", {"title": "Covered", "customer_id": customer_id}), 201)
    assert case["entitlement"]["id"] == entitlement["id"]
    assert case["entitlement"]["remaining"] == 2

    def remaining() -> float:
        return sam.ok(sam.get(f"/entitlements/{entitlement['id']}"))["remaining"]

    alice.ok(alice.post(f"/cases/{case['id']}/resolve", {"resolution": "ok"}))
    assert remaining() == 1
    alice.ok(alice.post(f"/cases/{case['id']}/reactivate"))
    assert remaining() == 2
    alice.ok(alice.post(f"/cases/{case['id']}/cancel"))
    assert remaining() == 2  # cancelling takes nothing
    alice.ok(alice.post(f"/cases/{case['id']}/reactivate"))
    resolved = alice.ok(alice.post(f"/cases/{case['id']}/resolve", {"resolution": "ok"}))
    assert resolved["entitlement"]["remaining"] == 1

    second = alice.ok(alice.post("/cases", {"title": "Two", "customer_id": customer_id}), 201)
    alice.ok(alice.post(f"/cases/{second['id']}/resolve", {"resolution": "ok"}))
    assert remaining() == 0
    # Exhausted: the default behaviour warns and shows it on the case.
    third = alice.ok(alice.post("/cases", {"title": "Three", "customer_id": customer_id}), 201)
    assert third["entitlement"]["state"] == "exhausted"
    assert third["warnings"]
    listed = sam.ok(sam.get("/entitlements", customer_id=customer_id))["entitlements"]
    assert [e["id"] for e in listed] == [entitlement["id"]]


def test_hours_entitlement_takes_billable_minutes(server: Server, alice: Api, sam: Api):
    customer_id, _ = customer_of(server, alice, name="Eve")
    entitlement = sam.ok(
        sam.post(
            "/entitlements",
            {
                "customer_id": customer_id,
                "name": "Hours",
                "kind": "hours",
                "total": 10,
                "starts_on": str(TODAY),
                "ends_on": str(TODAY + timedelta(days=365)),
            },
        ),
        201,
    )
    case = alice.ok(alice.post("/cases", {"title": "Hours", "customer_id": customer_id}), 201)
    alice.ok(
        alice.post(
            f"/cases/{case['id']}/activities",
            {"kind": "phone_call", "text": "call", "minutes": 90, "billable": True},
        ),
        201,
    )
    alice.ok(
        alice.post(
            f"/cases/{case['id']}/activities", {"kind": "note", "text": "free", "minutes": 30}
        ),
        201,
    )
    alice.ok(alice.post(f"/cases/{case['id']}/resolve", {"resolution": "ok"}))
    assert sam.ok(sam.get(f"/entitlements/{entitlement['id']}"))["remaining"] == 8.5
    alice.ok(alice.post(f"/cases/{case['id']}/reactivate"))
    assert sam.ok(sam.get(f"/entitlements/{entitlement['id']}"))["remaining"] == 10


def test_merge_moves_conversations_and_activities_and_is_final(server: Server, alice: Api):
    _, conv_a = customer_of(server, alice, name="Fay")
    _, conv_b = customer_of(server, alice, name="Fay")
    survivor = alice.ok(alice.post("/cases", {"title": "Main", "conversation_id": conv_a}), 201)
    other = alice.ok(alice.post("/cases", {"title": "Dup", "conversation_id": conv_b}), 201)
    alice.ok(
        alice.post(
            f"/cases/{other['id']}/activities",
            {"kind": "note", "text": "dup note", "minutes": 7, "billable": True},
        ),
        201,
    )
    assert alice.post(f"/cases/{other['id']}/merge", {"into": other["id"]}).status_code == 400
    result = alice.ok(alice.post(f"/cases/{other['id']}/merge", {"into": survivor["id"]}))
    merged, kept = result["merged"], result["survivor"]
    assert (merged["status"], merged["status_reason"], merged["merged_into"]) == (
        "cancelled",
        "merged",
        survivor["id"],
    )
    assert merged["conversations"] == []
    assert set(kept["conversations"]) == {conv_a, conv_b}
    assert kept["billable_minutes"] == 7
    notes = [
        i
        for i in alice.ok(alice.get(f"/cases/{survivor['id']}/timeline"))["items"]
        if i["kind"] == "note"
    ]
    assert [n["text"] for n in notes] == ["dup note"]
    assert alice.ok(alice.get(f"/conversations/{conv_b}"))["case_id"] == survivor["id"]

    reply = alice.post(f"/cases/{other['id']}/reactivate")
    assert reply.status_code == 409
    error = reply.json()["error"]
    assert error["code"] == "illegal_transition" and error["reason"] == "merged"
    assert "merged" in error["message"]


def test_parent_and_child_cases(alice: Api):
    parent = alice.ok(alice.post("/cases", {"title": "Outage"}), 201)
    child = alice.ok(alice.post("/cases", {"title": "Shop down", "parent_id": parent["id"]}), 201)
    assert child["parent_id"] == parent["id"]
    assert alice.post("/cases", {"title": "x", "parent_id": "cs_none"}).status_code == 400
    assert alice.patch(f"/cases/{parent['id']}", {"parent_id": parent["id"]}).status_code == 400


def test_merging_customers_moves_their_cases_and_entitlements(server: Server, alice: Api, sam: Api):
    keep, _ = customer_of(server, alice, name="Kay", email="kay@example.com")
    other, _ = customer_of(server, alice, name="Kay B", email="kay.b@example.com")
    case = alice.ok(alice.post("/cases", {"title": "Router", "customer_id": other}), 201)
    entitlement = sam.ok(
        sam.post(
            "/entitlements",
            {
                "customer_id": other,
                "name": "Silver",
                "kind": "cases",
                "total": 3,
                "starts_on": str(TODAY - timedelta(days=1)),
                "ends_on": str(TODAY + timedelta(days=30)),
            },
        ),
        201,
    )
    sam.ok(sam.post(f"/customers/{keep}/merge", {"other_id": other}))
    cases = alice.ok(alice.get("/cases", customer_id=keep))["cases"]
    assert [c["id"] for c in cases] == [case["id"]]
    assert alice.ok(alice.get("/cases", customer_id=other))["cases"] == []
    moved = sam.ok(sam.get(f"/entitlements/{entitlement['id']}"))
    assert moved["customer_id"] == keep
