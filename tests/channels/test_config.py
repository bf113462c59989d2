from __future__ import annotations

import pytest
from pydantic import ValidationError

from channels.config import ChannelsConfig
from channels.email import SmtpSender
from channels.meta import MessengerSender, WhatsAppSender
from channels.senders import build_senders
from channels.sms import TwilioSmsSender
from channels.telegram import TelegramSender


def test_defaults_enable_nothing() -> None:
    config = ChannelsConfig()
    assert not any(
        (
            config.sms_enabled,
            config.email_inbound_enabled,
            config.email_outbound_enabled,
            config.messenger_enabled,
            config.whatsapp_enabled,
            config.telegram_enabled,
        )
    )
    assert config.meta_api_base == "https://graph.facebook.com/v21.0"
    assert config.twilio_api_base == "https://api.twilio.com"
    assert config.telegram_api_base == "https://api.telegram.org"


def test_environment_overrides_file_and_splits_lists() -> None:
    config = ChannelsConfig.load(
        {"email_from": "file@acme.example", "email_max_bytes": 1000, "retry": {"max_attempts": 3}},
        {
            "SWITCHBOARD_EMAIL_FROM": "support@acme.example",
            "SWITCHBOARD_EMAIL_ADDRESSES": "support@acme.example, @help.acme.example",
            "SWITCHBOARD_SMTP_RELAY": "relay.acme.example:2525",
            "SWITCHBOARD_TWILIO_AUTH_TOKEN": "tok",
            "SWITCHBOARD_MEDIA_MAX_BYTES": "1234",
            "SWITCHBOARD_TWILIO_API_BASE": "http://127.0.0.1:9999/",
            "OTHER": "ignored",
        },
    )
    assert config.email_from == "support@acme.example"
    assert config.email_addresses == ("support@acme.example", "@help.acme.example")
    assert config.smtp_relay_address == ("relay.acme.example", 2525)
    assert config.email_max_bytes == 1000
    assert config.retry.max_attempts == 3
    assert config.media_max_bytes == 1234
    assert config.twilio_api_base == "http://127.0.0.1:9999"
    assert config.our_addresses().accepts("x@help.acme.example")


def test_secrets_do_not_show_in_repr() -> None:
    config = ChannelsConfig(twilio_auth_token="hunter2", telegram_bot_token="1:abc")  # type: ignore[arg-type]
    assert "hunter2" not in repr(config) and "1:abc" not in repr(config)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("smtp_relay", "relay.example"),
        ("smtp_relay", "relay.example:99999"),
        ("meta_api_base", "graph.facebook.com"),
        ("email_addresses", "not-an-address"),
        ("email_from", "nobody"),
        ("default_country_code", "0044"),
        ("email_max_bytes", "0"),
        ("twilio_from_typo", "x"),
    ],
)
def test_bad_values_are_rejected_naming_the_field(field: str, value: str) -> None:
    with pytest.raises(ValidationError) as info:
        ChannelsConfig.load({field: value}, {})
    assert field in str(info.value)


async def test_build_senders_for_configured_channels_only() -> None:
    config = ChannelsConfig.load(
        {},
        {
            "SWITCHBOARD_TWILIO_ACCOUNT_SID": "AC1",
            "SWITCHBOARD_TWILIO_AUTH_TOKEN": "tok",
            "SWITCHBOARD_TWILIO_FROM": "+15005550006",
            "SWITCHBOARD_EMAIL_FROM": "support@acme.example",
            "SWITCHBOARD_SMTP_RELAY": "127.0.0.1:25",
            "SWITCHBOARD_META_APP_SECRET": "s",
            "SWITCHBOARD_META_PAGE_ACCESS_TOKEN": "p",
            "SWITCHBOARD_TELEGRAM_BOT_TOKEN": "1:a",
        },
    )
    senders = build_senders(config, "https://switchboard.example.com")
    try:
        assert isinstance(senders["sms"], TwilioSmsSender)
        assert isinstance(senders["email"], SmtpSender)
        assert isinstance(senders["messenger"], MessengerSender)
        assert isinstance(senders["telegram"], TelegramSender)
        assert "whatsapp" not in senders
        assert not isinstance(senders.get("whatsapp"), WhatsAppSender)
    finally:
        for sender in senders.values():
            await sender.aclose()
