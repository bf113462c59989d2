from __future__ import annotations

from datetime import UTC, datetime

import pytest

from channels.errors import (
    ChannelPayloadError,
    MediaFetchError,
    PayloadTooLarge,
    PermanentSendError,
    TransientSendError,
)
from channels.inbound import InboundMessage, OptIn, OptOut
from channels.media import fetch_media
from channels.outbound import OutboundMessage
from channels.retry import DeadLetter, Delivered, RetryPolicy, send_with_retry
from channels.sms import (
    TwilioSmsSender,
    parse_twilio_sms,
    parse_twilio_status,
    verify_twilio_signature,
)
from channels.webhook import decode_form, webhook_url
from egress import Policy, parse_network
from tests.channels.conftest import AUTH_TOKEN, RecordingSleep
from tests.standins import payloads
from tests.standins.signing import twilio_request
from tests.standins.twilio_api import TwilioStandin

PUBLIC = "https://switchboard.example.com"
LOOPBACK = Policy(allow=(parse_network("127.0.0.0/8"),))
"""The stand-ins listen on loopback over plain http: what ``fetch_allow`` grants."""
URL = webhook_url(PUBLIC, "/webhooks/twilio/sms")


def signed(form: dict[str, str]) -> tuple[dict[str, str], str]:
    body, headers = twilio_request(AUTH_TOKEN, URL, form)
    return decode_form(body), headers["X-Twilio-Signature"]


# -- signatures ----------------------------------------------------------------


def test_signature_from_twilio_verifies() -> None:
    form, signature = signed(payloads.twilio_sms())
    assert verify_twilio_signature(AUTH_TOKEN, URL, form, signature)


def test_forged_signature_fails() -> None:
    form, signature = signed(payloads.twilio_sms())
    assert not verify_twilio_signature("another-token", URL, form, signature)
    assert not verify_twilio_signature(AUTH_TOKEN, URL, form, "AAAA" + signature[4:])


def test_missing_signature_or_token_fails() -> None:
    form, signature = signed(payloads.twilio_sms())
    assert not verify_twilio_signature(AUTH_TOKEN, URL, form, None)
    assert not verify_twilio_signature(AUTH_TOKEN, URL, form, "")
    assert not verify_twilio_signature("", URL, form, signature)


def test_tampered_body_or_other_url_fails() -> None:
    form, signature = signed(payloads.twilio_sms())
    assert not verify_twilio_signature(AUTH_TOKEN, URL, form | {"Body": "refund me"}, signature)
    other = webhook_url(PUBLIC, "/webhooks/twilio/status")
    assert not verify_twilio_signature(AUTH_TOKEN, other, form, signature)


# -- parsing -------------------------------------------------------------------


def test_sms_parses_to_inbound_message() -> None:
    when = datetime(2025, 1, 6, tzinfo=UTC)
    msg = parse_twilio_sms(payloads.twilio_sms("Where is my order?"), received_at=when)
    assert isinstance(msg, InboundMessage)
    assert msg.channel == "sms"
    assert msg.external_id == "SM" + "a" * 32
    assert msg.sender == "+14155550100"
    assert msg.recipient == payloads.OUR_NUMBER
    assert msg.text == "Where is my order?"
    assert msg.received_at == when
    assert msg.identity == ("phone", "+14155550100")


def test_replayed_webhook_yields_same_external_id() -> None:
    form = payloads.twilio_sms()
    first, second = parse_twilio_sms(form), parse_twilio_sms(dict(form))
    assert first.external_id == second.external_id


def test_mms_media_become_attachments() -> None:
    form = payloads.twilio_sms(
        "see photo",
        media=(
            ("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "image/jpeg"),
            ("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2", "video/mp4"),
        ),
    )
    msg = parse_twilio_sms(form)
    assert isinstance(msg, InboundMessage)
    assert [(a.content_type, a.url) for a in msg.attachments] == [
        (form["MediaContentType0"], form["MediaUrl0"]),
        (form["MediaContentType1"], form["MediaUrl1"]),
    ]


@pytest.mark.parametrize(
    "body", ["STOP", "stop", " Unsubscribe ", "cancel", "End", "QUIT", "stopall"]
)
def test_opt_out_keywords(body: str) -> None:
    event = parse_twilio_sms(payloads.twilio_sms(body))
    assert isinstance(event, OptOut)
    assert event.keyword == body.strip().upper()
    assert event.sender == "+14155550100"


@pytest.mark.parametrize("body", ["START", "unstop"])
def test_opt_in_keywords(body: str) -> None:
    assert isinstance(parse_twilio_sms(payloads.twilio_sms(body)), OptIn)


def test_keyword_inside_a_sentence_is_a_message() -> None:
    assert isinstance(
        parse_twilio_sms(payloads.twilio_sms("please stop the order")), InboundMessage
    )


@pytest.mark.parametrize(
    "change",
    [
        {"MessageSid": ""},
        {"From": ""},
        {"NumMedia": "x"},
        {"NumMedia": "11"},
        {"NumMedia": "1"},  # MediaUrl0 missing
    ],
)
def test_malformed_sms_form_is_rejected(change: dict[str, str]) -> None:
    with pytest.raises(ChannelPayloadError):
        parse_twilio_sms(payloads.twilio_sms() | change)


def test_malformed_and_oversized_form_bodies() -> None:
    with pytest.raises(ChannelPayloadError):
        decode_form(b"\xff\xfe=1")
    with pytest.raises(ChannelPayloadError):
        decode_form(b"Body=a&Body=b")
    with pytest.raises(ChannelPayloadError):
        decode_form(b"no-equals-sign")
    with pytest.raises(PayloadTooLarge):
        decode_form(b"Body=" + b"a" * 2000, max_bytes=1000)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("queued", "queued"),
        ("sending", "queued"),
        ("sent", "sent"),
        ("delivered", "delivered"),
        ("undelivered", "undelivered"),
        ("failed", "failed"),
        ("read", "read"),
    ],
)
def test_status_callback_maps_status(raw: str, expected: str) -> None:
    update = parse_twilio_status(payloads.twilio_status(raw))
    assert (update.channel, update.external_id, update.status) == ("sms", "SM" + "b" * 32, expected)


def test_status_callback_carries_error_code() -> None:
    update = parse_twilio_status(payloads.twilio_status("undelivered", error_code="30006"))
    assert update.error_code == "30006"


def test_unknown_status_is_rejected() -> None:
    with pytest.raises(ChannelPayloadError, match="unknown"):
        parse_twilio_status(payloads.twilio_status("exploded"))


# -- sending through the real twilio client -------------------------------------


def sender_for(api: TwilioStandin) -> TwilioSmsSender:
    return TwilioSmsSender(
        account_sid=api.account_sid,
        auth_token=AUTH_TOKEN,
        from_number=payloads.OUR_NUMBER,
        api_base=api.base_url,
        status_callback=webhook_url(PUBLIC, "/webhooks/twilio/status"),
        timeout=5,
    )


def reply(text: str = "Your parcel ships today.") -> OutboundMessage:
    return OutboundMessage("sms", "+14155550100", text, "msg_1")


async def test_sender_posts_twilio_form_with_basic_auth(twilio_api: TwilioStandin) -> None:
    sender = sender_for(twilio_api)
    result = await sender.send(reply())
    await sender.aclose()
    assert result.provider_message_id.startswith("SM") and result.status == "queued"
    [received] = twilio_api.received
    assert received.account_sid == payloads.ACCOUNT_SID
    assert received.form == {
        "To": "+14155550100",
        "From": payloads.OUR_NUMBER,
        "Body": "Your parcel ships today.",
        "StatusCallback": f"{PUBLIC}/webhooks/twilio/status",
    }


async def test_wrong_credentials_are_permanent(twilio_api: TwilioStandin) -> None:
    sender = TwilioSmsSender(
        account_sid=twilio_api.account_sid,
        auth_token="wrong",
        from_number=payloads.OUR_NUMBER,
        api_base=twilio_api.base_url,
    )
    with pytest.raises(PermanentSendError) as info:
        await sender.send(reply())
    assert (info.value.status, info.value.code) == (401, "20003")


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_server_errors_and_throttling_are_transient(
    twilio_api: TwilioStandin, status: int
) -> None:
    twilio_api.fail(status, 20429 if status == 429 else 20500, "try later")
    with pytest.raises(TransientSendError) as info:
        await sender_for(twilio_api).send(reply())
    assert info.value.status == status


async def test_unsubscribed_recipient_is_permanent(twilio_api: TwilioStandin) -> None:
    twilio_api.fail(400, 21610, "Attempt to send to unsubscribed recipient")
    with pytest.raises(PermanentSendError) as info:
        await sender_for(twilio_api).send(reply())
    assert info.value.code == "21610"


async def test_unreachable_twilio_is_transient(twilio_api: TwilioStandin) -> None:
    sender = TwilioSmsSender(
        account_sid=twilio_api.account_sid,
        auth_token=AUTH_TOKEN,
        from_number=payloads.OUR_NUMBER,
        api_base="http://127.0.0.1:9",  # discard port: nothing listens
    )
    with pytest.raises(TransientSendError):
        await sender.send(reply())


async def test_overlong_body_is_refused_before_sending(twilio_api: TwilioStandin) -> None:
    with pytest.raises(PermanentSendError, match="1600"):
        await sender_for(twilio_api).send(reply("x" * 1601))
    assert twilio_api.received == []


async def test_retries_with_backoff_then_succeeds(
    twilio_api: TwilioStandin, no_sleep: RecordingSleep
) -> None:
    twilio_api.fail(500, 20500, "Internal error", times=2)
    policy = RetryPolicy(max_attempts=5, base_delay=1, multiplier=2, jitter=0)
    outcome = await send_with_retry(sender_for(twilio_api), reply(), policy, sleep=no_sleep)
    assert isinstance(outcome, Delivered)
    assert outcome.attempts == 3
    assert no_sleep.delays == [1, 2]
    assert len(twilio_api.received) == 3


async def test_permanent_failure_becomes_dead_letter(
    twilio_api: TwilioStandin, no_sleep: RecordingSleep
) -> None:
    twilio_api.fail(400, 21610, "Attempt to send to unsubscribed recipient")
    outcome = await send_with_retry(sender_for(twilio_api), reply(), RetryPolicy(), sleep=no_sleep)
    assert isinstance(outcome, DeadLetter)
    assert (outcome.permanent, outcome.attempts, outcome.error_code) == (True, 1, "21610")
    assert outcome.message == reply()
    assert no_sleep.delays == []


# -- media ---------------------------------------------------------------------


async def test_fetch_media_from_allowed_host(twilio_api: TwilioStandin) -> None:
    twilio_api.media["ME1"] = (b"\x89PNG...", "image/png")
    media = await fetch_media(
        f"{twilio_api.base_url}/media/ME1",
        allowed_hosts=["127.0.0.1"],
        max_bytes=1000,
        timeout=5,
        policy=LOOPBACK,
        auth=("AC1", "secret"),
    )
    assert (media.content, media.content_type) == (b"\x89PNG...", "image/png")
    assert twilio_api.media_requests[0]["authorization"].startswith("Basic ")


async def test_media_url_on_private_address_is_rejected(twilio_api: TwilioStandin) -> None:
    twilio_api.media["ME1"] = (b"secret", "text/plain")
    for url in (
        f"https://127.0.0.1:{twilio_api.port}/media/ME1",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.5/x",
        "https://[::1]/x",
        "https://[::ffff:127.0.0.1]/x",
    ):
        with pytest.raises(MediaFetchError, match="non-public"):
            await fetch_media(
                url,
                allowed_hosts=[
                    "127.0.0.1",
                    "169.254.169.254",
                    "10.0.0.5",
                    "::1",
                    "::ffff:127.0.0.1",
                ],
                max_bytes=1000,
                timeout=5,
            )
    assert twilio_api.media_requests == []


async def test_media_host_must_be_allowed_and_https() -> None:
    with pytest.raises(MediaFetchError, match="allowed"):
        await fetch_media(
            "https://evil.example/x", allowed_hosts=["api.twilio.com"], max_bytes=10, timeout=5
        )
    with pytest.raises(MediaFetchError, match="scheme"):
        await fetch_media(
            "http://api.twilio.com/x", allowed_hosts=["api.twilio.com"], max_bytes=10, timeout=5
        )
    with pytest.raises(MediaFetchError, match="scheme"):
        await fetch_media("file:///etc/passwd", allowed_hosts=["*"], max_bytes=10, timeout=5)


async def test_media_over_size_limit_is_rejected(twilio_api: TwilioStandin) -> None:
    twilio_api.media["big"] = (b"x" * 5000, "image/png")
    with pytest.raises(MediaFetchError, match="limit"):
        await fetch_media(
            f"{twilio_api.base_url}/media/big",
            allowed_hosts=["127.0.0.1"],
            max_bytes=4999,
            timeout=5,
            policy=LOOPBACK,
        )


async def test_media_redirect_to_unlisted_host_is_rejected(twilio_api: TwilioStandin) -> None:
    twilio_api.redirects["ME1"] = "https://evil.example/steal"
    with pytest.raises(MediaFetchError, match=r"evil\.example"):
        await fetch_media(
            f"{twilio_api.base_url}/media/ME1",
            allowed_hosts=["127.0.0.1"],
            max_bytes=100,
            timeout=5,
            policy=LOOPBACK,
        )


async def test_media_redirect_on_allowed_hosts_drops_credentials_across_hosts(
    twilio_api: TwilioStandin,
) -> None:
    twilio_api.media["real"] = (b"data", "image/png")
    twilio_api.redirects["ME1"] = f"http://localhost:{twilio_api.port}/media/real"
    media = await fetch_media(
        f"{twilio_api.base_url}/media/ME1",
        allowed_hosts=["127.0.0.1", "localhost"],
        max_bytes=100,
        timeout=5,
        policy=LOOPBACK,
        auth=("AC1", "secret"),
    )
    assert media.content == b"data"
    first, second = twilio_api.media_requests
    assert "authorization" in first and "authorization" not in second
