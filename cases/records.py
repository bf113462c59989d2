"""Record creation rules and follow-ups: what a customer's message does to cases.

Two decisions, both pure:

- ``rule_for``: a conversation's first message on a channel with a record
  rule whose condition holds opens a case (title from the subject, else the
  first line of the text);
- ``on_customer_message``: a message on a conversation whose case is no
  longer active either reopens it or opens a follow-up case linked to it,
  depending on ``[cases] follow_up`` and how long ago it was resolved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from cases.config import RecordRule
from cases.lifecycle import CaseStatus

TITLE_MAX = 200


class FollowUp(StrEnum):
    NONE = "none"
    """The case is active: the message simply joins it."""
    REOPEN = "reopen"
    NEW_CASE = "new_case"


def rule_for(
    rules: Sequence[RecordRule], channel: str, context: Mapping[str, Any]
) -> RecordRule | None:
    """The first rule for ``channel`` whose condition holds, if any."""
    for rule in rules:
        if rule.channel != channel:
            continue
        condition = rule.condition
        if condition is None or condition.evaluate(context):
            return rule
    return None


def title_from(subject: str | None, text: str | None) -> str:
    """A case title: the subject, else the first non-blank line, else a placeholder."""
    for candidate in (subject, *(text or "").splitlines()):
        if candidate and candidate.strip():
            title = " ".join(candidate.split())
            return title if len(title) <= TITLE_MAX else title[: TITLE_MAX - 1] + "…"
    return "(no subject)"


def on_customer_message(
    status: str,
    resolved_at: datetime | None,
    now: datetime,
    *,
    mode: str,
    window: timedelta,
) -> FollowUp:
    """What a customer's new message does to the case of its conversation."""
    if status == CaseStatus.ACTIVE:
        return FollowUp.NONE
    if status == CaseStatus.RESOLVED and resolved_at is not None and now - resolved_at <= window:
        return FollowUp.REOPEN if mode == "reopen" else FollowUp.NEW_CASE
    return FollowUp.NEW_CASE
