"""SMS over Twilio end to end: signed webhooks in, agent replies out through the
twilio client to the stand-in, delivery reports back to the agent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.standins.http import FailureQueue
from tests.standins.payloads import OUR_NUMBER, twilio_sms, twilio_status
from tests.support.channels import ChannelRig, channel_rig
from tests.support.clients import msg_id, recv_until, send


@pytest.fixture(scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ChannelRig]:
    async with channel_rig(tmp_path_factory.mktemp("sms")) as running:
        yield running


def sid(n: int) -> str:
    return f"SM{n:032x}"


async def texted_and_taken(rig: ChannelRig, phone: str, text: str, n: int) -> tuple[str, Any]:
    """A customer texts in; an agent takes the new conversation (its socket)."""
    assert (await rig.post_twilio(twilio_sms(text, sid=sid(n), sender=phone))).status_code == 200
    (conversation,) = rig.conversations(phone=phone)
    cid = str(conversation["id"])
    return cid, await rig.take(cid)


async def test_sms_opens_a_conversation_an_agent_replies_and_sees_delivery(rig: ChannelRig):
    phone = "+14155550101"
    first = await rig.post_twilio(twilio_sms("my parcel is late", sid=sid(1), sender=phone))
    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("text/xml")
    assert "<Response/>" in first.text

    # Twilio retries the same MessageSid: exactly one message.
    again = await rig.post_twilio(twilio_sms("my parcel is late", sid=sid(1), sender=phone))
    assert again.status_code == 200
    # A second SMS joins the customer's open conversation.
    assert (
        await rig.post_twilio(twilio_sms("hello?", sid=sid(2), sender=phone))
    ).status_code == 200

    (conversation,) = rig.conversations(phone=phone)
    assert conversation["channel"] == "sms"
    cid = conversation["id"]
    assert [(m["text"], m["channel"]) for m in rig.messages(cid)] == [
        ("my parcel is late", "sms"),
        ("hello?", "sms"),
    ]

    ws = await rig.take(cid)
    await send(ws, type="message", conversation_id=cid, client_msg_id=msg_id(), text="On its way!")
    ack = await recv_until(ws, "ack")
    sent = await recv_until(ws, "delivery", message_id=ack["message_id"], attempts=1)
    assert sent["conversation_id"] == cid and sent["status"] == "queued"

    (received,) = [r for r in rig.twilio.received if r.form.get("To") == phone]
    assert received.form["Body"] == "On its way!"
    assert received.form["From"] == OUR_NUMBER
    assert received.form["StatusCallback"] == rig.http + "/webhooks/twilio/status"

    # Twilio reports back; the agent sees it.
    provider_id = sent["provider_message_id"]
    for status in ("sent", "delivered"):
        reply = await rig.post_twilio(
            twilio_status(status, sid=provider_id), path="/webhooks/twilio/status"
        )
        assert reply.status_code in (200, 204), reply.text
        frame = await recv_until(ws, "delivery", message_id=ack["message_id"], status=status)
        assert "error" not in frame
    await ws.close()


async def test_forged_or_missing_twilio_signature_is_refused_and_nothing_stored(rig: ChannelRig):
    phone = "+14155550102"
    form = twilio_sms("forged", sid=sid(10), sender=phone)
    missing = await rig.post_twilio(form, signed=False)
    assert missing.status_code == 403
    assert missing.json()["error"]["code"] == "invalid_signature"

    body, headers = await _signed(rig, form)
    tampered = body.replace(b"forged", b"FORGED")
    forged = await rig.post("/webhooks/twilio/sms", tampered, headers)
    assert forged.status_code == 403
    assert forged.json()["error"]["code"] == "invalid_signature"

    # A real signature, but for another URL: a replay against a different endpoint.
    body, headers = await _signed(rig, form)
    elsewhere = await rig.post("/webhooks/twilio/status", body, headers)
    assert elsewhere.status_code == 403
    assert rig.conversations(phone=phone) == []


async def _signed(rig: ChannelRig, form: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    from tests.standins.signing import twilio_request
    from tests.support.channels import AUTH_TOKEN

    return twilio_request(AUTH_TOKEN, rig.http + "/webhooks/twilio/sms", form)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"MessageSid=a&MessageSid=b", 400, "invalid_payload"),
        (b"\xff\xfe=\x00", 400, "invalid_payload"),
        (b"x" * (1024 * 1024 + 1), 413, "too_large"),
    ],
)
async def test_malformed_or_oversized_form_is_refused(
    rig: ChannelRig, body: bytes, status: int, code: str
):
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"}
    reply = await rig.post("/webhooks/twilio/sms", body, headers)
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["code"] == code
    assert reply.json()["error"]["message"]
    # ... and the server keeps serving.
    assert (await rig.post_twilio(twilio_sms("still here", sid=sid(20)))).status_code == 200


async def test_signed_form_missing_fields_is_400(rig: ChannelRig):
    reply = await rig.post_twilio({"Body": "no sid", "From": "+14155550103"})
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "invalid_payload"
    assert rig.conversations(phone="+14155550103") == []


async def test_mms_media_is_fetched_from_an_allowed_host_and_recorded(rig: ChannelRig):
    rig.twilio.media["photo1"] = (b"\x89PNG fake", "image/png")
    url = f"{rig.twilio.base_url}/media/photo1"
    form = twilio_sms("", sid=sid(30), sender="+14155550104", media=((url, "image/png"),))
    assert (await rig.post_twilio(form)).status_code == 200
    (conversation,) = rig.conversations(phone="+14155550104")
    (message,) = rig.messages(conversation["id"])
    (media,) = rig.attributes(message["message_id"])["attachments"]
    assert media["fetched"] is True and media["size"] == len(b"\x89PNG fake")
    assert rig.twilio.media_requests[-1]["authorization"].startswith("Basic ")


async def test_transient_failure_is_retried_permanent_one_is_a_dead_letter(rig: ChannelRig):
    phone = "+14155550105"
    cid, ws = await texted_and_taken(rig, phone, "hi", 40)

    rig.twilio.fail(503, 20500, "Internal Server Error")
    await send(ws, type="message", conversation_id=cid, client_msg_id=msg_id(), text="retry me")
    ack = await recv_until(ws, "ack")
    done = await recv_until(ws, "delivery", message_id=ack["message_id"], attempts=2)
    assert done["status"] == "queued" and not done["dead_letter"]

    rig.twilio.fail(400, 21211, "The 'To' number is not a valid phone number.")
    await send(ws, type="message", conversation_id=cid, client_msg_id=msg_id(), text="bad number")
    ack = await recv_until(ws, "ack")
    dead = await recv_until(ws, "delivery", message_id=ack["message_id"], status="failed")
    assert dead["dead_letter"] is True and dead["attempts"] == 1
    assert dead["error"]["code"] == "21211"
    rows = rig.db(
        "SELECT dead_letter, last_error FROM deliveries WHERE message_id = ?", ack["message_id"]
    )
    assert rows[0][0] == 1 and "21211" in rows[0][1]

    # A failed status report after acceptance is surfaced too.
    await send(ws, type="message", conversation_id=cid, client_msg_id=msg_id(), text="bounce")
    ack = await recv_until(ws, "ack")
    sent = await recv_until(ws, "delivery", message_id=ack["message_id"], attempts=1)
    report = twilio_status("undelivered", sid=sent["provider_message_id"], error_code="30003")
    assert (await rig.post_twilio(report, path="/webhooks/twilio/status")).status_code in (200, 204)
    frame = await recv_until(ws, "delivery", message_id=ack["message_id"], status="undelivered")
    assert frame["error"]["code"] == "30003"
    await ws.close()


async def test_stop_opts_out_and_replies_are_refused_until_start(rig: ChannelRig):
    phone = "+14155550106"
    cid, ws = await texted_and_taken(rig, phone, "help", 50)

    assert (await rig.post_twilio(twilio_sms("Stop", sid=sid(51), sender=phone))).status_code == 200
    stop = await recv_until(ws, "message", conversation_id=cid, text="STOP")
    assert stop["sender"]["role"] == "customer"
    before = len(rig.twilio.received)
    await send(
        ws, type="message", conversation_id=cid, client_msg_id=msg_id(), text="are you sure?"
    )
    ack = await recv_until(ws, "ack")
    refused = await recv_until(ws, "delivery", message_id=ack["message_id"])
    assert refused["status"] == "failed" and refused["dead_letter"] is True
    assert refused["error"]["code"] == "opted_out"
    assert len(rig.twilio.received) == before
    assert [m["text"] for m in rig.messages(cid)][-1] == "are you sure?"  # stored, not sent

    assert (
        await rig.post_twilio(twilio_sms("START", sid=sid(52), sender=phone))
    ).status_code == 200
    await send(ws, type="message", conversation_id=cid, client_msg_id=msg_id(), text="welcome back")
    ack = await recv_until(ws, "ack")
    sent = await recv_until(ws, "delivery", message_id=ack["message_id"], attempts=1)
    assert sent["status"] == "queued"
    assert rig.twilio.received[-1].form["Body"] == "welcome back"
    await ws.close()


async def test_reply_cut_off_by_a_restart_is_sent_when_the_server_is_back(rig: ChannelRig):
    phone = "+14155550199"
    cid, ws = await texted_and_taken(rig, phone, "hi", 90)
    rig.twilio.fail(503, 20500, "Internal Server Error", times=1000)  # Twilio is down
    await send(ws, type="message", conversation_id=cid, client_msg_id=msg_id(), text="resume me")
    ack = await recv_until(ws, "ack")
    await recv_until(ws, "delivery", message_id=ack["message_id"], status="queued")
    await ws.close()

    await asyncio.to_thread(rig.server.stop)  # mid-retry
    rig.twilio.failures = FailureQueue()  # Twilio is back
    await asyncio.to_thread(rig.server.start)

    def finished() -> bool:
        rows = rig.db("SELECT attempts FROM deliveries WHERE message_id = ?", ack["message_id"])
        return bool(rows) and rows[0][0] >= 1

    async with asyncio.timeout(15):
        while not finished():
            await asyncio.sleep(0.05)
    delivered = [r for r in rig.twilio.received if r.form.get("Body") == "resume me"]
    assert delivered[-1].form["To"] == phone
    (status,) = rig.db(
        "SELECT status, dead_letter FROM deliveries WHERE message_id = ?", ack["message_id"]
    )
    assert status == ("queued", 0)  # accepted by Twilio, as Twilio words it
