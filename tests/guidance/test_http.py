"""Scripts, macros, canned responses and summaries over HTTP, against a real
server on SQLite and on PostgreSQL.

Conversations here are taken by hand (POST .../assign), so the router offers
nothing unless a test connects an agent's websocket; such a test has a queue
of its own.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.clients import agent, bearer, msg_id, recv_until, send, token, visitor
from tests.support.server import Server
from tests.support.services import scratch_postgres

PASSWORD = "guidance test password"
CONFIG = """
[routing]
queues = { default = {}, billing = {}, vip = {}, nobody = {} }
intake = [{ name = "vip", when = "prechat.tier == 'vip'", queue = "vip" }]

[[macros]]
name = "greet"
title = "Greet the customer"
actions = [
  { kind = "send", text = "Hello {{ customer.first_name or 'there' }}, I'm {{ agent.name }}." },
]

[[macros]]
name = "verified"
actions = [
  { kind = "set", name = "verified", value = "yes, by {{ agent.name }}" },
  { kind = "send", text = "Thanks, you're verified for order {{ context.order or 'unknown' }}." },
]

[[macros]]
name = "to-billing"
actions = [
  { kind = "set", name = "topic", value = "billing" },
  { kind = "transfer", queue = "billing", note = "needs a refund" },
]

[[macros]]
name = "wrap-up"
actions = [{ kind = "send", text = "Goodbye!" }, { kind = "close" }]

[[scripts]]
name = "cards"
title = "Card problems"
when = "intent == 'card_arrival'"
steps = [{ kind = "check", text = "Card blocked" }]

[[scripts]]
name = "web"
title = "Web chat"
when = "channel == 'webchat'"
steps = [
  { kind = "text", text = "Read the pre-chat answers first." },
  { kind = "macro", macro = "greet" },
  { kind = "check", text = "Identity verified" },
  { kind = "macro", macro = "to-billing", text = "Send to billing" },
]

[[canned]]
name = "refund-time"
title = "How long refunds take"
text = "{{ customer.first_name or 'Hi' }}, refunds reach your card within 5 days."
tags = ["refund"]

[[canned]]
name = "bye"
text = "Thanks for contacting us!"
"""
_names = itertools.count(1)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def srv(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("guidance")

    def run(url: str) -> Iterator[Server]:
        server = Server(
            workdir,
            url,
            config=CONFIG,
            SWITCHBOARD_USERS=(
                '[{"username": "boss", "role": "supervisor", "password_env": "G_PASSWORD"},'
                ' {"username": "root", "role": "admin", "password_env": "G_PASSWORD"}]'
            ),
            G_PASSWORD=PASSWORD,
        )
        with server:
            yield server

    if request.param == "sqlite":
        yield from run(f"sqlite:///{workdir}/db.sqlite3")
    else:
        with scratch_postgres() as url:
            yield from run(url)


_tokens: dict[tuple[str, str], str] = {}


def staff(srv: Server, username: str) -> str:
    """A token of boss or root, made once per server (argon2 is slow on purpose)."""
    key = (srv.http, username)
    if key not in _tokens:
        _tokens[key] = token(srv.http, username, PASSWORD)
    return _tokens[key]


def shared_agent(srv: Server, name: str) -> str:
    """Alice or Bob of this server, serving no queue (so the router offers them nothing)."""
    key = (srv.http, name)
    if key not in _tokens:
        _tokens[key] = new_agent(srv, name, queues=["nobody"])
    return _tokens[key]


def new_agent(srv: Server, name: str = "", **fields: object) -> str:
    username = f"agent{next(_names)}"
    admin = staff(srv, "root")
    body = {"username": username, "password": PASSWORD, "display_name": name or username, **fields}
    created = httpx.post(srv.http + "/api/v1/users", json=body, headers=bearer(admin))
    assert created.status_code == 201, created.text
    return token(srv.http, username, PASSWORD)


def taken(srv: Server, who: str, **session: Any) -> tuple[str, str]:
    """A web chat the agent took by hand: (conversation id, visitor token)."""
    created = httpx.post(srv.http + "/api/v1/webchat/sessions", json=session)
    assert created.status_code == 201, created.text
    cid = created.json()["conversation_id"]
    assigned = httpx.post(f"{srv.http}/api/v1/conversations/{cid}/assign", headers=bearer(who))
    assert assigned.status_code == 200, assigned.text
    return cid, created.json()["visitor_token"]


def call(srv: Server, method: str, path: str, who: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, srv.http + "/api/v1" + path, headers=bearer(who), **kwargs)


def messages(srv: Server, cid: str, who: str) -> list[dict[str, Any]]:
    reply = call(srv, "GET", f"/conversations/{cid}/messages", who)
    assert reply.status_code == 200
    return reply.json()["messages"]


def test_the_script_is_chosen_ticked_and_its_progress_kept(srv: Server) -> None:
    alice = shared_agent(srv, "Alice Smith")
    cid, _ = taken(srv, alice, name="Vera Lind")

    reply = call(srv, "GET", f"/conversations/{cid}/script", alice)
    assert reply.status_code == 200, reply.text
    script = reply.json()["script"]
    assert reply.json()["conversation_id"] == cid
    assert script["name"] == "web" and script["title"] == "Web chat"
    assert (script["done"], script["total"]) == (0, 4)
    assert [s["kind"] for s in script["steps"]] == ["text", "macro", "check", "macro"]
    assert script["steps"][1]["macro"] == {
        "name": "greet",
        "title": "Greet the customer",
        "actions": ["send"],
    }
    assert script["steps"][3]["text"] == "Send to billing"

    ticked = call(srv, "POST", f"/conversations/{cid}/script/steps/2", alice, json={"done": True})
    assert ticked.status_code == 200, ticked.text
    step = ticked.json()["script"]["steps"][2]
    assert step["done"] is True and step["done_by"] == "Alice Smith"
    assert step["done_at"].endswith("Z")

    # Stored: a fresh read (a reload) and a supervisor see it too.
    boss = staff(srv, "boss")
    for who in (alice, boss):
        again = call(srv, "GET", f"/conversations/{cid}/script", who).json()["script"]
        assert again["done"] == 1 and again["steps"][2]["done"] is True

    unticked = call(
        srv, "POST", f"/conversations/{cid}/script/steps/2", alice, json={"done": False}
    )
    assert unticked.status_code == 200
    assert unticked.json()["script"]["steps"][2]["done"] is False
    assert unticked.json()["script"]["done"] == 0


def test_a_macro_step_sends_once_with_escaped_values(srv: Server) -> None:
    alice = shared_agent(srv, "Alice")
    cid, _ = taken(srv, alice, name="<b>Bob</b> Ray")

    ran = call(srv, "POST", f"/conversations/{cid}/script/steps/1", alice, json={"done": True})
    assert ran.status_code == 200, ran.text
    (result,) = ran.json()["results"]
    assert result["kind"] == "send"
    # The template's own text stays as written; only the customer's value is escaped.
    expected = "Hello &lt;b&gt;Bob&lt;/b&gt;, I'm Alice."
    assert result["text"] == expected
    assert ran.json()["script"]["steps"][1]["done"] is True
    assert ran.json()["script"]["steps"][1]["result"]["results"][0]["message_id"]

    twice = call(srv, "POST", f"/conversations/{cid}/script/steps/1", alice, json={"done": True})
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "step_done"
    undo = call(srv, "POST", f"/conversations/{cid}/script/steps/1", alice, json={"done": False})
    assert undo.status_code == 409
    sent = [m for m in messages(srv, cid, alice) if m["sender"]["role"] == "agent"]
    assert [m["text"] for m in sent] == [expected]
    assert sent[0]["sender"]["name"] == "Alice"


async def test_clicks_at_once_run_a_macro_step_once(srv: Server) -> None:
    alice = shared_agent(srv, "Alice")
    cid, _ = taken(srv, alice, name="Jo")
    async with httpx.AsyncClient(base_url=srv.http + "/api/v1", headers=bearer(alice)) as client:
        replies = await asyncio.gather(
            *(
                client.post(f"/conversations/{cid}/script/steps/1", json={"done": True})
                for _ in range(4)
            )
        )
    assert sorted(r.status_code for r in replies) == [200, 409, 409, 409], [r.text for r in replies]
    sent = [m for m in messages(srv, cid, alice) if m["sender"]["role"] == "agent"]
    assert [m["text"] for m in sent] == ["Hello Jo, I'm Alice."]


def test_running_macros_sets_context_and_sends_as_the_agent(srv: Server) -> None:
    alice = shared_agent(srv, "Alice")
    cid, _ = taken(srv, alice, name="Ann Lee", context={"order": "A-77"})

    ran = call(srv, "POST", f"/conversations/{cid}/macros/verified", alice)
    assert ran.status_code == 200, ran.text
    assert ran.json()["macro"] == "verified"
    assert ran.json()["results"][0] == {"kind": "set", "name": "verified", "value": "yes, by Alice"}
    assert ran.json()["results"][1]["text"] == "Thanks, you're verified for order A-77."
    context = call(srv, "GET", f"/conversations/{cid}/context", alice).json()["context"]
    assert context == {"order": "A-77", "verified": "yes, by Alice"}

    summary = call(srv, "GET", f"/conversations/{cid}/summary", alice).json()
    assert "ran the macro 'verified'" in " ".join(summary["done"])


def test_a_macro_can_close_the_conversation(srv: Server) -> None:
    alice = shared_agent(srv, "Alice Smith")
    cid, _ = taken(srv, alice, name="Cy")
    ran = call(srv, "POST", f"/conversations/{cid}/macros/wrap-up", alice, json={})
    assert ran.status_code == 200, ran.text
    assert [r["kind"] for r in ran.json()["results"]] == ["send", "close"]
    assert ran.json()["conversation"]["status"] == "closed"
    closed = call(srv, "POST", f"/conversations/{cid}/macros/greet", alice)
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "closed"


def test_who_may_run_what(srv: Server) -> None:
    alice, bob = shared_agent(srv, "Alice Smith"), shared_agent(srv, "Bob")
    cid, _ = taken(srv, alice, name="Dee")

    unknown = call(srv, "POST", f"/conversations/{cid}/macros/refund-all", alice)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_macro"
    assert "'refund-all'" in unknown.json()["error"]["message"]
    assert "greet" in unknown.json()["error"]["message"]

    # Bob cannot see Alice's conversation at all.
    for method, path in (
        ("POST", f"/conversations/{cid}/macros/greet"),
        ("POST", f"/conversations/{cid}/script/steps/2"),
        ("GET", f"/conversations/{cid}/script"),
        ("GET", f"/conversations/{cid}/summary"),
        ("GET", f"/canned?conversation_id={cid}"),
    ):
        reply = call(srv, method, path, bob, json={} if method == "POST" else None)
        assert reply.status_code == 404, (path, reply.text)
    assert call(srv, "GET", "/conversations/c_nope/script", alice).status_code == 404

    # A waiting conversation is visible to every agent, but only a supervisor acts on it.
    waiting = httpx.post(srv.http + "/api/v1/webchat/sessions", json={"name": "Eve"}).json()
    wid = waiting["conversation_id"]
    assert call(srv, "GET", f"/conversations/{wid}/script", bob).status_code == 200
    forbidden = call(srv, "POST", f"/conversations/{wid}/macros/greet", bob)
    assert forbidden.status_code == 403
    tick = call(srv, "POST", f"/conversations/{wid}/script/steps/2", bob, json={"done": True})
    assert tick.status_code == 403
    boss = staff(srv, "boss")
    assert call(srv, "POST", f"/conversations/{wid}/macros/greet", boss).status_code == 200
    # A visitor's token is not staff.
    visitor_token = waiting["visitor_token"]
    assert call(srv, "GET", f"/conversations/{wid}/script", visitor_token).status_code == 403
    assert call(srv, "POST", f"/conversations/{wid}/close", boss).status_code == 200
    nothing_sent = [m for m in messages(srv, cid, alice) if m["sender"]["role"] == "agent"]
    assert nothing_sent == []


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/script/steps/2", b'{"done": "maybe"}', 400, "invalid_field"),
        ("/script/steps/2", b'{"done": true, "extra": 1}', 400, "invalid_field"),
        ("/script/steps/2", b"{not json", 400, "invalid_json"),
        ("/script/steps/9", b'{"done": true}', 404, "no_such_step"),
        ("/macros/greet", b'{"send": "x"}', 400, "invalid_field"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(
    srv: Server, path: str, body: bytes, status: int, code: str
) -> None:
    alice = shared_agent(srv, "Alice Smith")
    cid, _ = taken(srv, alice, name="Fay")
    reply = call(
        srv,
        "POST",
        f"/conversations/{cid}{path}",
        alice,
        content=body,
    )
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["code"] == code
    script = call(srv, "GET", f"/conversations/{cid}/script", alice).json()["script"]
    assert script["done"] == 0
    assert messages(srv, cid, alice) == []


def test_a_conversation_no_script_matches_has_none(srv: Server) -> None:
    boss = staff(srv, "boss")
    # Only web chats have a script here; an SMS-like channel is not at hand,
    # so match nothing by asking for a conversation whose intent is a card
    # arrival: the "cards" script comes first.
    created = httpx.post(
        srv.http + "/api/v1/webchat/sessions", json={"context": {"intent": "card_arrival"}}
    ).json()
    cid = created["conversation_id"]
    script = call(srv, "GET", f"/conversations/{cid}/script", boss).json()["script"]
    assert script["name"] == "cards"
    assert call(srv, "POST", f"/conversations/{cid}/close", boss).status_code == 200


def test_canned_responses_are_searched_and_rendered(srv: Server) -> None:
    alice = shared_agent(srv, "Alice Smith")
    cid, _ = taken(srv, alice, name="Gil <Grant>")
    found = call(srv, "GET", "/canned?q=refund", alice)
    assert found.status_code == 200
    (item,) = found.json()["canned"]
    assert item["name"] == "refund-time" and item["title"] == "How long refunds take"
    assert "rendered" not in item
    assert [c["name"] for c in call(srv, "GET", "/canned", alice).json()["canned"]] == [
        "refund-time",
        "bye",
    ]
    rendered = call(srv, "GET", f"/canned?q=refund&conversation_id={cid}", alice).json()
    assert rendered["canned"][0]["rendered"] == "Gil, refunds reach your card within 5 days."
    assert call(srv, "GET", "/canned?q=zzz", alice).json()["canned"] == []
    assert call(srv, "GET", "/canned?limit=x", alice).status_code == 400
    assert httpx.get(srv.http + "/api/v1/canned").status_code == 401


async def test_a_transfer_keeps_progress_and_the_next_agent_gets_a_summary(srv: Server) -> None:
    alice = new_agent(srv, "Alice", queues=["vip"])
    carol = new_agent(srv, "Carol", queues=["billing"])
    created = httpx.post(
        srv.http + "/api/v1/webchat/sessions",
        json={"name": "Hana Ito", "prechat": {"tier": "vip"}},
    ).json()
    cid = created["conversation_id"]
    a_ws, _ = await agent(srv.ws, alice)
    v_ws, _ = await visitor(srv.ws, created["visitor_token"])
    try:
        await send(v_ws, type="message", client_msg_id=msg_id(), text="Hello!")
        await send(
            v_ws,
            type="message",
            client_msg_id=msg_id(),
            text="I was charged twice for order 5512. Can I get a refund for the second charge?",
        )
        await recv_until(v_ws, "ack")
        offer = await recv_until(a_ws, "offer", conversation_id=cid)
        assert offer["queue"] == "vip"
        assert offer["context"]["summary"]["who"]["name"] == "Hana Ito"
        await send(a_ws, type="accept", offer_id=offer["offer_id"])
        await recv_until(a_ws, "assigned", conversation_id=cid)

        tick = call(srv, "POST", f"/conversations/{cid}/script/steps/2", alice, json={"done": True})
        assert tick.status_code == 200
        c_ws, _ = await agent(srv.ws, carol)
        try:
            moved = call(srv, "POST", f"/conversations/{cid}/script/steps/3", alice, json={})
            assert moved.status_code == 200, moved.text
            assert [r["kind"] for r in moved.json()["results"]] == ["set", "transfer"]
            after = moved.json()["script"]
            assert after["steps"][2]["done"] and after["steps"][3]["done"]

            offer = await recv_until(c_ws, "offer", conversation_id=cid)
            summary = offer["context"]["summary"]
            assert summary["who"]["name"] == "Hana Ito"
            assert summary["who"]["prechat"] == {"tier": "vip"}
            assert summary["asked"] == [
                "I was charged twice for order 5512.",
                "Can I get a refund for the second charge?",
            ]
            assert "handled by Alice" in summary["done"]
            assert (
                'transferred by Alice to billing with the note "needs a refund"'
                in (summary["done"])
            )
            await send(c_ws, type="accept", offer_id=offer["offer_id"])
            await recv_until(c_ws, "assigned", conversation_id=cid)
            # Carol finds Alice's ticks where she left them.
            script = call(srv, "GET", f"/conversations/{cid}/script", carol).json()["script"]
            assert script["name"] == "web"
            assert [s["done"] for s in script["steps"]] == [False, False, True, True]
            assert script["steps"][2]["done_by"] == "Alice"
            assert call(srv, "POST", f"/conversations/{cid}/close", carol).status_code == 200
        finally:
            await c_ws.close()
    finally:
        await a_ws.close()
        await v_ws.close()


def test_macros_are_listed_for_the_console(srv: Server) -> None:
    listed = call(srv, "GET", "/macros", shared_agent(srv, "Alice")).json()["macros"]
    assert [m["name"] for m in listed] == ["greet", "verified", "to-billing", "wrap-up"]
    assert listed[0] == {"name": "greet", "title": "Greet the customer", "actions": ["send"]}
    assert listed[2]["actions"] == ["set", "transfer"]


def test_summary_over_http(srv: Server) -> None:
    alice = shared_agent(srv, "Alice")
    cid, _ = taken(srv, alice, name="Ida Park", email="ida@example.com")
    reply = call(srv, "GET", f"/conversations/{cid}/summary", alice)
    assert reply.status_code == 200
    body = reply.json()
    assert body["conversation_id"] == cid
    assert body["who"]["email"] == "ida@example.com" and body["asked"] == []
    assert body["text"].startswith("Ida Park (webchat)")
