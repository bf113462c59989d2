"""The skill finder in a running server: a model file trained here routes
web chat conversations by what the customer's first messages ask."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from intents import IntentModel
from tests.support.clients import (
    agent,
    bearer,
    msg_id,
    new_session,
    recv_until,
    send,
    token,
    visitor,
)
from tests.support.server import Server

PASSWORD = "skill finder password"
_names = itertools.count(1)


READING = 'messages = 3\nwait = "30s"'


def config(model_file: Path, extra: str = "", finder: str = READING) -> str:
    return f"""
[routing]
skills = ["cards", "billing"]

[routing.queues.default]
[routing.queues.cards]
[routing.queues.refunds]

[[routing.intake]]
name = "stolen cards are urgent"
when = "intent == 'lost_card' and intent_confidence >= 0.5"
queue = "cards"
priority = 5

[[routing.intake]]
name = "urgent card arrivals"
when = "intent == 'card_arrival' and message contains 'urgent'"
priority = 7

[skill_finder]
model = "{model_file}"
min_confidence = 0.45
{finder}

[skill_finder.intents.card_arrival]
queue = "cards"
skills = {{ cards = 2 }}

[skill_finder.intents.refund]
queue = "refunds"
skills = {{ billing = 1 }}
{extra}
"""


@pytest.fixture(scope="module")
def srv(model_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("skill-finder")
    server = Server(
        workdir,
        f"sqlite:///{workdir}/db.sqlite3",
        config=config(model_file),
        SWITCHBOARD_USERS=(
            '[{"username": "boss", "role": "supervisor", "password_env": "SF_PASSWORD"},'
            ' {"username": "root", "role": "admin", "password_env": "SF_PASSWORD"}]'
        ),
        SF_PASSWORD=PASSWORD,
    )
    with server:
        yield server


def new_agent(srv: Server, **fields: object) -> str:
    name = f"agent{next(_names)}"
    admin = token(srv.http, "root", PASSWORD)
    body = {"username": name, "password": PASSWORD, **fields}
    created = httpx.post(srv.http + "/api/v1/users", json=body, headers=bearer(admin))
    assert created.status_code == 201, created.text
    return token(srv.http, name, PASSWORD)


async def customer_writes(srv: Server, *texts: str) -> str:
    created = new_session(srv.http, name="Kim")
    v, _ = await visitor(srv.ws, created["visitor_token"])
    for text in texts:
        await say(v, text)
    await v.close()
    return str(created["conversation_id"])


async def say(v: Any, text: str) -> None:
    ref = msg_id()
    await send(v, type="message", client_msg_id=ref, text=text)
    await recv_until(v, "ack", client_msg_id=ref)


async def conversation_when(srv: Server, cid: str, ready: Any) -> dict[str, Any]:
    """Poll the conversation (another process routes it) until ``ready``."""
    headers = bearer(token(srv.http, "boss", PASSWORD))
    deadline = time.monotonic() + 10
    async with httpx.AsyncClient(base_url=srv.http, headers=headers) as client:
        while True:
            context = (await client.get(f"/api/v1/conversations/{cid}/context")).json()
            if ready(context) or time.monotonic() > deadline:
                return dict(context)
            await asyncio.sleep(0.05)


def intent_of(context: dict[str, Any]) -> Any:
    """What the skill finder kept in the conversation's context (scripts read it)."""
    return context["context"].get("intent")


async def take_and_close(srv: Server, ws: Any, tok: str, offer: dict[str, Any]) -> None:
    """Accept and close, so the conversation waits for nobody in later tests."""
    await send(ws, type="accept", offer_id=offer["offer_id"])
    await recv_until(ws, "assigned", conversation_id=offer["conversation_id"])
    closed = httpx.post(
        f"{srv.http}/api/v1/conversations/{offer['conversation_id']}/close", headers=bearer(tok)
    )
    assert closed.status_code == 200, closed.text


async def test_a_card_question_is_offered_to_the_cards_agent_with_the_intent(srv: Server):
    tok = new_agent(srv, queues=["cards"], skills={"cards": 3})
    ws, _ = await agent(srv.ws, tok)
    cid = await customer_writes(srv, "my new card has not arrived yet")
    offer = await recv_until(ws, "offer", conversation_id=cid)
    assert offer["queue"] == "cards"
    assert offer["context"]["intent"]["name"] == "card_arrival"
    assert offer["context"]["intent"]["confidence"] >= 0.45
    assert offer["context"]["intent"]["applied"] is True
    await take_and_close(srv, ws, tok, offer)
    await ws.close()


async def test_an_agent_without_the_skill_is_not_offered_it(srv: Server):
    weak, _ = await agent(srv.ws, new_agent(srv, queues=["cards"], skills={"cards": 1}))
    cid = await customer_writes(srv, "when will my debit card arrive")
    context = await conversation_when(srv, cid, lambda c: c["conversation"]["queue"] == "cards")
    assert context["conversation"]["queue"] == "cards"
    with pytest.raises(TimeoutError):
        await recv_until(weak, "offer", timeout=1.5, conversation_id=cid)
    tok = new_agent(srv, queues=["cards"], skills={"cards": 2})
    strong, _ = await agent(srv.ws, tok)
    offer = await recv_until(strong, "offer", conversation_id=cid)
    assert offer["context"]["intent"]["name"] == "card_arrival"
    await take_and_close(srv, strong, tok, offer)
    await asyncio.gather(weak.close(), strong.close())


async def test_an_unsure_first_message_waits_for_the_next_before_routing(srv: Server):
    tok = new_agent(srv, skills={"cards": 3})  # serves every queue
    ws, _ = await agent(srv.ws, tok)
    created = new_session(srv.http, name="Kim")
    cid = created["conversation_id"]
    v, _ = await visitor(srv.ws, created["visitor_token"])
    await say(v, "hi, this is urgent")  # unsure: the finder waits for more (up to 30 s)
    with pytest.raises(TimeoutError):
        await recv_until(ws, "offer", timeout=1.5, conversation_id=cid)
    await say(v, "my new card has not arrived yet")
    offer = await recv_until(ws, "offer", conversation_id=cid)  # at once, not after 30 s
    assert offer["queue"] == "cards"
    assert offer["context"]["intent"]["name"] == "card_arrival"
    # Intake rules read every message the finder read.
    context = await conversation_when(srv, cid, lambda c: c["conversation"]["priority"] == 7)
    assert context["conversation"]["priority"] == 7
    await take_and_close(srv, ws, tok, offer)
    await asyncio.gather(ws.close(), v.close())


async def test_intake_rules_read_the_intent(srv: Server):
    cid = await customer_writes(srv, "my credit card was stolen last week")
    context = await conversation_when(srv, cid, lambda c: c["conversation"]["priority"] == 5)
    assert context["conversation"]["queue"] == "cards"
    assert context["conversation"]["priority"] == 5
    context = await conversation_when(srv, cid, lambda c: intent_of(c) is not None)
    assert intent_of(context)["name"] == "lost_card"
    [event] = [e for e in context["timeline"] if e["type"] == "context_set"]
    assert event["actor"] == "skill_finder" and event["data"]["name"] == "intent"


async def test_a_mapped_intent_sets_the_queue(srv: Server):
    cid = await customer_writes(srv, "I want a refund for my order")
    context = await conversation_when(srv, cid, lambda c: c["conversation"]["queue"] != "default")
    assert context["conversation"]["queue"] == "refunds"


async def test_an_unsure_finding_leaves_routing_to_the_rules(srv: Server):
    # Still unsure after `messages` (3) messages: routed then, without waiting.
    cid = await customer_writes(srv, "zzqx blorp", "qqq", "blorp zzqx")
    context = await conversation_when(srv, cid, lambda c: intent_of(c) is not None)
    found = intent_of(context)
    assert found["name"] is None and found["confidence"] < 0.45 and found["applied"] is False
    assert context["conversation"]["queue"] == "default"
    assert context["conversation"]["priority"] == 0


def test_a_mapping_the_model_does_not_know_stops_the_server(model_file: Path, tmp_path: Path):
    bad = config(model_file, "[skill_finder.intents.card_lost]\nqueue = 'cards'\n")
    server = Server(tmp_path, f"sqlite:///{tmp_path}/db.sqlite3", config=bad)
    with pytest.raises(RuntimeError, match=r"does not know: \['card_lost'\]"):
        server.start()
    path = tmp_path / "bad.toml"
    path.write_text(bad)
    checked = server.cli("check-config", str(path))
    assert checked.returncode == 2
    assert "skill_finder.intents names intents the model does not know" in checked.stderr


def test_a_missing_model_file_stops_the_server(tmp_path: Path):
    server = Server(
        tmp_path, f"sqlite:///{tmp_path}/db.sqlite3", config=config(tmp_path / "gone.npz")
    )
    with pytest.raises(RuntimeError, match="no such model file"):
        server.start()


def test_the_model_file_is_what_the_cli_trains(srv: Server, tmp_path: Path):
    from tests.intents.examples import write_csv

    examples = write_csv(tmp_path / "examples.csv")
    out = tmp_path / "trained.npz"
    result = srv.cli("skills", "train", str(examples), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert IntentModel.load(out).classes == ("card_arrival", "lost_card", "opening_hours", "refund")


async def test_an_unsure_conversation_is_routed_when_the_wait_is_over(
    model_file: Path, tmp_path: Path
):
    finder = 'messages = 3\nwait = "1s"'
    server = Server(
        tmp_path,
        f"sqlite:///{tmp_path}/db.sqlite3",
        config=config(model_file, finder=finder),
        SWITCHBOARD_USERS='[{"username": "boss", "role": "supervisor", "password_env": "SF_PW"}]',
        SF_PW=PASSWORD,
    )
    with server:
        started = time.monotonic()
        cid = await customer_writes(server, "hello there")
        context = await conversation_when(server, cid, lambda c: intent_of(c) is not None)
        waited = time.monotonic() - started
        assert intent_of(context)["name"] is None
        assert context["conversation"]["queue"] == "default"
        assert waited >= 1.0


# -- over a local transformers encoder ---------------------------------------------------


def transformers_config(model: Path, encoder: Path) -> str:
    return config(model, finder=f'backend = "transformers"\nencoder = "{encoder}"\nmessages = 1')


async def test_a_transformers_encoder_reads_the_messages_in_a_server(
    encoder_dir: Path, tmp_path: Path
):
    from tests.intents.examples import write_csv

    server = Server(
        tmp_path,
        f"sqlite:///{tmp_path}/db.sqlite3",
        SWITCHBOARD_USERS='[{"username": "boss", "role": "supervisor", "password_env": "SF_PW"}]',
        SF_PW=PASSWORD,
    )
    out = tmp_path / "encoder_finder.npz"
    examples = str(write_csv(tmp_path / "examples.csv"))
    trained = server.cli(
        "skills", "train", examples, "--encoder", str(encoder_dir), "--out", str(out)
    )
    assert trained.returncode == 0, trained.stderr
    server.config = transformers_config(out, encoder_dir)
    server.start(timeout=180)  # importing torch on a loaded machine takes a while
    try:
        cid = await customer_writes(server, "I want a refund for my order")
        context = await conversation_when(server, cid, lambda c: intent_of(c) is not None)
        assert intent_of(context)["name"] == "refund"
        assert context["conversation"]["queue"] == "refunds"
    finally:
        server.stop()


def test_a_bad_encoder_directory_stops_the_server(model_file: Path, tmp_path: Path):
    bad = transformers_config(model_file, tmp_path / "no-such-model")
    server = Server(tmp_path, f"sqlite:///{tmp_path}/db.sqlite3", config=bad)
    with pytest.raises(RuntimeError, match=r"skill_finder\.encoder: .*no such model directory"):
        server.start()
    path = tmp_path / "bad.toml"
    path.write_text(bad)
    checked = server.cli("check-config", str(path))
    assert checked.returncode == 2
    assert "skill_finder.encoder" in checked.stderr and "no-such-model" in checked.stderr
