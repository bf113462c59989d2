from __future__ import annotations

import pytest

from channels.errors import InvalidAddressError
from channels.identity import IdentityKey, identity_key, normalise_email, normalise_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+14155550100", "+14155550100"),
        ("+1 (415) 555-0100", "+14155550100"),
        ("whatsapp:+14155550100", "+14155550100"),
        ("14155550100", "+14155550100"),  # WhatsApp wa_id
        ("0044 20 7946 0000", "+442079460000"),
        ("+44.20.7946.0000", "+442079460000"),
    ],
)
def test_phone_numbers_normalise_to_e164(raw: str, expected: str) -> None:
    assert normalise_phone(raw) == expected


def test_national_number_uses_default_country_code() -> None:
    assert normalise_phone("020 7946 0000", "44") == "+442079460000"


@pytest.mark.parametrize(
    "raw", ["", "hello", "+0123456789", "+1234", "+1234567890123456", "12ab34"]
)
def test_impossible_phone_numbers_are_rejected(raw: str) -> None:
    with pytest.raises(InvalidAddressError):
        normalise_phone(raw)


def test_sms_and_whatsapp_of_one_phone_are_one_identity() -> None:
    assert identity_key("sms", "+14155550100") == identity_key("whatsapp", "14155550100")
    assert str(identity_key("sms", "+14155550100")) == "phone:+14155550100"


def test_email_is_lower_cased() -> None:
    assert normalise_email(" <Jane.Doe@Example.COM> ") == "jane.doe@example.com"
    assert identity_key("email", "Jane@X.example") == IdentityKey("email", "jane@x.example")
    for bad in ("jane", "jane@", "a b@x.example", "jane@x\r\n.example"):
        with pytest.raises(InvalidAddressError):
            normalise_email(bad)


def test_social_ids_are_namespaced() -> None:
    assert str(identity_key("messenger", "6789012345678901")) == "messenger:6789012345678901"
    assert str(identity_key("telegram", "-1001234")) == "telegram:-1001234"
    with pytest.raises(InvalidAddressError):
        identity_key("telegram", "12 34")
    with pytest.raises(InvalidAddressError):
        identity_key("fax", "1")
