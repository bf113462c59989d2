"""The one exception hierarchy of the routing core.

Events that are merely invalid in the current state (a stale accept, an
unknown offer) are not exceptions: the router answers them with a
``Rejected`` command. Exceptions here mean bad configuration, a malformed
expression, or a bug (an illegal state transition, a broken invariant).
"""


class RoutingError(Exception):
    """Base class for every error of the routing core."""


class ConfigError(RoutingError, ValueError):
    """The ``[routing]`` configuration is invalid."""


class ExpressionError(RoutingError, ValueError):
    """An intake-rule condition does not tokenize, parse or type-check.

    ``column`` is 1-based, counted in the condition text.
    """

    def __init__(self, message: str, column: int, text: str = "") -> None:
        super().__init__(f"{message} at column {column}")
        self.message = message
        self.column = column
        self.text = text


class IllegalTransition(RoutingError):
    """A state machine was asked for a move its table does not allow."""

    def __init__(self, machine: str, state: str, event: str) -> None:
        super().__init__(f"{machine}: cannot {event!r} in state {state!r}")
        self.machine = machine
        self.state = state
        self.event = event


class InvariantViolation(RoutingError, AssertionError):
    """The router's state broke one of the invariants in ``router.invariants``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
