"""One ``Sender`` per configured channel, built from ``ChannelsConfig``.

The gateway calls ``build_senders`` once at start and routes each
``OutboundMessage`` to ``senders[msg.channel]`` via ``send_with_retry``.
"""

from __future__ import annotations

from channels.config import ChannelsConfig
from channels.email import SmtpSender
from channels.inbound import Channel
from channels.meta import MessengerSender, WhatsAppSender
from channels.outbound import Sender
from channels.sms import TwilioSmsSender
from channels.telegram import TelegramSender
from channels.webhook import webhook_url
from egress import Policy

TWILIO_STATUS_PATH = "/webhooks/twilio/status"


def build_senders(
    config: ChannelsConfig, public_url: str | None, egress: Policy | None = None
) -> dict[Channel, Sender]:
    """Senders for every channel whose credentials are configured.

    ``public_url`` (``SWITCHBOARD_PUBLIC_URL``) makes Twilio post delivery
    reports to our ``/webhooks/twilio/status``. ``egress`` is the policy of
    the guard every HTTP sender goes through (``[security] fetch_allow``).
    """
    senders: dict[Channel, Sender] = {}
    if config.sms_enabled:
        senders["sms"] = TwilioSmsSender(
            account_sid=config.twilio_account_sid,
            auth_token=config.twilio_auth_token.get_secret_value(),
            from_number=config.twilio_from,
            api_base=config.twilio_api_base,
            egress=egress,
            status_callback=(webhook_url(public_url, TWILIO_STATUS_PATH) if public_url else None),
            timeout=config.send_timeout,
        )
    relay = config.smtp_relay_address
    if config.email_from and relay is not None:
        senders["email"] = SmtpSender(
            relay_host=relay[0],
            relay_port=relay[1],
            from_address=config.email_from,
            from_name=config.email_from_name,
            username=config.smtp_relay_username,
            password=(
                config.smtp_relay_password.get_secret_value()
                if config.smtp_relay_password
                else None
            ),
            start_tls=config.smtp_relay_starttls,
            timeout=config.send_timeout,
        )
    if config.messenger_enabled:
        senders["messenger"] = MessengerSender(
            page_access_token=config.meta_page_access_token.get_secret_value(),
            api_base=config.meta_api_base,
            egress=egress,
            timeout=config.send_timeout,
        )
    if config.whatsapp_enabled:
        senders["whatsapp"] = WhatsAppSender(
            access_token=config.whatsapp_access_token.get_secret_value(),
            phone_number_id=config.whatsapp_phone_number_id,
            api_base=config.meta_api_base,
            egress=egress,
            timeout=config.send_timeout,
        )
    if config.telegram_enabled:
        senders["telegram"] = TelegramSender(
            bot_token=config.telegram_bot_token.get_secret_value(),
            api_base=config.telegram_api_base,
            egress=egress,
            timeout=config.send_timeout,
        )
    return senders
