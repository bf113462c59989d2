from __future__ import annotations

import json
from typing import Any

import pytest

from channels.errors import ChannelPayloadError, PermanentSendError, TransientSendError
from channels.inbound import DeliveryStatusUpdate, InboundMessage
from channels.meta import (
    MessengerSender,
    WhatsAppSender,
    parse_messenger,
    parse_whatsapp,
    verify_handshake,
    verify_meta_signature,
)
from channels.outbound import OutboundMessage
from channels.retry import Delivered, RetryPolicy, send_with_retry
from channels.webhook import decode_json
from tests.channels.conftest import PAGE_TOKEN, WHATSAPP_TOKEN, Closer, RecordingSleep
from tests.standins import payloads
from tests.standins.graph_api import GraphStandin, graph_error
from tests.standins.http import Failure
from tests.standins.signing import meta_request

SECRET = "app-secret-123"


def test_handshake_echoes_challenge_only_for_our_token() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "tok", "hub.challenge": "1158201444"}
    assert verify_handshake(params, "tok") == "1158201444"
    assert verify_handshake(params | {"hub.verify_token": "nope"}, "tok") is None
    assert verify_handshake(params | {"hub.mode": "unsubscribe"}, "tok") is None
    assert verify_handshake({"hub.mode": "subscribe", "hub.challenge": "1"}, "tok") is None
    assert verify_handshake(params, "") is None


def test_signature_verifies_raw_body() -> None:
    body, headers = meta_request(SECRET, payloads.messenger(payloads.messenger_text()))
    assert verify_meta_signature(SECRET, body, headers["X-Hub-Signature-256"])
    assert verify_meta_signature(
        SECRET, body, headers["X-Hub-Signature-256"].upper().replace("SHA256", "sha256")
    )


@pytest.mark.parametrize(
    "header",
    [None, "", "sha256=", "sha1=abc", "sha256=" + "0" * 64, "garbage"],
)
def test_missing_or_forged_signature_fails(header: str | None) -> None:
    body, _ = meta_request(SECRET, payloads.messenger(payloads.messenger_text()))
    assert not verify_meta_signature(SECRET, body, header)


def test_signature_of_other_body_or_secret_fails() -> None:
    body, headers = meta_request(SECRET, payloads.messenger(payloads.messenger_text()))
    assert not verify_meta_signature(SECRET, body + b" ", headers["X-Hub-Signature-256"])
    assert not verify_meta_signature("other", body, headers["X-Hub-Signature-256"])
    assert not verify_meta_signature("", body, headers["X-Hub-Signature-256"])


def test_messenger_text_message() -> None:
    [msg] = parse_messenger(payloads.messenger(payloads.messenger_text("Is it in stock?")))
    assert isinstance(msg, InboundMessage)
    assert (msg.channel, msg.external_id, msg.sender, msg.text) == (
        "messenger",
        "m_AAA",
        payloads.PSID,
        "Is it in stock?",
    )
    assert msg.identity == ("messenger", payloads.PSID)
    assert msg.received_at.year == 2023


def test_messenger_replay_has_same_external_id() -> None:
    payload = payloads.messenger(payloads.messenger_text())
    assert (
        parse_messenger(payload)[0].external_id
        == parse_messenger(json.loads(json.dumps(payload)))[0].external_id
    )


def test_messenger_attachment_echo_delivery_read() -> None:
    events = parse_messenger(
        payloads.messenger(
            payloads.messenger_attachment("https://scontent.xx.fbcdn.net/v/photo.jpg"),
            payloads.messenger_echo(),
            payloads.messenger_delivery(["m_OURS1", "m_OURS2"]),
            payloads.messenger_read(),
        )
    )
    image, delivered1, delivered2, read = events
    assert isinstance(image, InboundMessage)
    assert image.attachments[0].url == "https://scontent.xx.fbcdn.net/v/photo.jpg"
    assert image.attachments[0].content_type == "image/*"
    assert isinstance(delivered1, DeliveryStatusUpdate)
    assert [(e.external_id, e.status) for e in (delivered1, delivered2)] == [
        ("m_OURS1", "delivered"),
        ("m_OURS2", "delivered"),
    ]
    assert isinstance(read, DeliveryStatusUpdate)
    assert (read.external_id, read.status, read.recipient) == (None, "read", payloads.PSID)
    assert read.watermark is not None


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {},
        {"object": "instagram", "entry": []},
        {"object": "page"},
        {"object": "page", "entry": [{"id": "1", "messaging": [{"sender": {}}]}]},
        {
            "object": "page",
            "entry": [
                {
                    "id": "1",
                    "messaging": [
                        {"sender": {"id": "1"}, "recipient": {"id": "2"}, "timestamp": "soon"}
                    ],
                }
            ],
        },
        {
            "object": "page",
            "entry": [
                {
                    "id": "1",
                    "messaging": [
                        {
                            "sender": {"id": "1"},
                            "recipient": {"id": "2"},
                            "timestamp": 1,
                            "message": {"text": "no mid"},
                        }
                    ],
                }
            ],
        },
    ],
)
def test_malformed_messenger_payload_is_rejected(payload: Any) -> None:
    with pytest.raises(ChannelPayloadError, match="malformed Messenger"):
        parse_messenger(payload)


def test_malformed_and_oversized_json_bodies() -> None:
    with pytest.raises(ChannelPayloadError):
        decode_json(b"{not json")
    with pytest.raises(ChannelPayloadError, match="object"):
        decode_json(b"[1, 2]")
    with pytest.raises(ChannelPayloadError):
        decode_json(b"\xff\xfe")
    with pytest.raises(ChannelPayloadError, match="limit"):
        decode_json(b'{"a": "' + b"x" * 100 + b'"}', max_bytes=50)


def test_whatsapp_text_message_with_contact_name() -> None:
    [msg] = parse_whatsapp(payloads.whatsapp_text("My order #123?"))
    assert isinstance(msg, InboundMessage)
    assert (msg.channel, msg.external_id, msg.sender, msg.sender_name, msg.text) == (
        "whatsapp",
        "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQ",
        payloads.WA_ID,
        "Sheena Nelson",
        "My order #123?",
    )
    assert msg.identity == ("phone", "+" + payloads.WA_ID)


def test_whatsapp_image_and_document() -> None:
    [image] = parse_whatsapp(payloads.whatsapp_image("1003383421387256"))
    [doc] = parse_whatsapp(payloads.whatsapp_document())
    assert isinstance(image, InboundMessage) and isinstance(doc, InboundMessage)
    assert image.text == "broken box"
    assert (image.attachments[0].provider_ref, image.attachments[0].content_type) == (
        "1003383421387256",
        "image/jpeg",
    )
    assert (doc.attachments[0].filename, doc.attachments[0].content_type) == (
        "invoice.pdf",
        "application/pdf",
    )


@pytest.mark.parametrize("status", ["sent", "delivered", "read"])
def test_whatsapp_statuses(status: str) -> None:
    [update] = parse_whatsapp(payloads.whatsapp_status(status))
    assert isinstance(update, DeliveryStatusUpdate)
    assert (update.external_id, update.status, update.recipient) == (
        "wamid.OURS",
        status,
        payloads.WA_ID,
    )


def test_whatsapp_failed_status_carries_error() -> None:
    errors = [
        {
            "code": 131047,
            "title": "Re-engagement message",
            "error_data": {"details": "Message failed to send because more than 24 hours"},
        }
    ]
    [update] = parse_whatsapp(payloads.whatsapp_status("failed", errors=errors))
    assert isinstance(update, DeliveryStatusUpdate)
    assert (update.status, update.error_code) == ("failed", "131047")
    assert update.error_message is not None and "24 hours" in update.error_message


def test_whatsapp_non_message_changes_are_ignored() -> None:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "account_update", "value": {"x": 1}}]}],
    }
    assert parse_whatsapp(payload) == []


@pytest.mark.parametrize(
    "payload",
    [
        {"object": "page", "entry": []},
        {"object": "whatsapp_business_account", "entry": [{"id": "1"}]},
        payloads.whatsapp({"messages": [{"from": "1", "id": "x", "type": "text"}]}),
        payloads.whatsapp(
            {
                "messages": [
                    {
                        "from": "1",
                        "id": "x",
                        "timestamp": "nope",
                        "type": "text",
                        "text": {"body": "hi"},
                    }
                ]
            }
        ),
        payloads.whatsapp_status("exploded"),
        payloads.whatsapp({"messaging_product": "sms"}),
    ],
)
def test_malformed_whatsapp_payload_is_rejected(payload: Any) -> None:
    with pytest.raises(ChannelPayloadError):
        parse_whatsapp(payload)


# -- sending -------------------------------------------------------------------


def messenger_sender(
    closing: Closer, api: GraphStandin, token: str = PAGE_TOKEN
) -> MessengerSender:
    return closing(MessengerSender(page_access_token=token, api_base=api.api_base, timeout=5))


def whatsapp_sender(closing: Closer, api: GraphStandin) -> WhatsAppSender:
    return closing(
        WhatsAppSender(
            access_token=WHATSAPP_TOKEN,
            phone_number_id=payloads.PHONE_NUMBER_ID,
            api_base=api.api_base,
            timeout=5,
        )
    )


async def test_messenger_send(closing: Closer, graph_api: GraphStandin) -> None:
    sender = messenger_sender(closing, graph_api)
    result = await sender.send(OutboundMessage("messenger", payloads.PSID, "In stock!", "msg_1"))
    assert result.provider_message_id.startswith("m_")
    [call] = graph_api.received
    assert call.path == "/v21.0/me/messages"
    assert call.authorization == f"Bearer {PAGE_TOKEN}"
    assert call.body == {
        "recipient": {"id": payloads.PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "In stock!"},
    }


async def test_whatsapp_send(closing: Closer, graph_api: GraphStandin) -> None:
    sender = whatsapp_sender(closing, graph_api)
    result = await sender.send(OutboundMessage("whatsapp", "+16505551234", "On its way", "msg_2"))
    assert result.provider_message_id.startswith("wamid.")
    [call] = graph_api.received
    assert call.path == f"/v21.0/{payloads.PHONE_NUMBER_ID}/messages"
    assert call.authorization == f"Bearer {WHATSAPP_TOKEN}"
    assert call.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16505551234",
        "type": "text",
        "text": {"preview_url": False, "body": "On its way"},
    }


@pytest.mark.parametrize(
    "failure",
    [
        graph_error(500, 2, "Service temporarily unavailable"),
        graph_error(400, 4, "Application request limit reached"),
        graph_error(400, 130429, "Rate limit hit"),
        graph_error(429, 80007, "Too many calls"),
        Failure(502, "<html>Bad Gateway</html>"),
    ],
)
async def test_graph_transient_errors(
    closing: Closer, graph_api: GraphStandin, failure: Failure
) -> None:
    graph_api.failures.add(failure)
    with pytest.raises(TransientSendError):
        await messenger_sender(closing, graph_api).send(OutboundMessage("messenger", "1", "x", "m"))


@pytest.mark.parametrize(
    "failure",
    [
        graph_error(400, 100, "Invalid parameter"),
        graph_error(400, 131047, "Re-engagement message"),
        graph_error(400, 551, "This person isn't available right now."),
    ],
)
async def test_graph_permanent_errors(
    closing: Closer, graph_api: GraphStandin, failure: Failure
) -> None:
    graph_api.failures.add(failure)
    with pytest.raises(PermanentSendError) as info:
        await whatsapp_sender(closing, graph_api).send(OutboundMessage("whatsapp", "1", "x", "m"))
    assert info.value.code == str(failure.body["error"]["code"])


async def test_bad_token_is_permanent_and_not_leaked(
    closing: Closer, graph_api: GraphStandin
) -> None:
    with pytest.raises(PermanentSendError) as info:
        await messenger_sender(closing, graph_api, token="leaky-token").send(
            OutboundMessage("messenger", "1", "x", "m")
        )
    assert info.value.code == "190"
    assert "leaky-token" not in str(info.value)


async def test_throttled_messenger_send_retries_then_succeeds(
    closing: Closer, graph_api: GraphStandin, no_sleep: RecordingSleep
) -> None:
    graph_api.failures.add(
        graph_error(400, 613, "Calls to this api have exceeded the rate limit"), 2
    )
    outcome = await send_with_retry(
        messenger_sender(closing, graph_api),
        OutboundMessage("messenger", "1", "x", "m"),
        RetryPolicy(base_delay=0.5, jitter=0.5),
        sleep=no_sleep,
        rand=lambda: 1.0,
    )
    assert isinstance(outcome, Delivered) and outcome.attempts == 3
    assert no_sleep.delays == [0.25, 0.5]


async def test_wrong_channel_or_overlong_text_is_refused(
    closing: Closer, graph_api: GraphStandin
) -> None:
    with pytest.raises(PermanentSendError, match="cannot send"):
        await messenger_sender(closing, graph_api).send(OutboundMessage("sms", "1", "x", "m"))
    with pytest.raises(PermanentSendError, match="2000"):
        await messenger_sender(closing, graph_api).send(
            OutboundMessage("messenger", "1", "x" * 2001, "m")
        )
    assert graph_api.received == []
