"""One person, one customer across channels; reading and merging customers; and a
hardened install (default media rules, channels left unconfigured)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.standins import payloads as p
from tests.standins.signing import twilio_request
from tests.support.channels import AUTH_TOKEN, ChannelRig, channel_rig, seeded_users
from tests.support.clients import bearer, token
from tests.support.server import Server


@pytest.fixture(scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ChannelRig]:
    async with channel_rig(tmp_path_factory.mktemp("customers")) as running:
        yield running


async def test_sms_and_whatsapp_from_one_phone_are_one_customer(rig: ChannelRig):
    await rig.post_twilio(p.twilio_sms("by sms", sid="SM" + "1" * 32, sender="+" + p.WA_ID))
    assert (await rig.post_meta(p.whatsapp_text("by whatsapp"), "whatsapp")).status_code == 200
    found = rig.conversations(phone="+" + p.WA_ID)
    assert sorted(c["channel"] for c in found) == ["sms", "whatsapp"]
    assert len({c["customer"]["id"] for c in found}) == 1

    customer = httpx.get(
        f"{rig.http}/api/v1/customers/{found[0]['customer']['id']}",
        headers=bearer(rig.token("sam")),
    )
    assert customer.status_code == 200, customer.text
    body = customer.json()
    assert body["identities"] == [{"kind": "phone", "value": "+" + p.WA_ID}]
    assert sorted(c["channel"] for c in body["conversations"]) == ["sms", "whatsapp"]


async def test_supervisor_merges_customers_agents_may_not(rig: ChannelRig):
    await rig.post_twilio(p.twilio_sms("sms side", sid="SM" + "2" * 32, sender="+14155550177"))
    telegram = p.telegram_message("telegram side", update_id=900, message_id=1, chat_id=5151)
    assert (await rig.post_telegram(telegram)).status_code == 200
    (sms,) = rig.conversations(phone="+14155550177")
    (tg,) = [c for c in rig.conversations() if c["channel"] == "telegram"]
    keep, other = sms["customer"]["id"], tg["customer"]["id"]
    assert keep != other

    url = f"{rig.http}/api/v1/customers/{keep}/merge"
    denied = httpx.post(url, json={"other_id": other}, headers=bearer(rig.token("alice")))
    assert denied.status_code == 403
    merged = httpx.post(url, json={"other_id": other}, headers=bearer(rig.token("sam")))
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert {(i["kind"], i["value"]) for i in body["identities"]} == {
        ("phone", "+14155550177"),
        ("telegram", "5151"),
    }
    assert {c["id"] for c in body["conversations"]} == {sms["id"], tg["id"]}
    # The next Telegram message finds the merged customer.
    again = p.telegram_message("still me", update_id=901, message_id=2, chat_id=5151)
    assert (await rig.post_telegram(again)).status_code == 200
    assert [c["customer"]["id"] for c in rig.conversations() if c["channel"] == "telegram"] == [
        keep
    ]

    twice = httpx.post(url, json={"other_id": other}, headers=bearer(rig.token("sam")))
    assert twice.status_code == 409
    self_merge = httpx.post(url, json={"other_id": keep}, headers=bearer(rig.token("sam")))
    assert self_merge.status_code == 400
    unknown = httpx.post(url, json={"other_id": "cu_nope"}, headers=bearer(rig.token("sam")))
    assert unknown.status_code == 404
    bad = httpx.post(url, content=b"{", headers=bearer(rig.token("sam")))
    assert bad.status_code == 400


async def test_agent_sees_only_customers_of_conversations_it_may_see(rig: ChannelRig):
    await rig.post_twilio(p.twilio_sms("queued", sid="SM" + "3" * 32, sender="+14155550188"))
    (conversation,) = rig.conversations(phone="+14155550188")
    cid, customer_id = conversation["id"], conversation["customer"]["id"]
    url = f"{rig.http}/api/v1/customers/{customer_id}"
    # Waiting in line: every agent may see it (and so its customer).
    assert httpx.get(url, headers=bearer(rig.token("bob"))).status_code == 200
    ws = await rig.take(cid, "alice")
    assert httpx.get(url, headers=bearer(rig.token("alice"))).status_code == 200
    assert httpx.get(url, headers=bearer(rig.token("bob"))).status_code == 404
    assert (
        httpx.get(
            f"{rig.http}/api/v1/customers/cu_nope", headers=bearer(rig.token("sam"))
        ).status_code
        == 404
    )
    assert httpx.get(url).status_code == 401
    await ws.close()


# -- a hardened install: default media rules, only SMS configured -------------


@pytest.fixture(scope="module")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir: Path = tmp_path_factory.mktemp("hardened")
    server = Server(
        workdir,
        f"sqlite:///{workdir / 'switchboard.sqlite3'}",
        SWITCHBOARD_TWILIO_ACCOUNT_SID=p.ACCOUNT_SID,
        SWITCHBOARD_TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        SWITCHBOARD_TWILIO_FROM=p.OUR_NUMBER,
        SWITCHBOARD_TWILIO_API_BASE="http://127.0.0.1:9",
        # Loopback allow-listed by name: the address check must still refuse it.
        SWITCHBOARD_MEDIA_ALLOWED_HOSTS="127.0.0.1,localhost,api.twilio.com",
        **seeded_users(),
    )
    with server:
        yield server


@pytest.mark.parametrize(
    "path",
    ["/webhooks/messenger", "/webhooks/whatsapp", "/webhooks/telegram"],
)
def test_unconfigured_channel_answers_404_channel_disabled(hardened: Server, path: str):
    reply = httpx.post(hardened.http + path, json={"object": "page", "entry": []})
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "channel_disabled"
    assert httpx.get(hardened.http + path).status_code in (404, 405)


PRIVATE_MEDIA = [
    "https://127.0.0.1/2010-04-01/Accounts/AC/Messages/MM/Media/ME",
    "https://localhost:8443/secret",
    "http://169.254.169.254/latest/meta-data/",
    "https://10.0.0.7/internal",
]


@pytest.mark.parametrize("n", range(len(PRIVATE_MEDIA)))
def test_media_url_at_a_private_address_is_not_fetched_message_still_stored(
    hardened: Server, n: int
):
    phone = f"+141555501{n:02d}"
    form = p.twilio_sms(
        "see photo", sid=f"MM{n:032x}", sender=phone, media=((PRIVATE_MEDIA[n], "image/jpeg"),)
    )
    url = hardened.http + "/webhooks/twilio/sms"
    body, headers = twilio_request(AUTH_TOKEN, url, form)
    assert httpx.post(url, content=body, headers=headers).status_code == 200

    sam = token(hardened.http, "sam", PASSWORD)
    listed = httpx.get(hardened.http + "/api/v1/conversations", headers=bearer(sam)).json()
    (conversation,) = [c for c in listed["conversations"] if c["customer"]["phone"] == phone]
    messages = httpx.get(
        f"{hardened.http}/api/v1/conversations/{conversation['id']}/messages", headers=bearer(sam)
    ).json()["messages"]
    assert [m["text"] for m in messages] == ["see photo"]

    path = hardened.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        (row,) = conn.execute(
            "SELECT attributes FROM messages WHERE id = ?", (messages[0]["message_id"],)
        )
    (media,) = json.loads(row[0])["attachments"]
    assert media["fetched"] is False
    assert media["error"]
