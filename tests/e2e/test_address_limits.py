"""Per-client-address limits against the running server: new web chat
sessions and every public webhook are rate limited (429 ``rate_limited`` with
``Retry-After``), and one address may hold only so many websockets (4429).

Each test comes from its own client address (``X-Forwarded-For``, trusted
from 127.0.0.1 as from a local reverse proxy), so one test's counts do not
spill into the next.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.conftest import PASSWORD
from tests.standins.payloads import ACCOUNT_SID, OUR_NUMBER, telegram_message, twilio_sms
from tests.standins.signing import meta_request, telegram_request, twilio_request
from tests.support.channels import seeded_users
from tests.support.clients import bearer, recv, recv_until, send, token, visitor
from tests.support.server import Server

LIMITS = {
    "SWITCHBOARD_LIMITS__SESSIONS_PER_SECOND": "0.1",
    "SWITCHBOARD_LIMITS__SESSIONS_BURST": "3",
    "SWITCHBOARD_LIMITS__WEBHOOKS_PER_SECOND": "0.1",
    "SWITCHBOARD_LIMITS__WEBHOOKS_BURST": "4",
    "SWITCHBOARD_LIMITS__WEBSOCKETS_PER_ADDRESS": "2",
}
AUTH_TOKEN = "12345678901234567890123456789012"
APP_SECRET = "meta-app-secret"
TELEGRAM_SECRET = "telegram-secret-token"
_addresses = (f"198.51.100.{i}" for i in itertools.count(1))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir: Path = tmp_path_factory.mktemp("address-limits")
    channels = {
        "SWITCHBOARD_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "SWITCHBOARD_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "SWITCHBOARD_TWILIO_FROM": OUR_NUMBER,
        "SWITCHBOARD_META_APP_SECRET": APP_SECRET,
        "SWITCHBOARD_META_VERIFY_TOKEN": "meta-verify-token",
        "SWITCHBOARD_META_PAGE_ACCESS_TOKEN": "EAAG-page-token",
        "SWITCHBOARD_WHATSAPP_ACCESS_TOKEN": "EAAG-whatsapp-token",
        "SWITCHBOARD_WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
        "SWITCHBOARD_TELEGRAM_BOT_TOKEN": "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11",
        "SWITCHBOARD_TELEGRAM_SECRET": TELEGRAM_SECRET,
    }
    db = f"sqlite:///{workdir}/db.sqlite3"
    with Server(workdir, db, **LIMITS, **channels, **seeded_users()) as srv:
        yield srv


def open_session(server: Server, address: str) -> httpx.Response:
    return httpx.post(
        server.http + "/api/v1/webchat/sessions",
        json={"name": "Visitor"},
        headers={"X-Forwarded-For": address},
    )


def assert_rate_limited(reply: httpx.Response) -> None:
    assert reply.status_code == 429, reply.text
    error = reply.json()["error"]
    assert error["code"] == "rate_limited"
    assert "from this address" in error["message"]
    assert int(reply.headers["Retry-After"]) == error["retry_after"] >= 1


def conversation_count(server: Server) -> int:
    reply = httpx.get(
        server.http + "/api/v1/conversations", headers=bearer(token(server.http, "sam", PASSWORD))
    )
    assert reply.status_code == 200, reply.text
    return len(reply.json()["conversations"])


def test_one_address_opening_sessions_fast_is_refused_and_nothing_is_opened(
    server: Server,
) -> None:
    address = next(_addresses)
    for _ in range(3):
        assert open_session(server, address).status_code == 201
    before = conversation_count(server)
    refused = open_session(server, address)
    assert_rate_limited(refused)
    assert "chat sessions" in refused.json()["error"]["message"]
    assert conversation_count(server) == before
    # Bad bodies count too: the limit comes before the body is read.
    bad = httpx.post(
        server.http + "/api/v1/webchat/sessions",
        content=b"{not json",
        headers={"X-Forwarded-For": address},
    )
    assert_rate_limited(bad)
    # Another address is not held back by it.
    assert open_session(server, next(_addresses)).status_code == 201


def twilio(server: Server, address: str, path: str, n: int, *, signed: bool) -> httpx.Response:
    form = twilio_sms("hello", sid=f"SM{n:032x}", sender=f"+1415555{n:04d}")
    if path.endswith("/status"):
        form = {"MessageSid": f"SM{n:032x}", "MessageStatus": "delivered"}
    body, headers = twilio_request(AUTH_TOKEN, server.http + path, form)
    if not signed:
        headers["X-Twilio-Signature"] = "forged"
    return httpx.post(
        server.http + path, content=body, headers=headers | {"X-Forwarded-For": address}
    )


def meta(server: Server, address: str, channel: str, n: int) -> httpx.Response:
    body, headers = meta_request(APP_SECRET, {"object": "page", "entry": []})
    return httpx.post(
        f"{server.http}/webhooks/{channel}",
        content=body,
        headers=headers | {"X-Forwarded-For": address},
    )


def meta_handshake(server: Server, address: str, channel: str, n: int) -> httpx.Response:
    params = {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": str(n)}
    return httpx.get(
        f"{server.http}/webhooks/{channel}", params=params, headers={"X-Forwarded-For": address}
    )


def telegram(server: Server, address: str, n: int) -> httpx.Response:
    body, headers = telegram_request(TELEGRAM_SECRET, telegram_message("hi", update_id=n))
    return httpx.post(
        server.http + "/webhooks/telegram",
        content=body,
        headers=headers | {"X-Forwarded-For": address},
    )


def device_alert(server: Server, address: str, n: int) -> httpx.Response:
    return httpx.post(
        server.http + "/api/v1/device-alerts",
        json={"device_id": f"d{n}", "alert_type": "overheat"},
        headers={"X-Api-Key": "not-a-key", "X-Forwarded-For": address},
    )


WEBHOOKS: dict[str, Any] = {
    "twilio sms, signed": lambda s, a, n: twilio(s, a, "/webhooks/twilio/sms", n, signed=True),
    "twilio sms, forged": lambda s, a, n: twilio(s, a, "/webhooks/twilio/sms", n, signed=False),
    "twilio status": lambda s, a, n: twilio(s, a, "/webhooks/twilio/status", n, signed=True),
    "messenger": lambda s, a, n: meta(s, a, "messenger", n),
    "messenger handshake": lambda s, a, n: meta_handshake(s, a, "messenger", n),
    "whatsapp": lambda s, a, n: meta(s, a, "whatsapp", n),
    "whatsapp handshake": lambda s, a, n: meta_handshake(s, a, "whatsapp", n),
    "telegram": telegram,
    "device alerts": device_alert,
}


@pytest.mark.parametrize("hook", list(WEBHOOKS))
def test_every_webhook_is_limited_per_address(server: Server, hook: str) -> None:
    """Signed or not, past the burst an address is refused before its request
    is looked at; the provider's other addresses still get through."""
    call = WEBHOOKS[hook]
    address = next(_addresses)
    served = [call(server, address, n) for n in range(4)]
    assert all(r.status_code != 429 for r in served), [r.status_code for r in served]
    assert_rate_limited(call(server, address, 4))
    assert "webhook requests" in call(server, address, 5).json()["error"]["message"]
    assert call(server, next(_addresses), 6).status_code == served[0].status_code


def test_a_refused_signed_sms_is_not_stored_and_the_retry_from_elsewhere_is(
    server: Server,
) -> None:
    address = next(_addresses)
    for n in range(100, 104):
        assert twilio(server, address, "/webhooks/twilio/status", n, signed=True).status_code < 300
    refused = twilio(server, address, "/webhooks/twilio/sms", 104, signed=True)
    assert_rate_limited(refused)
    before = conversation_count(server)
    # Twilio retries from another of its addresses: that one is stored.
    retry = twilio(server, next(_addresses), "/webhooks/twilio/sms", 104, signed=True)
    assert retry.status_code == 200, retry.text
    assert conversation_count(server) == before + 1


async def held(server: Server, address: str) -> websockets.ClientConnection:
    """A visitor socket from ``address``, past its welcome (so it stays open)."""
    session = open_session(server, next(_addresses)).json()
    ws, _ = await visitor(
        server.ws, session["visitor_token"], additional_headers={"X-Forwarded-For": address}
    )
    return ws


async def admitted(server: Server, address: str) -> bool:
    """Whether a socket from ``address`` is served: one that is gets an error
    frame for a bad hello; one that is not is closed with 4429 at once."""
    ws = await websockets.connect(
        server.ws + "/ws/visitor", additional_headers={"X-Forwarded-For": address}
    )
    try:
        await ws.send('{"type": "hello", "token": "not a token"}')
        frame = await recv(ws)
    except ConnectionClosed as exc:
        assert exc.rcvd is not None, exc
        assert exc.rcvd.code == 4429, exc.rcvd
        assert exc.rcvd.reason == "too many connections from this address"
        return False
    finally:
        await ws.close()
    assert frame["type"] == "error" and frame["code"] == "invalid_token", frame
    return True


async def eventually_admitted(server: Server, address: str) -> None:
    """The server frees a slot when it sees the close, just after the client
    does: ask again until it has (or give up)."""
    for _ in range(100):
        if await admitted(server, address):
            return
    raise AssertionError(f"no slot for {address} was freed")


async def test_websockets_per_address_are_capped_and_a_closed_one_frees_its_slot(
    server: Server,
) -> None:
    address = next(_addresses)
    first, second = await held(server, address), await held(server, address)
    assert not await admitted(server, address)
    assert not await admitted(server, address)  # a refused one takes no slot
    # The held ones still work, and another address is not held back.
    await send(second, type="ping")
    assert (await recv_until(second, "pong"))["type"] == "pong"
    assert await admitted(server, next(_addresses))
    await first.close()
    await eventually_admitted(server, address)
    await second.close()


async def test_a_dropped_connection_frees_its_slot_too(server: Server) -> None:
    address = next(_addresses)
    first, second = await held(server, address), await held(server, address)
    assert not await admitted(server, address)
    first.transport.abort()  # no close handshake: the client just goes away
    await eventually_admitted(server, address)
    await second.close()
