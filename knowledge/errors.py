"""Errors of the knowledge base; the gateway turns each into a stable wire code."""

from __future__ import annotations


class KnowledgeError(Exception):
    """Base of every error the knowledge package raises."""


class IllegalMove(KnowledgeError):
    """A lifecycle move the transition table does not allow (HTTP 409)."""

    def __init__(self, status: str, to: str, reason: str) -> None:
        status, to = str(status), str(to)  # plain strings, also for enum members
        super().__init__(f"an article in {status!r} cannot move to {to!r}: {reason}")
        self.status = status
        self.to = to
        self.reason = reason


class NotAllowed(KnowledgeError):
    """The move exists, but the caller's role may not make it (HTTP 403)."""

    def __init__(self, role: str, status: str, to: str) -> None:
        super().__init__(
            f"the role {role!r} may not move an article from {str(status)!r} to {str(to)!r}"
        )
        self.role = role


class ArticleNotFound(KnowledgeError):
    def __init__(self, article_id: str) -> None:
        super().__init__(f"no article {article_id!r}")
        self.article_id = article_id


class NotEditable(KnowledgeError):
    """An edit on an article that cannot take one (archived, discarded) (HTTP 409)."""
