"""Who may see what: a visitor its own conversation, an agent its own work."""

from __future__ import annotations

import httpx

from tests.conftest import PASSWORD
from tests.support.clients import agent, bearer, msg_id, new_session, recv_until, send, token
from tests.support.server import Server


def test_visitor_token_opens_its_own_conversation_only(server: Server):
    mine, other = new_session(server.http), new_session(server.http)
    headers = bearer(mine["visitor_token"])
    own = httpx.get(
        server.http + f"/api/v1/conversations/{mine['conversation_id']}", headers=headers
    )
    assert own.status_code == 200
    for path in ("", "/messages"):
        reply = httpx.get(
            server.http + f"/api/v1/conversations/{other['conversation_id']}{path}", headers=headers
        )
        assert reply.status_code == 404
        assert reply.json()["error"]["code"] == "not_found"
    listing = httpx.get(server.http + "/api/v1/conversations", headers=headers)
    assert listing.status_code == 403


def test_agent_sees_waiting_and_own_work_but_not_colleagues(server: Server):
    alice, bob = token(server.http, "alice", PASSWORD), token(server.http, "bob", PASSWORD)
    sam = token(server.http, "sam", PASSWORD)
    cid = new_session(server.http)["conversation_id"]
    assert (
        httpx.post(
            server.http + f"/api/v1/conversations/{cid}/assign", headers=bearer(alice)
        ).status_code
        == 200
    )
    url = server.http + f"/api/v1/conversations/{cid}"
    assert httpx.get(url, headers=bearer(alice)).status_code == 200
    assert httpx.get(url, headers=bearer(bob)).status_code == 404
    assert httpx.get(url + "/messages", headers=bearer(bob)).status_code == 404
    assert httpx.get(url, headers=bearer(sam)).status_code == 200
    bobs = httpx.get(server.http + "/api/v1/conversations", headers=bearer(bob)).json()
    assert cid not in [c["id"] for c in bobs["conversations"]]
    everything = httpx.get(
        server.http + "/api/v1/conversations?status=assigned", headers=bearer(sam)
    ).json()
    assert cid in [c["id"] for c in everything["conversations"]]


async def test_agent_cannot_write_into_a_colleagues_conversation(server: Server):
    alice, bob = token(server.http, "alice", PASSWORD), token(server.http, "bob", PASSWORD)
    cid = new_session(server.http)["conversation_id"]
    httpx.post(server.http + f"/api/v1/conversations/{cid}/assign", headers=bearer(alice))
    b, _ = await agent(server.ws, bob)
    await send(b, type="message", conversation_id=cid, client_msg_id=msg_id(), text="hijack")
    error = await recv_until(b, "error")
    assert error["code"] == "not_found"  # bob must not learn it exists
    assert error["ref"] is not None
    messages = httpx.get(
        server.http + f"/api/v1/conversations/{cid}/messages", headers=bearer(alice)
    ).json()["messages"]
    assert messages == []
    await b.close()


def test_only_admins_manage_users(server: Server):
    alice, ada = token(server.http, "alice", PASSWORD), token(server.http, "ada", PASSWORD)
    body = {
        "username": "newbie",
        "password": "long enough pw",
        "role": "agent",
        "skills": {"billing": 3},
    }
    assert (
        httpx.post(server.http + "/api/v1/users", json=body, headers=bearer(alice)).status_code
        == 403
    )
    created = httpx.post(server.http + "/api/v1/users", json=body, headers=bearer(ada))
    assert created.status_code == 201, created.text
    assert created.json()["skills"] == {"billing": 3}
    assert token(server.http, "newbie", "long enough pw")
    again = httpx.post(server.http + "/api/v1/users", json=body, headers=bearer(ada))
    assert again.status_code == 409 and again.json()["error"]["code"] == "user_exists"
    bad = httpx.post(
        server.http + "/api/v1/users",
        json={"username": "x", "password": "short"},
        headers=bearer(ada),
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_field"


def test_wrong_password_and_missing_token_are_401(server: Server):
    reply = httpx.post(
        server.http + "/api/v1/auth/token", json={"username": "alice", "password": "nope"}
    )
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "invalid_credentials"
    assert httpx.get(server.http + "/api/v1/conversations").status_code == 401
    expired = httpx.get(server.http + "/api/v1/conversations", headers=bearer("not-a-token"))
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "invalid_token"
