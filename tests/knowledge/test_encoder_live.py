"""A server with ``[knowledge] encoder``: suggestions fuse the embeddings of
a local model (a tiny random BERT built here) with the lexical ranking."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.knowledge.test_api_live import create, publish
from tests.support.clients import agent, bearer, msg_id, recv_until, send, taken_session, token
from tests.support.clients import visitor as visitor_ws
from tests.support.server import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from tests.intents.tiny_encoder import build_tiny_encoder

    encoder = build_tiny_encoder(tmp_path_factory.mktemp("encoder") / "tiny-bert")
    workdir = tmp_path_factory.mktemp("server")
    srv = Server(
        workdir,
        f"sqlite:///{workdir}/switchboard.sqlite3",
        SWITCHBOARD_KNOWLEDGE__ENCODER=str(encoder),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    for name, role in (("alice", "agent"), ("sam", "supervisor")):
        srv.add_user(name, PASSWORD, role)
    with srv:
        yield srv


@pytest.fixture(scope="module")
def tokens(server: Server) -> dict[str, dict[str, str]]:
    return {name: bearer(token(server.http, name, PASSWORD)) for name in ("alice", "sam")}


async def test_suggestions_with_an_encoder_rank_and_reach_the_agent(
    server: Server, tokens: dict[str, dict[str, str]]
) -> None:
    refund = create(
        server, tokens["alice"], title="Refund a purchase", body="I would like a refund"
    )["id"]
    card = create(server, tokens["alice"], title="Card arrival", body="my card has not arrived")[
        "id"
    ]
    for aid in (refund, card):
        publish(server, tokens, aid)
    alice = tokens["alice"]["Authorization"].split()[1]
    session = taken_session(server.http, alice, name="Now")
    cid = session["conversation_id"]
    a, _ = await agent(server.ws, alice)
    v, _ = await visitor_ws(server.ws, session["visitor_token"])
    await send(v, type="message", client_msg_id=msg_id(), text="hello, I would like a refund")
    pushed: dict[str, Any] = await recv_until(a, "suggestions", conversation_id=cid)
    ranked = [article["id"] for article in pushed["articles"]]
    # Words put the refund article first in one ranking; the cosine ranking
    # of two brings both, so the refund article is never below second.
    assert refund in ranked and set(ranked) <= {refund, card}
    assert all(0 < article["score"] <= 1 for article in pushed["articles"])

    # No shared word: lexically nothing, with the encoder its nearest articles.
    found = httpx.get(server.http + "/api/v1/kb/suggestions", params={"q": "zzqx blorp"})
    assert found.status_code == 200, found.text
    assert {article["id"] for article in found.json()["articles"]} == {refund, card}
    greeting = httpx.get(server.http + "/api/v1/kb/suggestions", params={"q": "hello"})
    assert greeting.json()["articles"] == []
    await asyncio.gather(a.close(), v.close())
