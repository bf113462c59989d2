"""Record-creation rules for inbound mail (as Dynamics 365's "automatic record creation").

For a mail that does NOT thread into an existing conversation, the rules
decide whether it opens one (for anyone, or only for a known customer) or is
dropped, and which queue and priority it gets. Rules are tried in order; the
first whose conditions all hold decides; within one condition any listed
value may match. With no match the defaults apply. A pure function: the
caller says whether the sender is a known customer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from channels.inbound import InboundMessage

RuleAction = Literal["open", "known_only", "drop"]


def _lower_all(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(v.strip().lower() for v in values if v.strip())


class EmailRule(BaseModel):
    """One rule. Conditions left empty (or ``None``) do not constrain."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    action: RuleAction = "open"
    from_domains: tuple[str, ...] = ()
    from_addresses: tuple[str, ...] = ()
    to_addresses: tuple[str, ...] = ()
    subject_contains: tuple[str, ...] = ()
    automated: bool | None = None
    queue: str | None = None
    priority: int | None = Field(default=None, ge=0, le=100)

    @field_validator("from_domains", "from_addresses", "to_addresses", "subject_contains")
    @classmethod
    def _lower(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        # Matching is case-insensitive; normalise once here.
        return _lower_all(values)

    def matches(self, msg: InboundMessage) -> bool:
        sender = msg.sender.lower()
        domain = sender.rpartition("@")[2]
        if self.from_domains and not any(
            domain == d.lstrip("@") or domain.endswith("." + d.lstrip("@"))
            for d in self.from_domains
        ):
            return False
        if self.from_addresses and sender not in self.from_addresses:
            return False
        if self.to_addresses:
            recipient = (msg.recipient or "").lower()
            local, _, rdomain = recipient.rpartition("@")
            base = f"{local.partition('+')[0]}@{rdomain}"
            if recipient not in self.to_addresses and base not in self.to_addresses:
                return False
        if self.subject_contains:
            subject = (msg.subject or "").lower()
            if not any(s in subject for s in self.subject_contains):
                return False
        return self.automated is None or self.automated == msg.flags.automated


class EmailRules(BaseModel):
    """The rule list and what happens when no rule matches.

    ``skip_automated`` drops auto-replies, bulk mail and bounces before any
    rule (Dynamics' "skip auto-response emails"), unless a rule names them
    with ``automated = true``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: tuple[EmailRule, ...] = ()
    default_action: RuleAction = "open"
    default_queue: str | None = None
    default_priority: int | None = Field(default=None, ge=0, le=100)
    skip_automated: bool = True


@dataclass(frozen=True, slots=True)
class EmailDecision:
    """What to do with a mail that starts no thread we know.

    ``auto_reply_allowed`` is ``False`` for machine-sent mail whatever the
    action: answering it automatically is how mail loops start.
    """

    action: Literal["open", "drop"]
    queue: str | None
    priority: int | None
    rule: str | None
    reason: str
    auto_reply_allowed: bool


def apply_email_rules(
    rules: EmailRules, msg: InboundMessage, known_customer: bool
) -> EmailDecision:
    """Decide per the module docstring."""
    automated = msg.flags.automated
    auto_reply = not automated
    chosen = next((rule for rule in rules.rules if rule.matches(msg)), None)
    if automated and rules.skip_automated and (chosen is None or chosen.automated is not True):
        return EmailDecision("drop", None, None, None, "automated mail is skipped", False)
    if chosen is None:
        action, queue, priority, name = (
            rules.default_action,
            rules.default_queue,
            rules.default_priority,
            None,
        )
        origin = "no rule matched"
    else:
        action, queue, priority, name = chosen.action, chosen.queue, chosen.priority, chosen.name
        origin = f"rule {chosen.name!r}"
    queue = queue or rules.default_queue
    priority = priority if priority is not None else rules.default_priority
    if action == "drop":
        return EmailDecision("drop", None, None, name, f"{origin}: drop", auto_reply)
    if action == "known_only" and not known_customer:
        return EmailDecision(
            "drop", None, None, name, f"{origin}: sender is not a known customer", auto_reply
        )
    return EmailDecision("open", queue, priority, name, f"{origin}: open", auto_reply)
