"""The one exception hierarchy of the case core.

Every refusal names what was asked and why, so the HTTP edge can pass the
message on as the ``reason`` of a 409 (or a 400 for a missing field).
"""

from __future__ import annotations


class CaseError(Exception):
    """Base class of every error of the case core."""

    code = "case_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class IllegalTransition(CaseError):
    """The lifecycle table has no move for this event in this state."""

    code = "illegal_transition"

    def __init__(self, status: str, reason: str, event: str, why: str | None = None) -> None:
        text = f"a case that is {status} ({reason}) cannot be {event}"
        super().__init__(f"{text}: {why}" if why else text)
        self.status = status
        self.reason = reason
        self.event = event


class MissingResolution(CaseError):
    """Resolving needs a resolution text."""

    code = "missing_resolution"


class StageIncomplete(CaseError):
    """A business-process stage cannot be left before its required fields are set."""

    code = "stage_incomplete"

    def __init__(self, stage: str, missing: list[str]) -> None:
        super().__init__(
            f"stage {stage!r} cannot be left before {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} set"
        )
        self.stage = stage
        self.missing = missing


class UnknownStage(CaseError):
    code = "unknown_stage"


class EntitlementRefused(CaseError):
    """The customer's entitlement is exhausted or expired and the configuration refuses."""

    code = "entitlement_refused"
