"""Messenger, WhatsApp and Telegram end to end: signed webhooks in, replies out
through the Graph and Bot API stand-ins, statuses back to the agent."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.standins import payloads as p
from tests.standins.signing import meta_signature
from tests.support.channels import APP_SECRET, PAGE_TOKEN, VERIFY_TOKEN, ChannelRig, channel_rig
from tests.support.clients import msg_id, recv_until, send


@pytest.fixture(scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ChannelRig]:
    async with channel_rig(tmp_path_factory.mktemp("social")) as running:
        yield running


@pytest.mark.parametrize("channel", ["messenger", "whatsapp"])
def test_meta_verification_handshake(rig: ChannelRig, channel: str):
    params = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    ok = httpx.get(f"{rig.http}/webhooks/{channel}", params=params)
    assert ok.status_code == 200
    assert ok.text == "1158201444" and ok.headers["content-type"].startswith("text/plain")
    wrong = httpx.get(f"{rig.http}/webhooks/{channel}", params=params | {"hub.verify_token": "no"})
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"]


async def test_messenger_message_becomes_a_conversation_and_the_reply_goes_back(rig: ChannelRig):
    psid = "7000000000000001"
    event = p.messenger_text("where is my order?", mid="m_first", psid=psid)
    assert (await rig.post_meta(p.messenger(event))).status_code == 200
    assert (await rig.post_meta(p.messenger(event))).status_code == 200  # Meta redelivers
    attachment = p.messenger_attachment("https://cdn.example/photo.jpg", mid="m_photo")
    attachment["sender"]["id"] = psid
    assert (await rig.post_meta(p.messenger(attachment))).status_code == 200

    (conversation,) = [c for c in rig.conversations() if c["channel"] == "messenger"]
    cid = conversation["id"]
    stored = rig.messages(cid)
    assert len(stored) == 2 and stored[0]["text"] == "where is my order?"
    (media,) = rig.attributes(stored[1]["message_id"])["attachments"]
    assert media["url"] == "https://cdn.example/photo.jpg" and media["fetched"] is False

    ws = await rig.take(cid)
    await send(
        ws, type="message", conversation_id=cid, client_msg_id=msg_id(), text="Let me check."
    )
    ack = await recv_until(ws, "ack")
    sent = await recv_until(ws, "delivery", message_id=ack["message_id"], status="sent")
    (call,) = [c for c in rig.graph.received if c.path.endswith("/me/messages")]
    assert call.authorization == f"Bearer {PAGE_TOKEN}"
    assert call.body["recipient"] == {"id": psid}
    assert call.body["message"] == {"text": "Let me check."}

    delivered = p.messenger_delivery([sent["provider_message_id"]])
    delivered["sender"]["id"] = psid
    assert (await rig.post_meta(p.messenger(delivered))).status_code == 200
    await recv_until(ws, "delivery", message_id=ack["message_id"], status="delivered")
    await ws.close()


async def test_forged_meta_signature_and_bad_bodies_are_refused(rig: ChannelRig):
    payload = p.messenger(p.messenger_text("forged", mid="m_forged", psid="7000000000000002"))
    body = json.dumps(payload).encode()
    forged = await rig.post(
        "/webhooks/messenger",
        body,
        {"Content-Type": "application/json", "X-Hub-Signature-256": meta_signature("wrong", body)},
    )
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "invalid_signature"
    missing = await rig.post("/webhooks/whatsapp", body, {"Content-Type": "application/json"})
    assert missing.status_code == 403

    # Signed over different bytes than sent (re-serialised JSON): refused.
    spaced = json.dumps(payload, indent=2).encode()
    resigned = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": meta_signature(APP_SECRET, body),
    }
    assert (await rig.post("/webhooks/messenger", spaced, resigned)).status_code == 403

    for bad in (b"{not json", b"[1, 2]", json.dumps({"object": "page", "entry": "x"}).encode()):
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": meta_signature(APP_SECRET, bad),
        }
        reply = await rig.post("/webhooks/messenger", bad, headers)
        assert reply.status_code == 400, reply.text
        assert reply.json()["error"]["code"] == "invalid_payload"

    huge = b'{"object": "page", "pad": "' + b"x" * (1024 * 1024) + b'"}'
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": meta_signature(APP_SECRET, huge),
    }
    too_big = await rig.post("/webhooks/messenger", huge, headers)
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "too_large"
    assert [
        c for c in rig.conversations() if c["channel"] == "messenger" and "forged" in str(c)
    ] == []
    assert all(
        "forged" not in m["text"] for c in rig.conversations() for m in rig.messages(c["id"])
    )


async def test_whatsapp_message_reply_and_status(rig: ChannelRig):
    assert (
        await rig.post_meta(p.whatsapp_text("Hi there", wamid="wamid.IN1"), "whatsapp")
    ).status_code == 200
    assert (
        await rig.post_meta(p.whatsapp_text("Hi there", wamid="wamid.IN1"), "whatsapp")
    ).status_code == 200
    (conversation,) = [
        c for c in rig.conversations(phone="+" + p.WA_ID) if c["channel"] == "whatsapp"
    ]
    cid = conversation["id"]
    assert conversation["customer"]["name"] == "Sheena Nelson"
    assert [m["text"] for m in rig.messages(cid)] == ["Hi there"]

    ws = await rig.take(cid)
    await send(ws, type="message", conversation_id=cid, client_msg_id=msg_id(), text="Hello Sheena")
    ack = await recv_until(ws, "ack")
    sent = await recv_until(ws, "delivery", message_id=ack["message_id"], status="sent")
    (call,) = [c for c in rig.graph.received if c.path.endswith(f"/{p.PHONE_NUMBER_ID}/messages")]
    assert call.body["to"] == p.WA_ID and call.body["text"]["body"] == "Hello Sheena"

    failed = p.whatsapp_status(
        "failed",
        wamid=sent["provider_message_id"],
        errors=[{"code": 131047, "title": "Re-engagement message"}],
    )
    assert (await rig.post_meta(failed, "whatsapp")).status_code == 200
    frame = await recv_until(ws, "delivery", message_id=ack["message_id"], status="failed")
    assert frame["error"]["code"] == "131047"
    await ws.close()


async def test_telegram_message_and_reply(rig: ChannelRig):
    update = p.telegram_message("hello bot", update_id=501, message_id=77, chat_id=4242)
    assert (await rig.post_telegram(update)).status_code == 200
    assert (await rig.post_telegram(update)).status_code == 200
    (conversation,) = [c for c in rig.conversations() if c["channel"] == "telegram"]
    cid = conversation["id"]
    assert [m["text"] for m in rig.messages(cid)] == ["hello bot"]

    body = json.dumps(update).encode()
    for secret in ("wrong", None):
        headers = {"Content-Type": "application/json"}
        if secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        reply = await rig.post("/webhooks/telegram", body, headers)
        assert reply.status_code == 403 and reply.json()["error"]["code"] == "invalid_signature"

    ws = await rig.take(cid)
    await send(ws, type="message", conversation_id=cid, client_msg_id=msg_id(), text="Hi from us")
    ack = await recv_until(ws, "ack")
    sent = await recv_until(ws, "delivery", message_id=ack["message_id"], status="sent")
    assert sent["provider_message_id"].startswith("4242:")
    (call,) = rig.telegram.received
    assert call.body == {"chat_id": "4242", "text": "Hi from us"}
    await ws.close()
