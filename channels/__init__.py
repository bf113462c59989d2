"""The channel wire layer: SMS (Twilio), email (SMTP in and out), Messenger,
WhatsApp and Telegram.

Each channel module verifies and parses provider traffic into the records of
``channels.inbound`` and sends ``channels.outbound.OutboundMessage`` through a
``Sender``. Nothing here touches the store or the router: the gateway feeds
requests in and stores what comes out. See ``docs/channels.md``.
"""

from channels.config import ChannelsConfig
from channels.email_rules import EmailDecision, EmailRule, EmailRules, apply_email_rules
from channels.errors import (
    ChannelError,
    ChannelPayloadError,
    PermanentSendError,
    SendError,
    TransientSendError,
)
from channels.identity import IdentityKey, identity_key
from channels.inbound import (
    Attachment,
    Channel,
    DeliveryStatusUpdate,
    InboundMessage,
    LoopFlags,
    OptIn,
    OptOut,
    Threading,
)
from channels.outbound import OutboundMessage, Sender, SendResult
from channels.retry import DeadLetter, Delivered, RetryPolicy, send_with_retry

__all__ = [
    "Attachment",
    "Channel",
    "ChannelError",
    "ChannelPayloadError",
    "ChannelsConfig",
    "DeadLetter",
    "Delivered",
    "DeliveryStatusUpdate",
    "EmailDecision",
    "EmailRule",
    "EmailRules",
    "IdentityKey",
    "InboundMessage",
    "LoopFlags",
    "OptIn",
    "OptOut",
    "OutboundMessage",
    "PermanentSendError",
    "RetryPolicy",
    "SendError",
    "SendResult",
    "Sender",
    "Threading",
    "TransientSendError",
    "apply_email_rules",
    "identity_key",
    "send_with_retry",
]
