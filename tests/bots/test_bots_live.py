"""Bots first, live: a real gateway, stand-in bots on 127.0.0.1, real clients.

Every test leaves nothing waiting (a supervisor closes what it opened), since
an item left in line would be offered to the next test's agent.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from tests.standins.bots import BotStandin
from tests.support.clients import (
    agent,
    bearer,
    msg_id,
    new_session,
    recv,
    recv_until,
    send,
    visitor,
)
from tests.support.server import Server
from tests.support.services import scratch_postgres

PASSWORD = "bots test password"
SECRET = "webhook-secret-for-tests"
_names = itertools.count(1)


def config(standin: str) -> str:
    queues = ("default", "billing", "hooks", "slowq", "rasa", "ws", "late", "ghost")
    lines = ["[routing.offers]", "timeout = 20", ""]
    lines += [f"[routing.queues.{q}]" for q in queues]
    routes = (
        ("hook", "hooks"),
        ("slow", "slowq"),
        ("rasa", "rasa"),
        ("ws", "ws"),
        ("late", "late"),
    )
    for bot, queue in routes:
        lines += [
            "",
            "[[routing.intake]]",
            f'name = "{bot} bot"',
            f"when = \"context.bot == '{bot}'\"",
            f'queue = "{queue}"',
        ]
    return (
        "\n".join(lines)
        + f"""

[[bots]]
name = "hookbot"
queues = ["hooks"]
webhook = "{standin}/webhook"
secret = "{SECRET}"
timeout = "5s"

[[bots]]
name = "slowbot"
queues = ["slowq"]
webhook = "{standin}/slow"
secret = "{SECRET}"
timeout = "1s"

[[bots]]
name = "rasabot"
queues = ["rasa"]
rasa = "{standin}/webhooks/rest/webhook"

[[bots]]
name = "wsbot"
queues = ["ws"]
grace = "1s"

[[bots]]
name = "latebot"                    # its account is made over the API, after start
queues = ["late"]

[[bots]]
name = "ghostbot"                   # never connects: unavailable
queues = ["ghost"]
grace = "1s"
"""
    )


USERS = (
    '[{"username": "boss", "role": "supervisor", "password_env": "BT_PASSWORD"},'
    ' {"username": "root", "role": "admin", "password_env": "BT_PASSWORD"},'
    ' {"username": "wsbot", "role": "bot", "password_env": "BT_PASSWORD"},'
    ' {"username": "hookbot", "role": "bot", "password_env": "BT_PASSWORD"}]'
)


def start_server(workdir: Path, url: str, standin: BotStandin) -> Server:
    server = Server(
        workdir,
        url,
        config=config(standin.base_url),
        SWITCHBOARD_USERS=USERS,
        BT_PASSWORD=PASSWORD,
    )
    return server.start()


@pytest.fixture(scope="module")
def standin() -> Iterator[BotStandin]:
    bot = BotStandin(SECRET, slow_s=4.0).start()
    yield bot
    bot.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def srv(
    request: pytest.FixtureRequest,
    standin: BotStandin,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("bots")
    if request.param == "sqlite":
        server = start_server(workdir, f"sqlite:///{workdir}/db.sqlite3", standin)
        yield server
        server.stop()
    else:
        with scratch_postgres() as url:
            server = start_server(workdir, url, standin)
            yield server
            server.stop()


async def token(srv: Server, username: str, password: str = PASSWORD) -> str:
    async with httpx.AsyncClient(base_url=srv.http) as client:
        reply = await client.post(
            "/api/v1/auth/token", json={"username": username, "password": password}
        )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["access_token"])


async def api(
    srv: Server, method: str, path: str, tok: str, json: Any = None, **kw: Any
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=srv.http) as client:
        return await client.request(method, path, json=json, headers=bearer(tok), **kw)


async def new_agent(srv: Server, **fields: Any) -> ClientConnection:
    name = f"person{next(_names)}"
    admin = await token(srv, "root")
    created = await api(
        srv, "POST", "/api/v1/users", admin, {"username": name, "password": PASSWORD, **fields}
    )
    assert created.status_code == 201, created.text
    ws, _ = await agent(srv.ws, await token(srv, name))
    return ws


@pytest.fixture
async def opened(srv: Server) -> AsyncIterator[list[str]]:
    """Conversations a test opened; closed by a supervisor afterwards."""
    cids: list[str] = []
    yield cids
    boss = await token(srv, "boss")
    for cid in cids:
        await api(srv, "POST", f"/api/v1/conversations/{cid}/close", boss)


async def customer(
    srv: Server, opened: list[str], bot: str, text: str, **session: Any
) -> tuple[str, ClientConnection]:
    created = new_session(srv.http, name="Rita", context={"bot": bot}, **session)
    opened.append(created["conversation_id"])
    v, _ = await visitor(srv.ws, created["visitor_token"])
    await say(v, text)
    return created["conversation_id"], v


async def say(v: ClientConnection, text: str) -> None:
    ref = msg_id()
    await send(v, type="message", client_msg_id=ref, text=text)
    await recv_until(v, "ack", client_msg_id=ref)


async def bot_says(v: ClientConnection, text: str) -> dict[str, Any]:
    frame = await recv_until(v, "message", text=text)
    assert frame["sender"]["role"] == "bot"
    return frame


async def take_offer(ws: ClientConnection, cid: str, timeout: float = 10) -> dict[str, Any]:
    """Wait for the offer of ``cid``, accept it, and return it."""
    offer = await recv_until(ws, "offer", timeout=timeout, conversation_id=cid)
    await send(ws, type="accept", offer_id=offer["offer_id"])
    await recv_until(ws, "assigned", conversation_id=cid)
    return offer


async def drained(ws: ClientConnection) -> list[dict[str, Any]]:
    """The frames already sent to ``ws`` (a ping's pong comes after them)."""
    await send(ws, type="ping")
    frames = []
    while (frame := await recv(ws))["type"] != "pong":
        frames.append(frame)
    return frames


async def transcript(srv: Server, cid: str) -> list[tuple[str, str]]:
    boss = await token(srv, "boss")
    reply = await api(srv, "GET", f"/api/v1/conversations/{cid}/messages", boss)
    return [(m["sender"]["role"], m["text"]) for m in reply.json()["messages"]]


# -- webhook bots --------------------------------------------------------------------


async def test_webhook_bot_answers_signed_requests_and_hands_off_with_context(
    srv: Server, standin: BotStandin, opened: list[str]
):
    # Idle longer, so first in line if the hand-off's skills were ignored.
    unskilled = await new_agent(srv)
    person = await new_agent(srv, skills={"billing": 3, "refunds": 3})
    cid, v = await customer(srv, opened, "hook", "hello there")
    await bot_says(v, "echo: hello there")

    first = standin.requests_for(cid)[0]
    assert first.verified and first.signature and first.signature.startswith("sha256=")
    assert set(first.body) == {"conversation_id", "message", "customer", "context"}
    assert first.body["conversation_id"] == cid
    assert first.body["message"]["text"] == "hello there"
    assert first.body["customer"]["name"] == "Rita"
    assert first.body["context"] == {"bot": "hook"}

    await say(v, "order 17 never came")
    await bot_says(v, "Let me get someone from billing.")
    offer = await take_offer(person, cid)
    assert offer["queue"] == "billing"
    assert not [f for f in await drained(unskilled) if f["type"] == "offer"]
    assert offer["context"]["handoff"] == {
        "from": "hookbot",
        "reason": "bot",
        "summary": "Refund for order A-17",
        "context": {"order": "A-17", "amount": 42.5},
    }
    boss = await token(srv, "boss")
    held = (await api(srv, "GET", f"/api/v1/conversations/{cid}", boss)).json()
    assert held["priority"] == 5 and held["queue"] == "billing"
    timeline = (await api(srv, "GET", f"/api/v1/conversations/{cid}/context", boss)).json()
    handoffs = [e for e in timeline["timeline"] if e["type"] == "handoff"]
    assert handoffs[0]["data"]["skills"] == [
        {"name": "billing", "level": 1},
        {"name": "refunds", "level": 2},
    ]
    assert await transcript(srv, cid) == [
        ("customer", "hello there"),
        ("bot", "echo: hello there"),
        ("customer", "order 17 never came"),
        ("bot", "Let me get someone from billing."),
    ]
    await asyncio.gather(person.close(), unskilled.close(), v.close())


async def test_webhook_bot_that_times_out_hands_to_a_person_with_the_transcript(
    srv: Server, standin: BotStandin, opened: list[str]
):
    person = await new_agent(srv)
    cid, v = await customer(srv, opened, "slow", "is anyone there?")
    offer = await take_offer(person, cid)
    handoff = offer["context"]["handoff"]
    assert (handoff["from"], handoff["reason"]) == ("slowbot", "timeout")
    assert "1s" in handoff["summary"]
    assert offer["queue"] == "slowq"
    message = await recv_until(person, "message", conversation_id=cid)
    assert message["text"] == "is anyone there?"
    assert len(standin.requests_for(cid)) == 1
    await asyncio.gather(person.close(), v.close())


@pytest.mark.parametrize(("text", "shown"), [("garbage", "not valid JSON"), ("boom", "HTTP 503")])
async def test_webhook_bot_failing_hands_off_with_reason_error(
    srv: Server, opened: list[str], text: str, shown: str
):
    person = await new_agent(srv)
    cid, v = await customer(srv, opened, "hook", text)
    offer = await take_offer(person, cid)
    assert offer["context"]["handoff"]["reason"] == "error"
    assert shown in offer["context"]["handoff"]["summary"]
    assert await transcript(srv, cid) == [("customer", text)]
    await asyncio.gather(person.close(), v.close())


async def test_customer_asking_for_a_human_goes_to_people_without_the_bot(
    srv: Server, standin: BotStandin, opened: list[str]
):
    person = await new_agent(srv)
    cid, v = await customer(srv, opened, "hook", "hi")
    await bot_says(v, "echo: hi")
    await say(v, "I want a HUMAN please")
    offer = await take_offer(person, cid)
    assert offer["context"]["handoff"] == {
        "from": "hookbot",
        "reason": "customer_request",
        "summary": "The customer asked for a person.",
        "context": {},
    }
    texts = [r.body["message"]["text"] for r in standin.requests_for(cid)]
    assert texts == ["hi"]  # the request for a person never went to the bot
    await asyncio.gather(person.close(), v.close())


async def test_customer_asking_in_italian_is_understood(srv: Server, opened: list[str]):
    person = await new_agent(srv)
    cid, v = await customer(srv, opened, "rasa", "vorrei parlare con un operatore", language="it")
    offer = await take_offer(person, cid)
    assert offer["context"]["handoff"]["reason"] == "customer_request"
    assert offer["context"]["handoff"]["from"] == "rasabot"
    await asyncio.gather(person.close(), v.close())


async def test_webhook_bot_answering_later_over_http_then_bad_handoffs(
    srv: Server, standin: BotStandin, opened: list[str]
):
    person = await new_agent(srv)
    cid, v = await customer(srv, opened, "hook", "later")
    bot = await token(srv, "hookbot")
    path = f"/api/v1/conversations/{cid}"
    body = {"text": "Here is your answer, a bit later.", "client_msg_id": "late-1"}
    posted = await api(srv, "POST", path + "/messages", bot, body)
    assert posted.status_code == 201, posted.text
    again = await api(srv, "POST", path + "/messages", bot, body)
    assert again.status_code == 200 and again.json()["message_id"] == posted.json()["message_id"]
    await bot_says(v, "Here is your answer, a bit later.")

    # Bad input changes nothing.
    bad = await api(srv, "POST", path + "/messages", bot, {"text": "x"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "missing_field")
    bad = await api(srv, "POST", path + "/handoff", bot, {"summary": 7})
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_field")
    bad = await api(srv, "POST", path + "/handoff", bot, {"qeue": "billing"})
    assert bad.status_code == 400
    boss = await token(srv, "boss")
    not_a_bot = await api(srv, "POST", path + "/handoff", boss, {})
    assert not_a_bot.status_code == 403
    current = (await api(srv, "GET", path, boss)).json()
    assert current["status"] == "assigned"

    # An unknown queue: an error for the bot, and people in the current queue.
    wrong = await api(srv, "POST", path + "/handoff", bot, {"queue": "nowhere", "summary": "s"})
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (400, "unknown_queue")
    offer = await take_offer(person, cid)
    assert offer["queue"] == "hooks"
    assert offer["context"]["handoff"]["reason"] == "error"
    assert offer["context"]["handoff"]["summary"] == "s"
    gone = await api(srv, "POST", path + "/handoff", bot, {})
    assert gone.status_code == 404  # a person holds it now: the bot no longer sees it
    await asyncio.gather(person.close(), v.close())


async def test_webhook_answer_naming_an_unknown_queue_still_reaches_people(
    srv: Server, opened: list[str]
):
    person = await new_agent(srv)
    cid, v = await customer(srv, opened, "hook", "wrong queue")
    offer = await take_offer(person, cid)
    assert offer["queue"] == "hooks" and offer["context"]["handoff"]["reason"] == "error"
    await asyncio.gather(person.close(), v.close())


async def test_bot_closes_the_conversation_itself_and_counts_as_contained(
    srv: Server, opened: list[str]
):
    boss = await token(srv, "boss")
    before = (await api(srv, "GET", "/api/v1/reports/bots", boss)).json()
    _, v = await customer(srv, opened, "hook", "bye")
    await bot_says(v, "Glad I could help. Bye!")
    await recv_until(v, "status", status="closed")
    # The bot's session is marked ended after the close is announced.
    for _ in range(100):
        after = (await api(srv, "GET", "/api/v1/reports/bots", boss)).json()
        if after["closed_by_bot"] > before["closed_by_bot"]:
            break
        await asyncio.sleep(0.1)
    assert after["closed_by_bot"] == before["closed_by_bot"] + 1
    assert after["taken"] == before["taken"] + 1
    assert 0 < after["containment"] <= 1
    assert after["handoffs"].get("bot", 0) >= 1  # the earlier tests' hand-offs
    await v.close()


async def test_bots_report_needs_a_supervisor_and_valid_times(srv: Server):
    boss = await token(srv, "boss")
    reply = await api(
        srv,
        "GET",
        "/api/v1/reports/bots",
        boss,
        params={"since": "2020-01-01T00:00:00Z", "until": "2020-01-02T00:00:00Z"},
    )
    assert reply.status_code == 200
    assert reply.json()["taken"] == 0 and reply.json()["containment"] is None
    assert sorted(reply.json()["bots"]) == [
        "ghostbot",
        "hookbot",
        "latebot",
        "rasabot",
        "slowbot",
        "wsbot",
    ]
    bad = await api(srv, "GET", "/api/v1/reports/bots", boss, params={"since": "yesterday"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_field")
    bot = await token(srv, "hookbot")
    assert (await api(srv, "GET", "/api/v1/reports/bots", bot)).status_code == 403


# -- Rasa ---------------------------------------------------------------------------


async def test_rasa_bot_answers_and_hands_off(srv: Server, standin: BotStandin, opened: list[str]):
    person = await new_agent(srv)
    cid, v = await customer(srv, opened, "rasa", "where is my parcel")
    await bot_says(v, "Rasa heard: where is my parcel")
    await bot_says(v, "Anything else?")
    assert standin.requests_for(cid)[0].body == {"sender": cid, "message": "where is my parcel"}
    await say(v, "transfer me please")
    await bot_says(v, "Transferring you now.")
    offer = await take_offer(person, cid)
    assert offer["queue"] == "rasa"
    assert offer["context"]["handoff"] == {
        "from": "rasabot",
        "reason": "bot",
        "summary": "Wants to change the delivery address",
        "context": {"intent": "change_address"},
    }
    await asyncio.gather(person.close(), v.close())


# -- websocket bots -----------------------------------------------------------------


async def test_websocket_bot_is_assigned_without_offer_and_hands_off_with_context(
    srv: Server, opened: list[str]
):
    bot, _ = await agent(srv.ws, await token(srv, "wsbot"))
    person = await new_agent(srv, skills={"billing": 2})
    cid, v = await customer(srv, opened, "ws", "my card is blocked")
    assigned = await recv_until(bot, "assigned", conversation_id=cid)
    assert assigned["conversation_id"] == cid
    first = await recv_until(bot, "message", conversation_id=cid)
    assert first["text"] == "my card is blocked"
    await send(bot, type="message", conversation_id=cid, client_msg_id=msg_id(), text="Which card?")
    await bot_says(v, "Which card?")

    await send(bot, type="handoff", conversation_id=cid, queue="nowhere")
    error = await recv_until(bot, "error")
    assert (error["code"], error["ref"]) == ("unknown_queue", cid)
    offer = await take_offer(person, cid)
    assert offer["context"]["handoff"]["reason"] == "error"
    await send(person, type="close", conversation_id=cid)
    await recv_until(v, "status", status="closed")

    cid2, v2 = await customer(srv, opened, "ws", "my other card")
    await recv_until(bot, "assigned", conversation_id=cid2)
    await send(
        bot,
        type="handoff",
        conversation_id=cid2,
        queue="billing",
        skills=["billing"],
        summary="Blocked card, customer verified",
        context={"card_last4": "4242", "verified": True},
    )
    offer = await take_offer(person, cid2)
    assert offer["queue"] == "billing"
    assert offer["context"]["handoff"] == {
        "from": "wsbot",
        "reason": "bot",
        "summary": "Blocked card, customer verified",
        "context": {"card_last4": "4242", "verified": True},
    }
    # Never back to a bot: a second hand-off is refused.
    await send(bot, type="handoff", conversation_id=cid2)
    assert (await recv_until(bot, "error"))["code"] == "not_held"
    await asyncio.gather(person.close(), v.close(), v2.close(), bot.close())


async def test_a_bot_account_created_after_start_is_a_bot_not_an_agent(
    srv: Server, opened: list[str]
):
    admin = await token(srv, "root")
    body = {"username": "latebot", "password": PASSWORD, "role": "bot"}
    created = await api(srv, "POST", "/api/v1/users", admin, body)
    assert created.status_code == 201, created.text
    person = await new_agent(srv)
    bot, welcome = await agent(srv.ws, await token(srv, "latebot"))
    assert welcome["presence"] == "offline"  # not routed work
    cid, v = await customer(srv, opened, "late", "hello late bot")
    assert (await recv_until(bot, "assigned"))["conversation_id"] == cid
    await send(bot, type="message", conversation_id=cid, client_msg_id=msg_id(), text="Hi!")
    await bot_says(v, "Hi!")
    assert not [f for f in await drained(person) if f["type"] == "offer"]
    await send(bot, type="handoff", conversation_id=cid, summary="over to you")
    offer = await take_offer(person, cid)
    assert offer["context"]["handoff"]["from"] == "latebot"
    await asyncio.gather(person.close(), bot.close(), v.close())


async def test_websocket_bot_gone_past_its_grace_hands_off_with_reason_error(
    srv: Server, opened: list[str]
):
    bot, _ = await agent(srv.ws, await token(srv, "wsbot"))
    person = await new_agent(srv)
    cid, v = await customer(srv, opened, "ws", "hello bot")
    await recv_until(bot, "assigned", conversation_id=cid)
    await bot.close()
    offer = await take_offer(person, cid, timeout=10)
    assert offer["context"]["handoff"]["reason"] == "error"
    assert offer["context"]["handoff"]["from"] == "wsbot"
    await asyncio.gather(person.close(), v.close())


# -- transfers into a bot's queue ------------------------------------------------------


async def with_a_person(
    srv: Server, opened: list[str], text: str
) -> tuple[str, ClientConnection, ClientConnection]:
    """A conversation in the default queue (no bot), taken by a new person."""
    person = await new_agent(srv)
    cid, v = await customer(srv, opened, "none", text)
    await take_offer(person, cid)
    return cid, v, person


async def test_an_agent_transfer_into_a_bots_queue_gives_it_to_the_bot_with_the_transcript(
    srv: Server, standin: BotStandin, opened: list[str]
):
    cid, v, person = await with_a_person(srv, opened, "hello, my parcel is late")
    ref = msg_id()
    text = "Let me pass you to our assistant."
    await send(person, type="message", conversation_id=cid, client_msg_id=ref, text=text)
    await recv_until(v, "message", text=text)
    await send(person, type="transfer", conversation_id=cid, queue="hooks", note="parcel")

    # The bot answers at once, to the customer's latest message.
    await bot_says(v, "echo: hello, my parcel is late")
    [call] = standin.requests_for(cid)
    assert call.verified
    assert call.body["message"]["text"] == "hello, my parcel is late"
    transfer = call.body["transfer"]
    assert transfer["note"] == "parcel" and transfer["from"].startswith("person")
    assert [(m["sender"]["role"], m["text"]) for m in transfer["transcript"]] == [
        ("customer", "hello, my parcel is late"),
        ("agent", text),
    ]
    boss = await token(srv, "boss")
    held = (await api(srv, "GET", f"/api/v1/conversations/{cid}", boss)).json()
    bot = (await api(srv, "GET", "/api/v1/users", boss)).json()
    [hookbot] = [u["id"] for u in bot["users"] if u["username"] == "hookbot"]
    assert (held["status"], held["queue"], held["assigned_agent_id"]) == (
        "assigned",
        "hooks",
        hookbot,
    )

    # From here it is the bot's conversation, as if it had come to it first.
    await say(v, "order 17 never came")
    await bot_says(v, "Let me get someone from billing.")
    second = standin.requests_for(cid)[1]
    assert set(second.body) == {"conversation_id", "message", "customer", "context"}
    billing = await new_agent(srv, skills={"billing": 3, "refunds": 3})
    offer = await take_offer(billing, cid)
    assert offer["context"]["handoff"]["from"] == "hookbot"
    assert not [f for f in await drained(person) if f["type"] == "offer"]
    assert [t for _, t in await transcript(srv, cid)] == [
        "hello, my parcel is late",
        text,
        "echo: hello, my parcel is late",
        "order 17 never came",
        "Let me get someone from billing.",
    ]
    await asyncio.gather(person.close(), billing.close(), v.close())


async def test_a_supervisor_transfer_to_a_websocket_bot_replays_the_conversation(
    srv: Server, opened: list[str]
):
    bot, _ = await agent(srv.ws, await token(srv, "wsbot"))
    cid, v, person = await with_a_person(srv, opened, "can I change my card pin?")
    boss, _ = await agent(srv.ws, await token(srv, "boss"))
    await send(boss, type="transfer", conversation_id=cid, queue="ws")
    assigned = await recv_until(bot, "assigned", conversation_id=cid)
    assert assigned["conversation"]["queue"] == "ws"
    first = await recv_until(bot, "message", conversation_id=cid)
    assert first["text"] == "can I change my card pin?"
    await send(bot, type="message", conversation_id=cid, client_msg_id=msg_id(), text="Sure.")
    await bot_says(v, "Sure.")
    await send(bot, type="handoff", conversation_id=cid, summary="PIN change")
    offer = await take_offer(person, cid)
    assert offer["context"]["handoff"]["summary"] == "PIN change"
    await asyncio.gather(person.close(), boss.close(), bot.close(), v.close())


async def test_a_transfer_to_an_unavailable_bot_goes_to_people_with_the_reason(
    srv: Server, opened: list[str]
):
    cid, v, person = await with_a_person(srv, opened, "I need help with ghosts")
    other = await new_agent(srv)
    await send(person, type="transfer", conversation_id=cid, queue="ghost")
    offer = await take_offer(other, cid)
    assert offer["queue"] == "ghost"
    assert offer["context"]["handoff"] == {
        "from": "ghostbot",
        "reason": "error",
        "summary": "The bot was unavailable: ghostbot is not connected.",
        "context": {},
    }
    boss = await token(srv, "boss")
    timeline = (await api(srv, "GET", f"/api/v1/conversations/{cid}/context", boss)).json()
    [handoff] = [e for e in timeline["timeline"] if e["type"] == "handoff"]
    assert handoff["data"]["reason"] == "error" and handoff["data"]["queue"] == "ghost"
    await asyncio.gather(person.close(), other.close(), v.close())


# -- restarts -----------------------------------------------------------------------


async def test_bot_held_and_handed_off_conversations_survive_a_restart(
    standin: BotStandin, tmp_path: Path
):
    server = start_server(tmp_path, f"sqlite:///{tmp_path}/db.sqlite3", standin)
    try:
        held = new_session(server.http, context={"bot": "hook"})
        v, _ = await visitor(server.ws, held["visitor_token"])
        await say(v, "hello")
        await bot_says(v, "echo: hello")
        waiting = new_session(server.http, context={"bot": "hook"})
        w, _ = await visitor(server.ws, waiting["visitor_token"])
        await say(w, "order 9")  # handed off to billing; nobody there yet
        await bot_says(w, "Let me get someone from billing.")
        await recv_until(w, "status", status="queued")
        unanswered = new_session(server.http, context={"bot": "hook"})
        u, _ = await visitor(server.ws, unanswered["visitor_token"])
        await say(u, "later")  # the bot answers nothing (yet)
        await asyncio.gather(v.close(), w.close(), u.close())
        server.stop()
        server.start()

        v, _ = await visitor(server.ws, held["visitor_token"], after_seq=2)
        await say(v, "still there?")
        await bot_says(v, "echo: still there?")
        unskilled = await new_agent(server)  # idle longest: first in line without skills
        person = await new_agent(server, skills={"billing": 5, "refunds": 5})
        offer = await take_offer(person, waiting["conversation_id"])
        assert offer["context"]["handoff"]["summary"] == "Refund for order A-17"
        assert offer["queue"] == "billing"
        assert not [f for f in await drained(unskilled) if f["type"] == "offer"]
        await unskilled.close()
        boss = await token(server, "boss")
        report = (await api(server, "GET", "/api/v1/reports/bots", boss)).json()
        assert report["held_now"]["hookbot"] == 2
        assert {h["conversation_id"] for h in report["held"]} == {
            held["conversation_id"],
            unanswered["conversation_id"],
        }
        # What the bot may never have had before the restart is sent again.
        sent = await asyncio.to_thread(standin.wait_requests, unanswered["conversation_id"], 2)
        texts = [r.body["message"]["text"] for r in sent]
        assert texts == ["later", "later"]
        await asyncio.gather(person.close(), v.close())
    finally:
        server.stop()
