"""Conversation status, as an explicit transition table.

Everything that decides whether a conversation may change status lives here.
A change the table does not list raises ``IllegalTransition``; nothing passes
silently.
"""

from enum import StrEnum

from conversations.errors import IllegalTransition


class ConversationStatus(StrEnum):
    QUEUED = "queued"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    CLOSED = "closed"


_S = ConversationStatus

TRANSITIONS: dict[ConversationStatus, frozenset[ConversationStatus]] = {
    # An offer may be made, or an agent may take the conversation by hand.
    _S.QUEUED: frozenset({_S.OFFERED, _S.ASSIGNED, _S.CLOSED}),
    # An offer is accepted, or it expires/is rejected and the item waits again.
    _S.OFFERED: frozenset({_S.QUEUED, _S.ASSIGNED, _S.CLOSED}),
    # A transfer puts it back in a queue.
    _S.ASSIGNED: frozenset({_S.QUEUED, _S.CLOSED}),
    # Closed is final: a customer who writes again starts a new conversation.
    _S.CLOSED: frozenset(),
}


def check_transition(current: str, target: str) -> ConversationStatus:
    """Return ``target`` as a status, or raise if the table forbids the move."""
    try:
        src, dst = ConversationStatus(current), ConversationStatus(target)
    except ValueError:
        raise IllegalTransition(current, target) from None
    if dst not in TRANSITIONS[src]:
        raise IllegalTransition(current, target)
    return dst
