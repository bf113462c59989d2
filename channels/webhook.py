"""Decoding webhook bodies safely, before any provider-specific parsing.

Routes read the raw body once (signatures are computed over the raw bytes),
then call these to get the form or JSON object with size and shape checked.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, ValidationError

from channels.errors import ChannelPayloadError, PayloadTooLarge

DEFAULT_MAX_BODY = 1024 * 1024


def decode_form(raw: bytes, max_bytes: int = DEFAULT_MAX_BODY) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (Twilio posts these).

    Raises:
        PayloadTooLarge: over ``max_bytes``.
        ChannelPayloadError: not UTF-8, not form-encoded, or a key repeated.
    """
    if len(raw) > max_bytes:
        raise PayloadTooLarge("form body", len(raw), max_bytes)
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ChannelPayloadError(f"expected a form-encoded UTF-8 body: {exc}") from exc
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            # Twilio never repeats a key; a repeat is an attempt to confuse us.
            raise ChannelPayloadError(f"form field {key!r} appears more than once")
        form[key] = value
    return form


def decode_json(raw: bytes, max_bytes: int = DEFAULT_MAX_BODY) -> dict[str, Any]:
    """A JSON object body (Meta and Telegram post these).

    Raises:
        PayloadTooLarge: over ``max_bytes``.
        ChannelPayloadError: not JSON, or JSON that is not an object.
    """
    if len(raw) > max_bytes:
        raise PayloadTooLarge("JSON body", len(raw), max_bytes)
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ChannelPayloadError(f"expected a JSON body: {exc}") from exc
    if not isinstance(value, dict):
        raise ChannelPayloadError(f"expected a JSON object, got {type(value).__name__}")
    return value


def webhook_url(public_url: str, path: str, query: str = "") -> str:
    """The URL a provider called, as it saw it: what Twilio signs.

    Behind a proxy the request's own URL is not the one the provider used, so
    signatures are checked against ``SWITCHBOARD_PUBLIC_URL`` + path + query.
    """
    url = public_url.rstrip("/") + "/" + path.lstrip("/")
    return f"{url}?{query}" if query else url


class PayloadModel(BaseModel):
    """Base of the models of provider payloads: unknown fields are ignored, since
    providers add fields all the time, but the fields we read must have their
    documented types."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


M = TypeVar("M", bound=PayloadModel)


def validate_payload(model: type[M], payload: Any, what: str) -> M:
    """``payload`` as ``model``.

    Raises:
        ChannelPayloadError: naming up to five bad fields by path.
    """
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors()[:5]
        )
        raise ChannelPayloadError(f"malformed {what} webhook: {problems}") from exc
