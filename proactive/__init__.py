"""Proactive chat: rules that decide whether to invite a visitor to chat,
from what the page reports (URL, time on page, visits, language, the site's
own variables) and what the service can offer (an agent free in the target
queue, business hours); and the count of invitations shown, accepted and
declined.
"""

from proactive.config import ProactiveRule, check_rules
from proactive.counts import OUTCOMES, InvitationCounts
from proactive.rules import SERVICE_VARIABLES, Invitation, ProactiveRules, Service, Visit

__all__ = [
    "OUTCOMES",
    "SERVICE_VARIABLES",
    "Invitation",
    "InvitationCounts",
    "ProactiveRule",
    "ProactiveRules",
    "Service",
    "Visit",
    "check_rules",
]
