"""The websocket authorization matrix: every frame type a client may send, by
every role that can hold a socket, on its own and on someone else's record.

The frame types come from the frame registry (``gateway.frames``), so a new
frame type without a rule here fails: whoever adds one says who may send it.
Each case sends one frame on a live socket and compares what comes back with
the rule: the reply the frame earns, or an error frame with the rule's code.
Whatever the outcome, a frame that is refused changes nothing in the other
conversation, and no frame the socket receives carries that conversation's
data (its customer's name is a marker). Who holds what: a visitor its own web
chat; an agent, supervisor or admin a conversation they took; the bot one the
bot runtime gave it. "Foreign" is a conversation another agent (bob) holds,
and for offers one made to bob.

API keys (device alerts) cannot hold a socket: they are refused at the hello,
as are tokens of the wrong kind for an endpoint.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from gateway.frames import AgentFrame, VisitorFrame
from tests.support.clients import agent, bearer, recv, recv_until, send, visitor
from tests.support.server import Server

PASSWORD = "frame matrix password"
VISITOR, AGENT, SUPERVISOR, ADMIN, BOT = "visitor", "agent", "supervisor", "admin", "bot"
USER_OF = {AGENT: "alice", SUPERVISOR: "sam", ADMIN: "ada", BOT: "robo"}
ENDPOINT_ROLES = {"visitor": (VISITOR,), "agent": (AGENT, SUPERVISOR, ADMIN, BOT)}
WAIT = 30.0
"""Seconds to wait for any one answer (the machine running the tests may be busy)."""
OWN, FOREIGN, NONE = "own", "foreign", "none"
"""Scopes: the caller's own record, someone else's, or no record at all."""


def registered(union: Any) -> list[str]:
    """The ``type`` of every frame model in a discriminated union."""
    members = get_args(get_args(union)[0])
    return sorted(get_args(m.model_fields["type"].annotation)[0] for m in members)


# Every endpoint also reads a second ``hello`` (it is a frame type of the
# handshake): after the handshake it is refused like a malformed frame.
FRAME_TYPES = {
    "visitor": [*registered(VisitorFrame), "hello"],
    "agent": [*registered(AgentFrame), "hello"],
}

# Outcomes: a reply frame's type ("ack": for the conversation targeted,
# "ack_own": for the visitor's own whatever it names), "quiet" (no reply,
# no error), or "error:<code>".
SECOND_HELLO = "error:invalid_field"
STAFF_FOREIGN = "error:not_found"  # an agent must not learn it exists

RULES: dict[tuple[str, str], dict[str, dict[str, str]]] = {
    # -- /ws/visitor: the token names one conversation; the frame's
    # conversation_id cannot point anywhere else.
    ("visitor", "message"): {VISITOR: {OWN: "ack", FOREIGN: "ack_own"}},
    ("visitor", "typing"): {VISITOR: {OWN: "quiet", FOREIGN: "quiet"}},
    ("visitor", "ping"): {VISITOR: {NONE: "pong"}},
    ("visitor", "survey_response"): {
        VISITOR: {OWN: "survey_recorded", FOREIGN: "error:bad_survey"}
    },
    ("visitor", "hello"): {VISITOR: {NONE: SECOND_HELLO}},
    # -- /ws/agent
    ("agent", "message"): {
        AGENT: {OWN: "ack", FOREIGN: STAFF_FOREIGN},
        SUPERVISOR: {OWN: "ack", FOREIGN: "ack"},  # supervisors may step in
        ADMIN: {OWN: "ack", FOREIGN: "ack"},
        BOT: {OWN: "ack", FOREIGN: STAFF_FOREIGN},
    },
    ("agent", "typing"): {
        role: {OWN: "quiet", FOREIGN: "error:not_assigned"}
        for role in (AGENT, SUPERVISOR, ADMIN, BOT)
    },
    ("agent", "ping"): {role: {NONE: "pong"} for role in (AGENT, SUPERVISOR, ADMIN, BOT)},
    ("agent", "presence"): {
        AGENT: {NONE: "presence"},
        SUPERVISOR: {NONE: "error:not_routed"},
        ADMIN: {NONE: "error:not_routed"},
        BOT: {NONE: "error:not_routed"},  # a configured bot gets work from the bot runtime
    },
    # Only routed agents are offered work; anyone else's offer is not theirs.
    ("agent", "accept"): {
        AGENT: {OWN: "assigned", FOREIGN: "error:wrong_agent"},
        SUPERVISOR: {FOREIGN: "error:wrong_agent"},
        ADMIN: {FOREIGN: "error:wrong_agent"},
        BOT: {FOREIGN: "error:wrong_agent"},
    },
    ("agent", "reject"): {
        AGENT: {OWN: "quiet", FOREIGN: "error:wrong_agent"},
        SUPERVISOR: {FOREIGN: "error:wrong_agent"},
        ADMIN: {FOREIGN: "error:wrong_agent"},
        BOT: {FOREIGN: "error:wrong_agent"},
    },
    ("agent", "transfer"): {
        AGENT: {OWN: "quiet", FOREIGN: STAFF_FOREIGN},
        SUPERVISOR: {OWN: "quiet", FOREIGN: "quiet"},
        ADMIN: {OWN: "quiet", FOREIGN: "quiet"},
        BOT: {OWN: "quiet", FOREIGN: STAFF_FOREIGN},
    },
    ("agent", "close"): {
        AGENT: {OWN: "status", FOREIGN: STAFF_FOREIGN},
        SUPERVISOR: {OWN: "status", FOREIGN: "quiet"},
        ADMIN: {OWN: "status", FOREIGN: "quiet"},
        BOT: {OWN: "status", FOREIGN: STAFF_FOREIGN},
    },
    ("agent", "handoff"): {
        AGENT: {OWN: "error:not_a_bot", FOREIGN: "error:not_a_bot"},
        SUPERVISOR: {OWN: "error:not_a_bot", FOREIGN: "error:not_a_bot"},
        ADMIN: {OWN: "error:not_a_bot", FOREIGN: "error:not_a_bot"},
        BOT: {OWN: "quiet", FOREIGN: "error:not_held"},
    },
    ("agent", "hello"): {role: {NONE: SECOND_HELLO} for role in (AGENT, SUPERVISOR, ADMIN, BOT)},
}
MUTATES = {"message", "transfer", "close", "accept", "reject", "handoff"}
"""Frames that change their target: a refused one must leave it as it was."""

CONFIG = """
[routing.offers]
timeout = 120

[routing.presence]
on_connect = "away"                 # offers only to whom a case makes available

[routing.queues.default]
[routing.queues.other]
[routing.queues.bots]

[[routing.intake]]
name = "to the bot"
when = "context.bot == 'robo'"
queue = "bots"

[[bots]]
name = "robo"
queues = ["bots"]
"""
USERS = [
    ("alice", "agent"),
    ("bob", "agent"),
    ("sam", "supervisor"),
    ("ada", "admin"),
    ("robo", "bot"),
]


def test_every_frame_type_has_a_rule_for_every_role() -> None:
    missing = [
        f"{endpoint} {kind} as {role}"
        for endpoint, kinds in FRAME_TYPES.items()
        for kind in kinds
        for role in ENDPOINT_ROLES[endpoint]
        if role not in RULES.get((endpoint, kind), {})
    ]
    assert not missing, "frame types without an authorization rule:\n  " + "\n  ".join(missing)
    stale = [key for key in RULES if key[1] not in FRAME_TYPES[key[0]]]
    assert not stale, f"rules for frame types that no longer exist: {stale}"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir: Path = tmp_path_factory.mktemp("frames")
    seeds = [
        {"username": name, "role": role, "password_env": "FM_PASSWORD"} for name, role in USERS
    ]
    server = Server(
        workdir,
        f"sqlite:///{workdir}/db.sqlite3",
        config=CONFIG,
        SWITCHBOARD_USERS=json.dumps(seeds),
        FM_PASSWORD=PASSWORD,
    )
    server.start(timeout=90)  # the machine is shared: start-up can be slow
    try:
        yield server
    finally:
        server.stop()


@dataclass
class World:
    """Clients of one running server, for one test."""

    srv: Server
    http: httpx.AsyncClient
    tokens: dict[str, str]

    async def call(self, method: str, path: str, user: str, **kw: Any) -> dict[str, Any]:
        reply = await self.http.request(method, path, headers=bearer(self.tokens[user]), **kw)
        assert reply.status_code < 300, f"{method} {path} as {user}: {reply.text}"
        body: dict[str, Any] = reply.json()
        return body

    async def session(self, name: str, **fields: Any) -> tuple[str, str]:
        reply = await self.http.post("/api/v1/webchat/sessions", json={"name": name, **fields})
        assert reply.status_code == 201, reply.text
        return reply.json()["conversation_id"], reply.json()["visitor_token"]

    async def waiting(self, name: str, **fields: Any) -> str:
        """A new web chat whose visitor has written (routing starts then)."""
        cid, tok = await self.session(name, **fields)
        ws, _ = await visitor(self.srv.ws, tok)
        await send(ws, type="message", client_msg_id=f"cm-{uuid.uuid4().hex}", text="help")
        await recv_until(ws, "ack", timeout=WAIT)
        await ws.close()
        return cid

    async def held_by(self, user: str, marker: str | None = None) -> str:
        """A new web chat that ``user`` took by hand."""
        cid, _ = await self.session(marker or "Vera Visitor")
        await self.call("POST", f"/api/v1/conversations/{cid}/assign", user)
        return cid

    async def snapshot(self, cid: str) -> tuple[Any, ...]:
        conv = await self.call("GET", f"/api/v1/conversations/{cid}", "sam")
        messages = await self.call("GET", f"/api/v1/conversations/{cid}/messages", "sam")
        return (
            conv["status"],
            conv.get("queue"),
            conv.get("assigned_agent_id"),
            len(messages["messages"]),
        )

    async def changes(self, cid: str, before: tuple[Any, ...] | None) -> bool:
        """Whether the conversation moves on from ``before`` within a few
        seconds (the router applies accepted and rejected offers after it
        answers)."""
        for _ in range(int(WAIT * 10)):
            if await self.snapshot(cid) != before:
                return True
            await asyncio.sleep(0.1)
        return False

    async def tidy(self, *cids: str) -> None:
        """Close what a case opened, so nothing is left waiting for the next."""
        for cid in cids:
            await self.http.post(
                f"/api/v1/conversations/{cid}/close", headers=bearer(self.tokens["sam"])
            )


@pytest.fixture
async def world(srv: Server) -> AsyncIterator[World]:
    async with httpx.AsyncClient(base_url=srv.http, timeout=30) as http:
        tokens = {}
        for name, _ in USERS:
            reply = await http.post(
                "/api/v1/auth/token", json={"username": name, "password": PASSWORD}
            )
            assert reply.status_code == 200, reply.text
            tokens[name] = reply.json()["access_token"]
        yield World(srv, http, tokens)


def build(kind: str, cid: str | None, offer_id: str | None) -> dict[str, Any]:
    """A well-formed frame of ``kind`` aimed at ``cid`` (or the offer)."""
    ref = f"cm-{uuid.uuid4().hex[:12]}"
    target = {"conversation_id": cid} if cid is not None else {}
    frames: dict[str, dict[str, Any]] = {
        "message": {"client_msg_id": ref, "text": "hello there", **target},
        "typing": {"active": True, **target},
        "ping": {},
        "presence": {"status": "available"},
        "accept": {"offer_id": offer_id},
        "reject": {"offer_id": offer_id, "reason": "busy"},
        "transfer": {"queue": "other", **target},
        "close": {**target},
        "handoff": {"summary": "needs a person", **target},
        "survey_response": {"csat": 5, **target},
        "hello": {"token": "whatever"},
    }
    return {"type": kind, **frames[kind]}


async def outcome(
    ws: ClientConnection, frame: dict[str, Any], expected: str
) -> tuple[str, list[dict[str, Any]]]:
    """Send ``frame``; return what it earned (in the rules' terms) and every
    frame the socket received until the server had answered a ping after it."""
    await send(ws, **frame)
    seen: list[dict[str, Any]] = []
    result = None
    want = "error" if expected.startswith("error:") else expected.replace("ack_own", "ack")
    async with asyncio.timeout(WAIT):
        if expected != "quiet":
            while result is None:
                got = await recv(ws, WAIT)
                seen.append(got)
                if got["type"] == "error":
                    result = f"error:{got['code']}"
                elif got["type"] == want:
                    result = want
        await send(ws, type="ping")
        while True:
            got = await recv(ws, WAIT)
            if got["type"] == "pong":
                break
            seen.append(got)
            if result is None and got["type"] == "error":
                result = f"error:{got['code']}"
    return result or "quiet", seen


def leaks(seen: list[dict[str, Any]], marker: str) -> list[dict[str, Any]]:
    """Frames that carry ``marker``; an error's ``ref`` only echoes what the
    client sent, so it does not count."""
    return [f for f in seen if marker in json.dumps({k: v for k, v in f.items() if k != "ref"})]


async def available(ws: ClientConnection, status: str) -> None:
    await send(ws, type="presence", status=status)
    seen = []
    try:
        async with asyncio.timeout(WAIT):
            while True:
                got = await recv(ws, WAIT)
                seen.append(got)
                if got["type"] == "presence" and got["status"] == status:
                    return
    except TimeoutError:
        raise AssertionError(f"no presence {status}: {seen}") from None


async def offer_to(world: World, ws: ClientConnection, marker: str) -> tuple[str, str]:
    """A new chat offered to the agent on ``ws`` (the only one available; it
    goes away once the case is over, which would revoke the offer now)."""
    await available(ws, "available")
    cid = await world.waiting(marker)
    offer = await recv_until(ws, "offer", conversation_id=cid, timeout=WAIT)
    return cid, str(offer["offer_id"])


@pytest.mark.parametrize("kind", FRAME_TYPES["visitor"])
async def test_visitor_frames_follow_the_rules(world: World, kind: str) -> None:
    rules = RULES[("visitor", kind)][VISITOR]
    wrong = []
    for scope, expected in rules.items():
        marker = f"Secret {uuid.uuid4().hex[:10]}"
        own, tok = await world.session("Vera Visitor")
        foreign, _ = await world.session(marker)
        if kind == "survey_response":  # a survey is asked when a chat closes
            await world.tidy(own)
        ws, _ = await visitor(world.srv.ws, tok)
        try:
            before = await world.snapshot(foreign)
            target = {OWN: own, FOREIGN: foreign, NONE: None}[scope]
            frame = build(kind, target, None)
            got, seen = await outcome(ws, frame, expected)
            if got != expected.replace("ack_own", "ack"):
                wrong.append(f"{scope}: expected {expected}, got {got}: {seen}")
            acks = [f for f in seen if f["type"] == "ack"]
            if any(a["conversation_id"] != own for a in acks):
                wrong.append(f"{scope}: acked for another conversation: {acks}")
            if leaks(seen, marker) or leaks(seen, foreign):
                wrong.append(f"{scope}: the other conversation leaked: {leaks(seen, marker)}")
            if await world.snapshot(foreign) != before:
                wrong.append(f"{scope}: the other conversation changed")
        finally:
            await ws.close()
            await world.tidy(own, foreign)
    assert not wrong, f"visitor {kind}:\n  " + "\n  ".join(wrong)


async def staff_case(
    world: World, sockets: dict[str, ClientConnection], role: str, kind: str, scope: str
) -> list[str]:
    """One (role, scope) case of an agent-endpoint frame; what went wrong."""
    ws = sockets[role]
    user = USER_OF[role]
    expected = RULES[("agent", kind)][role][scope]
    marker = f"Secret {uuid.uuid4().hex[:10]}"
    opened: list[str] = []
    target: str | None = None
    offer_id: str | None = None
    watched: str | None = None  # the other party's record, which must stay as it was
    if kind in ("accept", "reject"):
        if scope == OWN:
            target, offer_id = await offer_to(world, ws, "Vera Visitor")
        else:
            watched, offer_id = await offer_to(world, sockets["bob"], marker)
        opened.append(target or watched or "")
    elif scope == OWN:
        if role == BOT:  # the bot runtime hands the bot its conversations
            target = await world.waiting("Vera Visitor", context={"bot": "robo"})
        else:
            target = await world.held_by(user)
        await recv_until(ws, "assigned", conversation_id=target, timeout=WAIT)
        opened.append(target)
    elif scope == FOREIGN:
        target = watched = await world.held_by("bob", marker)
        opened.append(target)
    try:
        before = await world.snapshot(watched) if watched else None
        mine = await world.snapshot(target) if target and scope == OWN else None
        got, seen = await outcome(ws, build(kind, target, offer_id), expected)
        wrong = []
        if got != expected:
            wrong.append(f"{role} {scope}: expected {expected}, got {got}: {seen}")
        allowed = not expected.startswith("error:")
        if watched is not None and not allowed:
            if await world.snapshot(watched) != before:
                wrong.append(f"{role} {scope}: refused, yet the other record changed")
            shown = leaks(seen, marker) + leaks(seen, watched)
            if shown:
                wrong.append(f"{role} {scope}: the other record leaked: {shown}")
        if allowed and kind == "reject":  # the offer is over: it cannot be taken now
            again, _ = await outcome(ws, build("accept", None, offer_id), "error:offer_ended")
            if not again.startswith("error:"):
                wrong.append(f"{role} {scope}: a rejected offer could still be accepted")
        elif allowed and kind in MUTATES and target is not None:
            moved = await world.changes(target, before if scope == FOREIGN else mine)
            if not moved:
                wrong.append(f"{role} {scope}: allowed, yet nothing changed")
        return wrong
    finally:
        await world.tidy(*opened)
        if offer_id is not None:
            await available(sockets["bob"] if watched else ws, "away")


@pytest.mark.parametrize("kind", FRAME_TYPES["agent"])
async def test_agent_frames_follow_the_rules(world: World, kind: str) -> None:
    rules = RULES[("agent", kind)]
    sockets: dict[str, ClientConnection] = {}
    try:
        for role in (*rules, "bob"):
            user = USER_OF.get(role, role)
            sockets[role], _ = await agent(world.srv.ws, world.tokens[user])
        wrong = []
        for role, scopes in rules.items():
            for scope in scopes:
                wrong += await staff_case(world, sockets, role, kind, scope)
    finally:
        for ws in sockets.values():
            # The next test's sockets start away (a status set again sends
            # no presence frame to wait on): the router takes this before
            # the disconnect and the next connect.
            await send(ws, type="presence", status="away")
            await ws.close()
    assert not wrong, f"agent {kind}:\n  " + "\n  ".join(wrong)


async def closed_with(url: str, token: str) -> int | None:
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token}))
        try:
            while True:
                await asyncio.wait_for(ws.recv(), WAIT)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None


async def test_tokens_of_the_wrong_kind_cannot_hold_a_socket(world: World) -> None:
    made = world.srv.cli("apikeys", "add", f"dev-{uuid.uuid4().hex[:6]}")
    assert made.returncode == 0, made.stderr
    api_key = made.stdout.strip()
    _, visitor_token = await world.session("Vera Visitor")
    ws = world.srv.ws
    assert await closed_with(ws + "/ws/agent", api_key) == 4401
    assert await closed_with(ws + "/ws/visitor", api_key) == 4401
    assert await closed_with(ws + "/ws/agent", visitor_token) == 4401
    for user in USER_OF.values():
        assert await closed_with(ws + "/ws/visitor", world.tokens[user]) == 4401
