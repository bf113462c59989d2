"""Errors of the presence package."""


class PresenceError(Exception):
    """Base class for every presence error."""


class UnknownStatus(PresenceError):
    def __init__(self, status: str, known: list[str]) -> None:
        super().__init__(f"unknown presence status {status!r}; expected one of {', '.join(known)}")
        self.status = status
        self.known = known


class UnknownAgent(PresenceError):
    def __init__(self, agent_id: str) -> None:
        super().__init__(f"presence has no agent {agent_id!r}")
        self.agent_id = agent_id
