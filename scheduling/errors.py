"""The scheduling core's errors: one hierarchy, messages that say what was
expected and what came. The gateway turns them into HTTP replies."""

from __future__ import annotations


class SchedulingError(Exception):
    """Base of every error the scheduling core raises."""

    code = "scheduling_error"


class InvalidModel(SchedulingError):
    """A resource, service, calendar or window that can never work as given
    (inverted window, unknown time zone, overlapping closures, a service no
    resource can satisfy). Bad input, never "no time free"."""

    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class IllegalTransition(SchedulingError):
    """An appointment status change the transition table does not allow."""

    code = "illegal_transition"

    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"an appointment cannot go from {current!r} to {target!r}")
        self.current = current
        self.target = target


class SlotTaken(SchedulingError):
    """A booking that conflicts: a resource is taken, closed or off work then."""

    code = "slot_taken"

    def __init__(self, message: str, *, resource_id: str | None = None) -> None:
        super().__init__(message)
        self.resource_id = resource_id
