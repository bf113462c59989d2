"""Inbound requests signed exactly as the providers sign them."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator


def twilio_request(auth_token: str, url: str, form: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """The body and headers of Twilio's POST of ``form`` to ``url``."""
    signature = RequestValidator(auth_token).compute_signature(url, form)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
        "I-Twilio-Idempotency-Token": hashlib.sha1(urlencode(form).encode()).hexdigest(),
    }
    return urlencode(form).encode(), headers


def meta_signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def meta_request(app_secret: str, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The body and headers of Meta's webhook POST of ``payload``."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return body, {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": meta_signature(app_secret, body),
    }


def telegram_request(secret: str, update: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    return json.dumps(update).encode(), {
        "Content-Type": "application/json",
        "X-Telegram-Bot-Api-Secret-Token": secret,
    }
