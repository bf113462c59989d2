"""Articles and what may happen to them: edits, lifecycle moves, versions, diffs.

Pure: every function takes the article as it is (and ``now``) and returns
what it becomes; the store persists the result. See ``lifecycle`` for the
transition table and the meaning of ``status`` against ``published_version``.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from knowledge.errors import IllegalMove, NotEditable
from knowledge.lifecycle import EDITABLE, Status, check_move, effective


@dataclass(frozen=True, slots=True)
class Version:
    """One numbered text of an article; versions are never deleted."""

    number: int
    title: str
    body: str
    keywords: tuple[str, ...]
    author_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Article:
    id: str
    status: Status
    """The stored status of the working version (never a derived one)."""
    version: int
    """The working version: the one edits change and moves apply to."""
    last_version: int
    """The highest version number ever used (a discarded draft keeps its number)."""
    published_version: int | None
    """The version the public sees, when live (see ``live_at``)."""
    language: str
    product: str | None
    translation_of: str | None
    publish_at: datetime | None
    expires_at: datetime | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime

    def status_at(self, now: datetime) -> Status:
        return effective(self.status, self.publish_at, self.expires_at, now)

    def live_at(self, now: datetime) -> bool:
        """Whether the public sees ``published_version`` at ``now``."""
        if self.published_version is None:
            return False
        if self.status in (Status.ARCHIVED, Status.DISCARDED):
            return False
        if self.publish_at is not None and self.publish_at > now:
            return False
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True, slots=True)
class Edit:
    """What a caller changed; ``None`` leaves a field as it is.
    ``expires_at`` is set when ``set_expiry`` is true (``None`` clears it)."""

    title: str | None = None
    body: str | None = None
    keywords: tuple[str, ...] | None = None
    language: str | None = None
    product: str | None = None
    set_product: bool = False
    expires_at: datetime | None = None
    set_expiry: bool = False


@dataclass(frozen=True, slots=True)
class Edited:
    article: Article
    version: Version
    new_version: bool
    """True when the edit started a new version (the article was published)."""


def edit(
    article: Article, current: Version, change: Edit, *, author_id: str | None, now: datetime
) -> Edited:
    """Apply an edit.

    A draft changes in place. Under review or approved, it changes in place
    and goes back to draft: an approval covers the exact text approved.
    Published, scheduled or expired, the edit becomes a new draft version
    and the published one stays as it is (and live, if it was).

    Raises:
        NotEditable: the article is archived or discarded.
    """
    status = article.status_at(now)
    if status not in EDITABLE:
        raise NotEditable(f"an {status} article cannot be edited; move it back to draft first")
    text = Version(
        number=current.number,
        title=current.title if change.title is None else change.title,
        body=current.body if change.body is None else change.body,
        keywords=current.keywords if change.keywords is None else change.keywords,
        author_id=current.author_id,
        created_at=current.created_at,
        updated_at=now,
    )
    changed_text = (text.title, text.body, text.keywords) != (
        current.title,
        current.body,
        current.keywords,
    )
    updated = replace(
        article,
        language=article.language if change.language is None else change.language,
        product=change.product if change.set_product else article.product,
        expires_at=change.expires_at if change.set_expiry else article.expires_at,
        updated_at=now,
    )
    if not changed_text:
        return Edited(updated, current, new_version=False)
    if status in (Status.PUBLISHED, Status.SCHEDULED, Status.EXPIRED):
        number = article.last_version + 1
        version = replace(text, number=number, author_id=author_id, created_at=now)
        updated = replace(updated, status=Status.DRAFT, version=number, last_version=number)
        return Edited(updated, version, new_version=True)
    return Edited(replace(updated, status=Status.DRAFT), text, new_version=False)


def move(
    article: Article,
    to: Status,
    *,
    role: str,
    now: datetime,
    publish_at: datetime | None = None,
    expires_at: datetime | None = None,
    set_expiry: bool = False,
) -> Article:
    """Move the article along the lifecycle (``lifecycle.TRANSITIONS``).

    Publishing makes the working version the published one, now or at
    ``publish_at``; ``expires_at`` (with ``set_expiry``) sets or clears the
    expiry date on the way. Discarding a new draft of a live article drops
    the draft and leaves the live version as it was.

    Raises:
        IllegalMove: not a move of the table, or dates that make no sense.
        NotAllowed: the role may not make it.
    """
    current = article.status_at(now)
    check_move(current, to, role)
    expiry = expires_at if set_expiry else article.expires_at
    if to == Status.PUBLISHED:
        start = publish_at if publish_at is not None and publish_at > now else now
        if start > now and article.live_at(now) and article.published_version != article.version:
            raise IllegalMove(
                current, to, "a new version of a live article is published now, not scheduled"
            )
        if expiry is not None and expiry <= start:
            raise IllegalMove(current, to, "expires_at must lie after the publication")
        return replace(
            article,
            status=Status.PUBLISHED,
            published_version=article.version,
            publish_at=start,
            expires_at=expiry,
            updated_at=now,
        )
    if to == Status.DISCARDED and article.published_version is not None:
        # A draft over a published version: drop the draft, keep the live one.
        return replace(
            article, status=Status.PUBLISHED, version=article.published_version, updated_at=now
        )
    if to == Status.APPROVED and current == Status.SCHEDULED:
        return replace(
            article,
            status=Status.APPROVED,
            published_version=None,
            publish_at=None,
            updated_at=now,
        )
    if to in (Status.ARCHIVED, Status.DRAFT) and current in (
        Status.ARCHIVED,
        Status.EXPIRED,
        Status.PUBLISHED,
        Status.SCHEDULED,
    ):
        # Archived or back to work: nothing of it stays live, and a later
        # expiry change cannot bring an old version back.
        return replace(article, status=to, published_version=None, updated_at=now)
    return replace(article, status=to, updated_at=now)


def diff(old: Version, new: Version) -> str:
    """A unified diff of two versions: title, keywords and body."""

    def lines(v: Version) -> list[str]:
        head = [f"# {v.title}", f"keywords: {', '.join(v.keywords)}", ""]
        return head + v.body.splitlines()

    return "\n".join(
        difflib.unified_diff(
            lines(old),
            lines(new),
            fromfile=f"version {old.number}",
            tofile=f"version {new.number}",
            lineterm="",
        )
    )


def clean_keywords(keywords: Sequence[str]) -> tuple[str, ...]:
    """Trimmed, lower-cased, without repeats, in the order given."""
    seen: dict[str, None] = {}
    for k in keywords:
        word = " ".join(k.split()).lower()
        if word:
            seen.setdefault(word, None)
    return tuple(seen)
