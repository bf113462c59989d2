"""The one exception hierarchy of the cluster core.

A refused lease request (someone else holds it, a stale token) is not an
exception: the lease answers ``None``. Exceptions here mean a bug (an
illegal transition) or a value that does not decode.
"""


class ClusterError(Exception):
    """Base class for every error of the cluster core."""


class IllegalTransition(ClusterError):
    """The lease table was asked for a move it does not allow."""

    def __init__(self, state: str, event: str) -> None:
        super().__init__(f"lease: cannot {event!r} in state {state!r}")
        self.state = state
        self.event = event


class DecodeError(ClusterError, ValueError):
    """A log entry or command does not decode to a router value."""
