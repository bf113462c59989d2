"""Provider webhooks: Twilio SMS and status, Messenger, WhatsApp, Telegram.

Every route follows the recipe of docs/channels.md: refuse a client address
past ``[limits] webhooks_*`` (429 ``rate_limited``, before anything else is
read), refuse a channel that is not configured (404 ``channel_disabled``),
read the raw body once under the size limit (413 ``too_large``), verify the
provider's signature over exactly what it signed (403 ``invalid_signature``),
parse (400 ``invalid_payload``), store every record through
``ChannelRuntime`` and only then answer 200, so a provider retry of anything
unanswered is absorbed by the idempotency keys.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from channels import ChannelPayloadError, DeliveryStatusUpdate, InboundMessage, OptIn, OptOut
from channels.config import ChannelsConfig
from channels.errors import PayloadTooLarge
from channels.meta import parse_messenger, parse_whatsapp, verify_handshake, verify_meta_signature
from channels.sms import parse_twilio_sms, parse_twilio_status, verify_twilio_signature
from channels.telegram import parse_telegram_update, verify_telegram_secret
from channels.webhook import decode_form, decode_json, webhook_url
from gateway.api import client_address, services_of
from gateway.channel_runtime import ChannelRuntime
from gateway.errors import BadRequest, Forbidden, NotFound

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def runtime_of(request: Request) -> ChannelRuntime:
    runtime: ChannelRuntime = request.app.state.channels
    return runtime


def _config(request: Request) -> ChannelsConfig:
    return runtime_of(request).config


def limit_webhook(request: Request) -> None:
    """429 past ``[limits] webhooks_*`` for this client address."""
    address = client_address(request) or "unknown"
    services_of(request).address_limits.webhook(address, time.monotonic())


def _require(enabled: bool, channel: str) -> None:
    if not enabled:
        raise NotFound(f"the {channel} channel is not configured", code="channel_disabled")


async def _raw_body(request: Request, limit: int) -> bytes:
    """The body, read at most ``limit`` bytes far (413 beyond)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise _too_large(len(body), limit)
    return bytes(body)


def _too_large(size: int, limit: int) -> BadRequest:
    return BadRequest(
        f"the body is {size} bytes, over the limit of {limit} bytes", code="too_large", status=413
    )


def _payload_error(exc: ChannelPayloadError) -> BadRequest:
    if isinstance(exc, PayloadTooLarge):
        return BadRequest(str(exc), code="too_large", status=413)
    return BadRequest(str(exc), code="invalid_payload")


async def _store(request: Request, events: Sequence[Any]) -> None:
    """Store every record, after checking all senders' addresses first so a bad
    one refuses the whole request rather than storing part of it."""
    runtime = runtime_of(request)
    try:
        for event in events:
            if isinstance(event, InboundMessage | OptOut | OptIn):
                runtime.identity(event.channel, event.sender)
        for event in events:
            await runtime.handle(event)
    except ChannelPayloadError as exc:
        raise _payload_error(exc) from None


def _forged(provider: str) -> Forbidden:
    return Forbidden(f"the {provider} signature is missing or wrong", code="invalid_signature")


# -- Twilio ------------------------------------------------------------------


async def _twilio_form(request: Request) -> dict[str, str]:
    limit_webhook(request)
    config = _config(request)
    _require(config.sms_enabled, "sms")
    raw = await _raw_body(request, config.webhook_max_bytes)
    try:
        form = decode_form(raw, config.webhook_max_bytes)
    except ChannelPayloadError as exc:
        raise _payload_error(exc) from None
    public_url = runtime_of(request).services.settings.public_url
    url = webhook_url(public_url, request.url.path, request.url.query)
    if not verify_twilio_signature(
        config.twilio_auth_token.get_secret_value(),
        url,
        form,
        request.headers.get("x-twilio-signature"),
        signature_settings=request.headers.get("x-twilio-webhooks-signature-settings"),
    ):
        raise _forged("Twilio")
    return form


async def twilio_sms(request: Request) -> Response:
    """Twilio inbound SMS webhook (signed).
    ---
    tags: [webhooks]
    responses:
      200: {description: "stored (TwiML)"}
      403: {description: "bad signature"}
      429: {description: "too many requests from this address; wait Retry-After seconds"}
    """
    form = await _twilio_form(request)
    try:
        event = parse_twilio_sms(form)
    except ChannelPayloadError as exc:
        raise _payload_error(exc) from None
    await _store(request, [event])
    # Empty TwiML: we answer through the API later, not in this response.
    return Response(EMPTY_TWIML, media_type="text/xml")


async def twilio_status(request: Request) -> Response:
    """Twilio delivery status callback (signed).
    ---
    tags: [webhooks]
    responses:
      200: {description: "recorded"}
      403: {description: "bad signature"}
      429: {description: "too many requests from this address; wait Retry-After seconds"}
    """
    form = await _twilio_form(request)
    try:
        update = parse_twilio_status(form)
    except ChannelPayloadError as exc:
        raise _payload_error(exc) from None
    await _store(request, [update])
    return Response(status_code=204)


# -- Meta (Messenger, WhatsApp) ----------------------------------------------


def _meta_handshake(request: Request, enabled: bool, channel: str) -> Response:
    config = _config(request)
    _require(enabled, channel)
    challenge = verify_handshake(
        dict(request.query_params), config.meta_verify_token.get_secret_value()
    )
    if challenge is None:
        raise Forbidden("the verify token does not match", code="invalid_verify_token")
    return PlainTextResponse(challenge)


async def _meta_post(
    request: Request,
    enabled: bool,
    channel: str,
    parse: Any,
) -> Response:
    config = _config(request)
    _require(enabled, channel)
    raw = await _raw_body(request, config.webhook_max_bytes)
    if not verify_meta_signature(
        config.meta_app_secret.get_secret_value(),
        raw,
        request.headers.get("x-hub-signature-256"),
    ):
        raise _forged("Meta")
    try:
        events: Sequence[InboundMessage | DeliveryStatusUpdate] = parse(
            decode_json(raw, config.webhook_max_bytes)
        )
    except ChannelPayloadError as exc:
        raise _payload_error(exc) from None
    await _store(request, events)
    return JSONResponse({"status": "ok"})


async def messenger(request: Request) -> Response:
    """Messenger webhook: verification (GET) and events (POST, signed).
    ---
    tags: [webhooks]
    responses:
      200: {description: "stored, or the challenge"}
      403: {description: "bad signature or verify token"}
      429: {description: "too many requests from this address; wait Retry-After seconds"}
    """
    limit_webhook(request)
    enabled = _config(request).messenger_enabled
    if request.method == "GET":
        return _meta_handshake(request, enabled, "messenger")
    return await _meta_post(request, enabled, "messenger", parse_messenger)


async def whatsapp(request: Request) -> Response:
    """WhatsApp Cloud API webhook: verification (GET) and events (POST, signed).
    ---
    tags: [webhooks]
    responses:
      200: {description: "stored, or the challenge"}
      403: {description: "bad signature or verify token"}
      429: {description: "too many requests from this address; wait Retry-After seconds"}
    """
    limit_webhook(request)
    enabled = _config(request).whatsapp_enabled
    if request.method == "GET":
        return _meta_handshake(request, enabled, "whatsapp")
    return await _meta_post(request, enabled, "whatsapp", parse_whatsapp)


# -- Telegram ----------------------------------------------------------------


async def telegram(request: Request) -> Response:
    """Telegram Bot API webhook (secret token header).
    ---
    tags: [webhooks]
    responses:
      200: {description: "stored"}
      403: {description: "bad secret token"}
      429: {description: "too many requests from this address; wait Retry-After seconds"}
    """
    limit_webhook(request)
    config = _config(request)
    _require(config.telegram_enabled, "telegram")
    if not verify_telegram_secret(
        config.telegram_secret.get_secret_value(),
        request.headers.get("x-telegram-bot-api-secret-token"),
    ):
        raise _forged("Telegram")
    raw = await _raw_body(request, config.webhook_max_bytes)
    try:
        message = parse_telegram_update(decode_json(raw, config.webhook_max_bytes))
    except ChannelPayloadError as exc:
        raise _payload_error(exc) from None
    if message is not None:
        await _store(request, [message])
    return JSONResponse({"ok": True})


routes = [
    Route("/webhooks/twilio/sms", twilio_sms, methods=["POST"]),
    Route("/webhooks/twilio/status", twilio_status, methods=["POST"]),
    Route("/webhooks/messenger", messenger, methods=["GET", "POST"]),
    Route("/webhooks/whatsapp", whatsapp, methods=["GET", "POST"]),
    Route("/webhooks/telegram", telegram, methods=["POST"]),
]
