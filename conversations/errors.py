"""Errors raised by the conversation store and lifecycle."""


class StoreError(Exception):
    """Base class for every error of the conversation store."""


class ConversationNotFound(StoreError):
    def __init__(self, conversation_id: str) -> None:
        super().__init__(f"no conversation with id {conversation_id!r}")
        self.conversation_id = conversation_id


class ConversationExists(StoreError):
    """A conversation with the id asked for is there already."""

    def __init__(self, conversation_id: str) -> None:
        super().__init__(f"a conversation with id {conversation_id!r} exists")
        self.conversation_id = conversation_id


class ConversationClosed(StoreError):
    def __init__(self, conversation_id: str) -> None:
        super().__init__(f"conversation {conversation_id!r} is closed")
        self.conversation_id = conversation_id


class IllegalTransition(StoreError):
    """A status change the lifecycle table does not allow."""

    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"a conversation cannot go from {current!r} to {target!r}")
        self.current = current
        self.target = target


class AlreadyAssigned(StoreError):
    """Someone else has it, or it is closed (``status`` says which)."""

    def __init__(self, conversation_id: str, agent_id: str | None, status: str) -> None:
        super().__init__(f"conversation {conversation_id!r} is {status}, not waiting")
        self.conversation_id = conversation_id
        self.agent_id = agent_id
        self.status = status


class UserExists(StoreError):
    def __init__(self, username: str) -> None:
        super().__init__(f"a user named {username!r} already exists")
        self.username = username


class StaleFence(StoreError):
    """A router's fencing token is not the current one: another router took
    over, and this one's commands are refused (see ``Store.raise_fence``)."""

    def __init__(self, token: int, current: int) -> None:
        super().__init__(f"fencing token {token} is stale (current {current})")
        self.token = token
        self.current = current
