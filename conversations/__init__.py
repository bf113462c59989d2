"""The conversation model and its durable store.

Everything a conversation is made of (customer, participants, messages with a
per-conversation ``seq``, and a timeline of events) lives here, behind one
``Store`` that speaks SQLite (embedded default) or PostgreSQL.
"""

from conversations.errors import (
    ConversationClosed,
    ConversationExists,
    ConversationNotFound,
    IllegalTransition,
    StoreError,
    UserExists,
)
from conversations.lifecycle import ConversationStatus
from conversations.models import (
    AppendRequest,
    AppendResult,
    Conversation,
    Customer,
    Message,
    TimelineEvent,
    User,
)
from conversations.store import Store

__all__ = [
    "AppendRequest",
    "AppendResult",
    "Conversation",
    "ConversationClosed",
    "ConversationExists",
    "ConversationNotFound",
    "ConversationStatus",
    "Customer",
    "IllegalTransition",
    "Message",
    "Store",
    "StoreError",
    "TimelineEvent",
    "User",
    "UserExists",
]
