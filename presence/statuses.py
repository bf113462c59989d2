"""The presence statuses an agent can be in, and which of them take work.

Four are built in; a deployment adds its own (``lunch``, ``training``,
``back-office``) and says for each whether it accepts new work.
"""

from collections.abc import Iterable, Mapping

from presence.errors import UnknownStatus

# status -> accepts new work
BUILTIN_STATUSES: Mapping[str, bool] = {
    "available": True,
    "busy": False,
    "away": False,
    "offline": False,
}


class StatusCatalog:
    """Every status known to a deployment, built-in first."""

    def __init__(self, custom: Iterable[tuple[str, bool]] = ()) -> None:
        self._accepts: dict[str, bool] = dict(BUILTIN_STATUSES)
        for name, accepts in custom:
            self._accepts[name] = accepts

    def __contains__(self, status: object) -> bool:
        return status in self._accepts

    @property
    def names(self) -> list[str]:
        return list(self._accepts)

    @property
    def accepting(self) -> frozenset[str]:
        """Statuses in which an agent may receive new offers."""
        return frozenset(s for s, ok in self._accepts.items() if ok)

    def accepts(self, status: str) -> bool:
        """Whether ``status`` takes new work; raises ``UnknownStatus`` if unknown."""
        try:
            return self._accepts[status]
        except KeyError:
            raise UnknownStatus(status, self.names) from None

    def check(self, status: str) -> str:
        if status not in self._accepts:
            raise UnknownStatus(status, self.names)
        return status
