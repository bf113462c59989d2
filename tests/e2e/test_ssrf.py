"""SSRF through the doors the running server fetches from (Rocket.Chat
CVE-2024-39713 came in through the Twilio webhook's ``MediaUrl``).

Two servers: a strict one with no ``[security] fetch_allow`` and one that
allows 127.0.0.1/32, as the other tests' configs do. Signed and unsigned
Twilio webhooks point media at a stand-in on 127.0.0.1 and at the cloud
metadata address; bots point at a host name whose DNS answer is not public
and at the metadata address. The stand-ins record every request, so "refused"
means nothing reached them, and the stored error says why.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import socket
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.standins import payloads as p
from tests.standins.bots import BotStandin
from tests.standins.signing import twilio_request
from tests.standins.twilio_api import TwilioStandin
from tests.support.channels import seeded_users
from tests.support.clients import agent, bearer, msg_id, new_session, recv_until, send, token
from tests.support.clients import visitor as visitor_ws
from tests.support.server import Server

AUTH_TOKEN = "12345678901234567890123456789012"
SECRET = "ssrf-webhook-secret"
_phones = itertools.count(1)


def non_public_host_name() -> str | None:
    """A name other than ``localhost`` whose DNS answers are all non-public
    (this machine's own name usually is), so the check is on the answer."""
    name = socket.gethostname()
    try:
        answers = {info[4][0] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    except OSError:
        return None
    ips = [ipaddress.ip_address(str(a).split("%")[0]) for a in answers]
    if name == "localhost" or not ips or any(ip.is_global for ip in ips):
        return None
    return name


HOST_NAME = non_public_host_name()


def config(bots: BotStandin, fetch_allow: list[str]) -> str:
    lines = ["[security]", f"fetch_allow = {json.dumps(fetch_allow)}", ""]
    lines += ["[routing.offers]", "timeout = 20", ""]
    queues = {"named": "hostq", "meta": "metaq", "literal": "okq"}
    lines += [f"[routing.queues.{q}]" for q in ("default", *queues.values())]
    for bot, queue in queues.items():
        lines += [
            "",
            "[[routing.intake]]",
            f'name = "{bot}"',
            f"when = \"context.bot == '{bot}'\"",
            f'queue = "{queue}"',
        ]
    named = f"http://{HOST_NAME or 'unresolvable.invalid'}:{bots.port}/webhook"
    urls = {
        "hostbot": ("hostq", named),
        "metabot": ("metaq", "http://169.254.169.254/latest/meta-data/"),
        "okbot": ("okq", f"{bots.base_url}/webhook"),
    }
    for name, (queue, url) in urls.items():
        lines += [
            "",
            "[[bots]]",
            f'name = "{name}"',
            f'queues = ["{queue}"]',
            f'webhook = "{url}"',
            f'secret = "{SECRET}"',
            'timeout = "3s"',
        ]
    return "\n".join(lines) + "\n"


def start(workdir: Path, bots: BotStandin, fetch_allow: list[str]) -> Server:
    users = json.loads(seeded_users()["SWITCHBOARD_USERS"])
    # Takes the bots' hand-offs only, not the SMS conversations the webhooks open.
    users.append(
        {
            "username": "watcher",
            "role": "agent",
            "password_env": "SWITCHBOARD_TEST_PASSWORD",
            "queues": ["hostq", "metaq", "okq"],
        }
    )
    server = Server(
        workdir,
        f"sqlite:///{workdir / 'db.sqlite3'}",
        config=config(bots, fetch_allow),
        SWITCHBOARD_TWILIO_ACCOUNT_SID=p.ACCOUNT_SID,
        SWITCHBOARD_TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        SWITCHBOARD_TWILIO_FROM=p.OUR_NUMBER,
        SWITCHBOARD_TWILIO_API_BASE="http://127.0.0.1:9",
        # Host names allowed, so what refuses them is the address check.
        SWITCHBOARD_MEDIA_ALLOWED_HOSTS="127.0.0.1,localhost,169.254.169.254",
        SWITCHBOARD_USERS=json.dumps(users),
        SWITCHBOARD_TEST_PASSWORD=PASSWORD,
    )
    return server.start()


@pytest.fixture(scope="module")
def bots() -> Iterator[BotStandin]:
    standin = BotStandin(SECRET).start()
    yield standin
    standin.stop()


@pytest.fixture(scope="module")
async def media() -> AsyncIterator[TwilioStandin]:
    async with TwilioStandin(p.ACCOUNT_SID, AUTH_TOKEN) as standin:
        standin.media["ME1"] = (b"\x89PNG secret", "image/png")
        standin.redirects["TO_METADATA"] = "http://169.254.169.254/latest/meta-data/"
        yield standin


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory, bots: BotStandin) -> Iterator[Server]:
    server = start(tmp_path_factory.mktemp("strict"), bots, [])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def allowing(tmp_path_factory: pytest.TempPathFactory, bots: BotStandin) -> Iterator[Server]:
    server = start(tmp_path_factory.mktemp("allowing"), bots, ["127.0.0.1/32"])
    yield server
    server.stop()


async def post_mms(server: Server, url: str, *, signed: bool = True) -> tuple[int, str]:
    """A Twilio MMS webhook whose media points at ``url``; returns the status and phone."""
    phone = f"+1415555{next(_phones):04d}"
    form = p.twilio_sms(
        "see photo", sid=f"MM{phone[1:]:0>32}", sender=phone, media=((url, "image/png"),)
    )
    target = server.http + "/webhooks/twilio/sms"
    body, headers = twilio_request(AUTH_TOKEN, target, form)
    if not signed:
        headers.pop("X-Twilio-Signature")
    async with httpx.AsyncClient(timeout=30) as client:
        reply = await client.post(target, content=body, headers=headers)
    return reply.status_code, phone


def stored_media(server: Server, phone: str) -> list[dict[str, Any]]:
    path = server.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        rows = list(
            conn.execute(
                "SELECT m.attributes FROM messages m JOIN conversations c"
                " ON c.id = m.conversation_id JOIN customers u ON u.id = c.customer_id"
                " WHERE u.phone = ?",
                (phone,),
            )
        )
    found: list[dict[str, Any]] = []
    for (attributes,) in rows:
        found += json.loads(attributes or "{}").get("attachments", [])
    return found


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:{port}/media/ME1", "must be https"),
        ("https://127.0.0.1:{port}/media/ME1", "loopback"),
        ("https://localhost:{port}/media/ME1", "loopback"),
        ("https://169.254.169.254/latest/meta-data/iam/", "link-local"),
        ("http://169.254.169.254/latest/meta-data/iam/", "must be https"),
    ],
)
async def test_signed_webhook_media_at_a_non_public_address_is_not_fetched(
    strict: Server, media: TwilioStandin, url: str, why: str
) -> None:
    before = len(media.media_requests)
    status, phone = await post_mms(strict, url.format(port=media.port))
    assert status == 200  # the message itself is stored and acknowledged
    (attachment,) = stored_media(strict, phone)
    assert attachment["fetched"] is False
    assert why in attachment["error"]
    assert len(media.media_requests) == before


async def test_unsigned_webhook_media_is_neither_stored_nor_fetched(
    strict: Server, allowing: Server, media: TwilioStandin
) -> None:
    before = len(media.media_requests)
    for server in (strict, allowing):
        for url in (f"http://127.0.0.1:{media.port}/media/ME1", "http://169.254.169.254/"):
            status, phone = await post_mms(server, url, signed=False)
            assert status in (401, 403)
            assert stored_media(server, phone) == []
    assert len(media.media_requests) == before


async def test_the_allow_list_lets_the_stand_in_serve_media(
    allowing: Server, media: TwilioStandin
) -> None:
    """The control: the same webhook is fetched once 127.0.0.1/32 is allowed."""
    status, phone = await post_mms(allowing, f"http://127.0.0.1:{media.port}/media/ME1")
    assert status == 200
    (attachment,) = stored_media(allowing, phone)
    assert attachment["fetched"] is True and attachment["size"] == len(b"\x89PNG secret")


async def test_a_redirect_to_the_metadata_service_is_refused(
    allowing: Server, media: TwilioStandin
) -> None:
    status, phone = await post_mms(allowing, f"http://127.0.0.1:{media.port}/media/TO_METADATA")
    assert status == 200
    (attachment,) = stored_media(allowing, phone)
    assert attachment["fetched"] is False
    assert "169.254.169.254" in attachment["error"] and "link-local" in attachment["error"]


async def handoff_summary(server: Server, bot: str) -> str:
    """A customer's message goes to ``bot``; the summary its failure hands over."""
    agent_ws, _ = await agent(server.ws, token(server.http, "watcher", PASSWORD))
    try:
        created = new_session(server.http, name="Rita", context={"bot": bot})
        cid = created["conversation_id"]
        v, _ = await visitor_ws(server.ws, created["visitor_token"])
        ref = msg_id()
        await send(v, type="message", client_msg_id=ref, text="hello")
        await recv_until(v, "ack", client_msg_id=ref)
        offer = await recv_until(agent_ws, "offer", timeout=15, conversation_id=cid)
        await v.close()
        sam = token(server.http, "sam", PASSWORD)
        httpx.post(f"{server.http}/api/v1/conversations/{cid}/close", headers=bearer(sam))
        return str(offer["context"]["handoff"]["summary"])
    finally:
        await agent_ws.close()


@pytest.mark.skipif(HOST_NAME is None, reason="no host name here resolves to a non-public address")
async def test_a_bot_url_whose_dns_answer_is_not_public_is_refused(
    strict: Server, bots: BotStandin
) -> None:
    before = len(bots.received)
    summary = await handoff_summary(strict, "named")
    assert "non-public" in summary or "plain http" in summary
    assert len(bots.received) == before


async def test_a_bot_url_at_the_metadata_service_is_refused(strict: Server) -> None:
    summary = await handoff_summary(strict, "meta")
    assert "169.254.169.254" in summary and "link-local" in summary


async def test_a_bot_url_the_config_names_as_an_address_is_called(
    strict: Server, bots: BotStandin
) -> None:
    """The control: ``webhook = "http://127.0.0.1:<port>/..."`` written by the
    operator works without ``fetch_allow`` (as PROTOCOL.md's Rasa example)."""
    created = new_session(strict.http, name="Rita", context={"bot": "literal"})
    v, _ = await visitor_ws(strict.ws, created["visitor_token"])
    ref = msg_id()
    await send(v, type="message", client_msg_id=ref, text="ping")
    frame = await recv_until(v, "message", text="echo: ping")
    assert frame["sender"]["role"] == "bot"
    await v.close()
    sam = token(strict.http, "sam", PASSWORD)
    httpx.post(
        f"{strict.http}/api/v1/conversations/{created['conversation_id']}/close",
        headers=bearer(sam),
    )
    assert bots.requests_for(created["conversation_id"])
