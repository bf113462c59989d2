"""Type confusion against the running server, on SQLite and PostgreSQL
(Rocket.Chat's NoSQL-injection CVEs came from an object where a string id
was expected).

Hypothesis puts objects, arrays, numbers, huge strings, NUL and operator
strings wherever an id or a value goes: every JSON body the OpenAPI
document names, every query parameter, every path id, every websocket
frame. Each answer must be a 4xx with ``{"error": {"code", "message"}}``
(or an error frame with a code and a message, or a close with a 4xxx or
protocol code), never a 5xx, a traceback, or someone else's record.

Examples per test are bounded (``FUZZ_EXAMPLES``) so the run stays within
a minute or two per backend; the seed is fixed, so a failure replays.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from tests.conftest import PASSWORD
from tests.support.clients import bearer, new_session, recv, token
from tests.support.server import Server
from tests.support.services import scratch_postgres

FUZZ_EXAMPLES = int(os.environ.get("SWITCHBOARD_FUZZ_EXAMPLES", "60"))  # more: a longer hunt
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

OPERATORS = [
    {"$ne": None},
    {"$gt": ""},
    {"$regex": ".*"},
    {"$where": "1 == 1"},
    {"$in": ["a", "b"]},
    {"id": {"$ne": None}},
]
HOSTILE_STRINGS = [
    "",
    " ",
    "*",
    "%",
    "_",
    "%%",
    ".*",
    "' OR '1'='1",
    "'; DROP TABLE conversations; --",
    '" OR ""="',
    "\\",
    "\x00",
    "a\x00b",
    "null",
    "true",
    "[]",
    "{}",
    "../../etc/passwd",
    "{{7*7}}",
    "${7*7}",
    "<script>alert(1)</script>",
    "\u202e\ufeff",
    "\ud7ff\U0010ffff",
]
HUGE = ["x" * 70_000, "é" * 20_000, "%" * 5000]
LONG = ["x" * 4097, "é" * 3000, "%" * 2000]
"""Long, but inside one websocket frame (an oversized frame is its own test)."""


def hostile_scalars(huge: list[str] = HUGE) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(HOSTILE_STRINGS),
        st.sampled_from(huge),
        st.text(max_size=40),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from([1e308, -1e308, 0.1, -0.0]),
        st.booleans(),
        st.none(),
    )


def hostile_values(huge: list[str] = HUGE) -> st.SearchStrategy[Any]:
    return st.one_of(
        hostile_scalars(huge),
        st.sampled_from(OPERATORS),
        st.lists(hostile_scalars(huge), max_size=4),
        st.dictionaries(st.sampled_from(["$ne", "$gt", "id", "", "0"]), hostile_scalars(huge)),
        st.recursive(
            hostile_scalars(huge),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
            max_leaves=8,
        ),
    )


def hostile_ids() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from([s for s in HOSTILE_STRINGS if s and "/" not in s]),
        st.sampled_from(["x" * 5000, "c_" + "0" * 200]),
        st.text(
            alphabet=st.characters(exclude_characters="/?#", exclude_categories=["Cs"]),
            min_size=1,
            max_size=30,
        ),
    )


# -- the server and its surface ------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    workdir: Path = tmp_path_factory.mktemp("confusion")

    def run(url: str) -> Iterator[Server]:
        srv = Server(workdir, url)
        for name, role in (("alice", "agent"), ("sam", "supervisor"), ("ada", "admin")):
            srv.add_user(name, PASSWORD, role)
        with srv:
            yield srv

    if request.param == "sqlite":
        yield from run(f"sqlite:///{workdir}/db.sqlite3")
    else:
        with scratch_postgres() as url:
            yield from run(url)


@pytest.fixture(scope="module")
def tokens(server: Server) -> dict[str, str]:
    return {name: token(server.http, name, PASSWORD) for name in ("alice", "sam", "ada")}


@pytest.fixture(scope="module")
def surface(server: Server) -> dict[str, Any]:
    reply = httpx.get(server.http + "/api/v1/openapi.json", timeout=30)
    assert reply.status_code == 200
    document: dict[str, Any] = reply.json()
    return document


def operations(document: dict[str, Any], *, with_body: bool) -> list[tuple[str, str, Any]]:
    found = []
    for path, item in document["paths"].items():
        if path.startswith("/webhooks/") or "auth/token" in path:
            continue  # signed by providers / throttled sign-in: fuzzed elsewhere
        for method, op in item.items():
            if method not in ("get", "post", "patch", "put", "delete"):
                continue
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            schema = body.get("schema")
            if with_body and schema is not None:
                found.append((method.upper(), path, schema))
            if not with_body and method == "get":
                found.append((method.upper(), path, op.get("parameters", [])))
    return found


def properties(document: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    ref = schema.get("$ref", "")
    if ref:
        schema = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return sorted(schema.get("properties", {}))


def fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"{(\w+)}", lambda m: ids.get(m.group(1), ids["id"]), path)


def check(reply: httpx.Response, what: str) -> None:
    assert reply.status_code < 500, f"{what}: {reply.status_code} {reply.text[:400]}"
    assert "Traceback" not in reply.text, f"{what}: {reply.text[:400]}"
    api = reply.request.url.path.startswith("/api/")  # pages (/kb/...) answer in HTML
    if api and reply.status_code >= 400 and reply.status_code != 405:
        error = reply.json().get("error", {})
        assert isinstance(error.get("code"), str) and error["code"], f"{what}: {reply.text[:300]}"
        assert isinstance(error.get("message"), str) and error["message"], what


def quoted(value: str) -> str:
    return quote(value, safe="")


# -- JSON bodies -----------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_json_bodies_with_hostile_values(
    server: Server, tokens: dict[str, str], surface: dict[str, Any], data: st.DataObject
) -> None:
    method, path, schema = data.draw(st.sampled_from(operations(surface, with_body=True)))
    fields = properties(surface, schema)
    chosen = data.draw(st.lists(st.sampled_from(fields or ["id"]), min_size=1, unique=True))
    body = {name: data.draw(hostile_values(), label=name) for name in chosen}
    who = data.draw(st.sampled_from(["ada", "alice"]))
    ids = {"id": quoted(data.draw(hostile_ids(), label="path id")), "index": "0"}
    url = server.http + fill(path, ids)
    raw = json.dumps(body).encode()
    reply = httpx.request(method, url, content=raw, headers=bearer(tokens[who]), timeout=30)
    check(reply, f"{method} {path} as {who} with {raw[:300]!r}")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"title": "\\u0000"}',
        b'{"title": NaN}',
        b'{"title": Infinity}',
        b'{"title": 1e999}',
        b"[" * 5000 + b"]" * 5000,
        b'{"a": ' * 2000 + b"1" + b"}" * 2000,
        b'{"title": "x", "title": {"$ne": null}}',
        b"\xff\xfe{}",
        b'{"title": "\\ud800"}',
    ],
)
def test_malformed_json_everywhere(
    server: Server, tokens: dict[str, str], surface: dict[str, Any], raw: bytes
) -> None:
    for method, path, _ in operations(surface, with_body=True):
        url = server.http + fill(path, {"id": f"zz{uuid.uuid4().hex[:8]}", "index": "0"})
        reply = httpx.request(method, url, content=raw, headers=bearer(tokens["ada"]), timeout=30)
        check(reply, f"{method} {path} with {raw[:60]!r}")


# -- query strings and path ids ----------------------------------------------------


@FUZZ
@given(data=st.data())
def test_query_parameters_and_path_ids_with_hostile_values(
    server: Server, tokens: dict[str, str], surface: dict[str, Any], data: st.DataObject
) -> None:
    method, path, parameters = data.draw(st.sampled_from(operations(surface, with_body=False)))
    names = [p["name"] for p in parameters if p.get("in") == "query"] or ["id"]
    query: list[tuple[str, str]] = []
    for name in data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=4)):
        value = data.draw(hostile_values(), label=name)
        key = data.draw(st.sampled_from([name, f"{name}[$ne]", f"{name}[]", f"{name}[0]"]))
        text = value if isinstance(value, str) else json.dumps(value)
        query.append((key, text[:2000]))  # a URL over ~64 KB is the client's own error
    who = data.draw(st.sampled_from(["ada", "alice"]))
    ids = {"id": quoted(data.draw(hostile_ids(), label="path id")), "index": "0"}
    url = server.http + fill(path, ids)
    reply = httpx.request(method, url, params=query, headers=bearer(tokens[who]), timeout=30)
    check(reply, f"{method} {path} as {who} with {query!r:.300}")


# -- someone else's record ---------------------------------------------------------

READS = (
    "/api/v1/conversations/{id}",
    "/api/v1/conversations/{id}/messages",
    "/api/v1/conversations/{id}/context",
    "/api/v1/customers/{id}",
    "/api/v1/cases/{id}",
)


@FUZZ
@given(target=hostile_ids(), read=st.sampled_from(READS), data=st.data())
def test_a_hostile_id_never_reaches_someone_elses_record(
    server: Server, tokens: dict[str, str], target: str, read: str, data: st.DataObject
) -> None:
    """A visitor owns one conversation and an agent holds none: whatever
    the id says, neither gets a 2xx for anything else."""
    session = new_session(server.http, name="Victim")  # someone's record that exists
    assert session["conversation_id"]
    mine = new_session(server.http, name="Caller")
    who = data.draw(st.sampled_from(["visitor", "alice"]))
    auth = bearer(mine["visitor_token"]) if who == "visitor" else bearer(tokens["alice"])
    reply = httpx.get(server.http + read.replace("{id}", quoted(target)), headers=auth, timeout=30)
    check(reply, f"GET {read} as {who} for {target[:40]!r}")
    assert not 200 <= reply.status_code < 300, f"{who} read {read} for {target[:40]!r}"
    query = httpx.get(
        server.http + "/api/v1/conversations",
        params={"status": target[:200], "limit": "5"},
        headers=bearer(tokens["alice"]),
        timeout=30,
    )
    check(query, "GET /api/v1/conversations as alice")
    if query.status_code == 200:
        ids = {c["id"] for c in query.json()["conversations"]}
        assert session["conversation_id"] not in ids


# -- websocket frames ----------------------------------------------------------------

VISITOR_TYPES = ["hello", "message", "typing", "ping", "survey_response", "handoff", None]
AGENT_TYPES = [
    "message",
    "typing",
    "presence",
    "accept",
    "reject",
    "transfer",
    "close",
    "handoff",
    "survey_response",
    None,
]
FRAME_FIELDS = [
    "type",
    "token",
    "after_seq",
    "client_msg_id",
    "text",
    "conversation_id",
    "active",
    "csat",
    "nps",
    "comment",
    "status",
    "offer_id",
    "reason",
    "queue",
    "note",
    "skills",
    "priority",
    "summary",
    "context",
]
ERROR_CLOSES = {1007, 1008, 1009, 4400, 4401, 4403, 4408, 4429}


def frames(types: list[str | None]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        frame: dict[str, Any] = {}
        kind = draw(st.sampled_from(types))
        if kind is not None:
            frame["type"] = kind
        for name in draw(st.lists(st.sampled_from(FRAME_FIELDS), max_size=5, unique=True)):
            frame[name] = draw(hostile_values(LONG), label=name)
        return frame

    return build()


def closed_with_an_error(closed: ConnectionClosed) -> None:
    code = closed.rcvd.code if closed.rcvd is not None else None
    assert code in ERROR_CLOSES, f"closed with {code}"


async def probe(ws: Any, raw: str, conversation_id: str | None) -> None:
    """Send ``raw``, then a ping; read up to the pong. Every error frame has a
    code and a message; an ack only ever for a well-formed message to the
    caller's own conversation; a close only with an error code."""
    try:
        await ws.send(raw)
        await ws.send(json.dumps({"type": "ping"}))
    except ConnectionClosed as closed:  # refused at once (e.g. 1009 for a frame too big)
        closed_with_an_error(closed)
        return
    while True:
        try:
            frame = await recv(ws, 10)
        except ConnectionClosed as closed:
            closed_with_an_error(closed)
            return
        if frame["type"] == "pong":
            return
        if frame["type"] == "error":
            assert frame["code"] and frame["message"], frame
        elif frame["type"] == "ack":
            sent = json.loads(raw)
            assert isinstance(sent.get("text"), str), frame
            assert sent.get("conversation_id") in (None, conversation_id), frame


@FUZZ
@given(frame=frames(VISITOR_TYPES))
async def test_visitor_frames_with_hostile_values(server: Server, frame: dict[str, Any]) -> None:
    session = new_session(server.http, name="Fuzz")
    async with websockets.connect(server.ws + "/ws/visitor", max_size=2**22) as ws:
        await ws.send(json.dumps({"type": "hello", "token": session["visitor_token"]}))
        welcome = await recv(ws)
        assert welcome["type"] == "welcome"
        await probe(ws, json.dumps(frame), session["conversation_id"])


@FUZZ
@given(frame=frames(AGENT_TYPES), aim=st.booleans())
async def test_agent_frames_with_hostile_values(
    server: Server, tokens: dict[str, str], frame: dict[str, Any], aim: bool
) -> None:
    other = new_session(server.http, name="Not yours")  # alice holds nothing
    if aim:  # at a conversation that exists but is not hers
        frame["conversation_id"] = other["conversation_id"]
    async with websockets.connect(server.ws + "/ws/agent", max_size=2**22) as ws:
        await ws.send(json.dumps({"type": "hello", "token": tokens["alice"]}))
        welcome = await recv(ws)
        assert welcome["type"] == "welcome"
        await probe(ws, json.dumps(frame), None)


@FUZZ
@given(
    token_value=hostile_values(LONG),
    extra=st.dictionaries(st.sampled_from(FRAME_FIELDS), hostile_values(LONG), max_size=3),
)
async def test_hello_frames_with_hostile_tokens(
    server: Server, token_value: Any, extra: dict[str, Any]
) -> None:
    for path in ("/ws/visitor", "/ws/agent"):
        async with websockets.connect(server.ws + path, max_size=2**22) as ws:
            await ws.send(json.dumps({**extra, "type": "hello", "token": token_value}))
            try:
                frame = await recv(ws, 10)
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code in ERROR_CLOSES
                continue
            assert frame["type"] == "error" and frame["code"] and frame["message"], frame


@pytest.mark.parametrize("path", ["/ws/visitor", "/ws/agent"])
async def test_a_frame_over_the_size_limit_closes_only_that_socket(
    server: Server, tokens: dict[str, str], path: str
) -> None:
    session_token = tokens["alice"]
    if path == "/ws/visitor":
        session_token = new_session(server.http)["visitor_token"]
    hello = json.dumps({"type": "hello", "token": session_token})
    async with websockets.connect(server.ws + path, max_size=2**22) as ws:
        await ws.send(hello)
        assert (await recv(ws))["type"] == "welcome"
        big = json.dumps({"type": "message", "client_msg_id": "big", "text": "x" * 70_000})
        with pytest.raises(ConnectionClosed) as closed:
            await ws.send(big)
            for _ in range(20):  # live frames may come first
                frame = await recv(ws, 10)
                assert frame["type"] != "ack", frame
        # 1009, or a reset while the rest of the frame was still being written
        assert closed.value.rcvd is None or closed.value.rcvd.code == 1009
    async with websockets.connect(server.ws + path) as ws:
        await ws.send(hello)
        assert (await recv(ws))["type"] == "welcome"
