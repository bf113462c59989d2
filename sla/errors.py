"""The one exception hierarchy of the SLA core."""


class SlaError(Exception):
    """Base class for every error of the SLA core."""


class NeverOpen(SlaError):
    """A business-time walk found no open time within its horizon (a calendar
    whose every day is closed, or a closure that covers years)."""


class IllegalTransition(SlaError):
    """A KPI instance was asked for a move its table does not allow."""

    def __init__(self, state: str, event: str) -> None:
        super().__init__(f"KPI instance: cannot {event!r} in state {state!r}")
        self.state = state
        self.event = event
