"""Bots first, then people: bot config, hand-off decisions and the bot wire formats.

The pure core (``config``, ``handoff``, ``wire``) decides; the gateway's bot
runtime (gateway/bot_runtime.py) calls bots and carries hand-offs out; the
sessions live in ``bots.store``. See docs/bots.md.
"""

from bots.config import DEFAULT_HANDOFF_PHRASES, BotConfig, check_bots
from bots.handoff import (
    Handoff,
    HandoffRequest,
    Reason,
    SessionState,
    Skill,
    asks_for_person,
    decide,
    failure,
)
from bots.wire import (
    SIGNATURE_HEADER,
    BadAnswer,
    HandoffBody,
    Reply,
    parse_rasa_answer,
    parse_webhook_answer,
    sign,
    verify,
)

__all__ = [
    "DEFAULT_HANDOFF_PHRASES",
    "SIGNATURE_HEADER",
    "BadAnswer",
    "BotConfig",
    "Handoff",
    "HandoffBody",
    "HandoffRequest",
    "Reason",
    "Reply",
    "SessionState",
    "Skill",
    "asks_for_person",
    "check_bots",
    "decide",
    "failure",
    "parse_rasa_answer",
    "parse_webhook_answer",
    "sign",
    "verify",
]
