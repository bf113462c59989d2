"""Webhook payloads shaped as in the providers' documentation."""

from __future__ import annotations

from typing import Any

ACCOUNT_SID = "AC" + "0" * 31 + "1"
OUR_NUMBER = "+15005550006"


def twilio_sms(
    body: str = "Hello, my order has not arrived",
    *,
    sid: str = "SM" + "a" * 32,
    sender: str = "+14155550100",
    media: tuple[tuple[str, str], ...] = (),
) -> dict[str, str]:
    form = {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": sid,
        "NumMedia": str(len(media)),
        "ToCity": "",
        "FromZip": "94105",
        "SmsSid": sid,
        "FromState": "CA",
        "SmsStatus": "received",
        "FromCity": "SAN FRANCISCO",
        "Body": body,
        "FromCountry": "US",
        "To": OUR_NUMBER,
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }
    for i, (url, content_type) in enumerate(media):
        form[f"MediaUrl{i}"] = url
        form[f"MediaContentType{i}"] = content_type
    return form


def twilio_status(
    status: str, *, sid: str = "SM" + "b" * 32, error_code: str | None = None
) -> dict[str, str]:
    form = {
        "SmsSid": sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": "+14155550100",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": OUR_NUMBER,
        "ApiVersion": "2010-04-01",
    }
    if error_code:
        form["ErrorCode"] = error_code
    return form


PAGE_ID = "1234567890"
PSID = "6789012345678901"


def messenger(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "page",
        "entry": [{"id": PAGE_ID, "time": 1_700_000_000_000, "messaging": list(events)}],
    }


def messenger_text(text: str = "hi", mid: str = "m_AAA", psid: str = PSID) -> dict[str, Any]:
    return {
        "sender": {"id": psid},
        "recipient": {"id": PAGE_ID},
        "timestamp": 1_700_000_000_123,
        "message": {"mid": mid, "text": text},
    }


def messenger_attachment(url: str, kind: str = "image", mid: str = "m_IMG") -> dict[str, Any]:
    return {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE_ID},
        "timestamp": 1_700_000_000_456,
        "message": {"mid": mid, "attachments": [{"type": kind, "payload": {"url": url}}]},
    }


def messenger_echo(mid: str = "m_ECHO") -> dict[str, Any]:
    return {
        "sender": {"id": PAGE_ID},
        "recipient": {"id": PSID},
        "timestamp": 1_700_000_000_789,
        "message": {"is_echo": True, "app_id": 1517776481860111, "mid": mid, "text": "our reply"},
    }


def messenger_delivery(mids: list[str], watermark: int = 1_700_000_001_000) -> dict[str, Any]:
    return {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE_ID},
        "timestamp": watermark,
        "delivery": {"mids": mids, "watermark": watermark},
    }


def messenger_read(watermark: int = 1_700_000_002_000) -> dict[str, Any]:
    return {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE_ID},
        "timestamp": watermark,
        "read": {"watermark": watermark},
    }


WABA_ID = "102290129340398"
PHONE_NUMBER_ID = "106540352242922"
WA_ID = "16505551234"


def whatsapp(value: dict[str, Any]) -> dict[str, Any]:
    base = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"value": base | value, "field": "messages"}]}],
    }


def whatsapp_text(
    body: str = "Hi there", wamid: str = "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQ"
) -> dict[str, Any]:
    return whatsapp(
        {
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": WA_ID}],
            "messages": [
                {
                    "from": WA_ID,
                    "id": wamid,
                    "timestamp": "1700000000",
                    "text": {"body": body},
                    "type": "text",
                }
            ],
        }
    )


def whatsapp_image(media_id: str = "1003383421387256") -> dict[str, Any]:
    return whatsapp(
        {
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": WA_ID}],
            "messages": [
                {
                    "from": WA_ID,
                    "id": "wamid.IMAGE",
                    "timestamp": "1700000001",
                    "type": "image",
                    "image": {
                        "caption": "broken box",
                        "mime_type": "image/jpeg",
                        "sha256": "6ZHd1PzqUnhVnYwKIw2V7o4f6kxu0lJqkD0wF7Yl5Ns=",
                        "id": media_id,
                    },
                }
            ],
        }
    )


def whatsapp_document() -> dict[str, Any]:
    return whatsapp(
        {
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": WA_ID}],
            "messages": [
                {
                    "from": WA_ID,
                    "id": "wamid.DOC",
                    "timestamp": "1700000002",
                    "type": "document",
                    "document": {
                        "filename": "invoice.pdf",
                        "mime_type": "application/pdf",
                        "sha256": "abc",
                        "id": "2734538283",
                    },
                }
            ],
        }
    )


def whatsapp_status(
    status: str, wamid: str = "wamid.OURS", errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": "1700000100",
        "recipient_id": WA_ID,
    }
    if errors:
        entry["errors"] = errors
    return whatsapp({"statuses": [entry]})


def telegram_message(
    text: str = "hello", *, update_id: int = 10000, message_id: int = 1365, chat_id: int = 1111111
) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "from": {
                "id": chat_id,
                "is_bot": False,
                "first_name": "Test",
                "last_name": "Lastname",
                "username": "Testusername",
                "language_code": "en",
            },
            "chat": {
                "id": chat_id,
                "first_name": "Test",
                "last_name": "Lastname",
                "username": "Testusername",
                "type": "private",
            },
            "date": 1441645532,
            "text": text,
        },
    }


def telegram_edited(text: str, *, update_id: int = 10001, message_id: int = 1365) -> dict[str, Any]:
    update = telegram_message(text, update_id=update_id, message_id=message_id)
    message = update.pop("message")
    message["edit_date"] = 1441645600
    update["edited_message"] = message
    return update
