"""The article lifecycle table, edits and versions, without I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from knowledge.articles import Article, Edit, Version, diff, edit, move
from knowledge.errors import IllegalMove, NotAllowed, NotEditable
from knowledge.lifecycle import TARGETS, TRANSITIONS, Status, check_move

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
S = Status


def article(status: Status = S.DRAFT, **changes: object) -> Article:
    base = Article(
        id="art_1",
        status=status,
        version=1,
        last_version=1,
        published_version=None,
        language="en",
        product=None,
        translation_of=None,
        publish_at=None,
        expires_at=None,
        created_by="u1",
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


TEXT = Version(1, "Reset a password", "Go to settings.", ("login",), "u1", NOW, NOW)


def through(to: list[Status], role: str = "supervisor", a: Article | None = None) -> Article:
    a = a or article()
    for step in to:
        a = move(a, step, role=role, now=NOW)
    return a


def test_the_happy_path_goes_draft_review_approved_published() -> None:
    a = through([S.IN_REVIEW, S.APPROVED, S.PUBLISHED])
    assert a.status == S.PUBLISHED and a.published_version == 1
    assert a.live_at(NOW)


@pytest.mark.parametrize(
    ("start", "to"),
    [
        (S.DRAFT, S.PUBLISHED),
        (S.DRAFT, S.APPROVED),
        (S.IN_REVIEW, S.PUBLISHED),
        (S.PUBLISHED, S.DISCARDED),
        (S.PUBLISHED, S.DRAFT),
        (S.DISCARDED, S.DRAFT),
        (S.ARCHIVED, S.PUBLISHED),
        (S.DRAFT, S.DRAFT),
        (S.DRAFT, S.EXPIRED),
    ],
)
def test_moves_outside_the_table_are_illegal_with_a_reason(start: Status, to: Status) -> None:
    with pytest.raises(IllegalMove) as caught:
        check_move(start, to, "admin")
    assert caught.value.reason
    assert start in str(caught.value) and to in str(caught.value)


def test_every_move_of_the_table_is_allowed_to_someone_and_targets_are_askable() -> None:
    for (start, to), roles in TRANSITIONS.items():
        assert roles, (start, to)
        assert to in TARGETS
        check_move(start, to, sorted(roles)[0])


def test_agents_write_and_submit_but_do_not_approve_or_publish() -> None:
    check_move(S.DRAFT, S.IN_REVIEW, "agent")
    check_move(S.DRAFT, S.DISCARDED, "agent")
    with pytest.raises(NotAllowed):
        check_move(S.IN_REVIEW, S.APPROVED, "agent")
    with pytest.raises(NotAllowed):
        check_move(S.APPROVED, S.PUBLISHED, "agent")
    with pytest.raises(NotAllowed):
        check_move(S.DRAFT, S.IN_REVIEW, "bot")


def test_scheduled_publication_is_not_live_until_its_time() -> None:
    later = NOW + timedelta(hours=2)
    approved = through([S.IN_REVIEW, S.APPROVED])
    a = move(approved, S.PUBLISHED, role="admin", now=NOW, publish_at=later)
    assert a.status_at(NOW) == S.SCHEDULED and not a.live_at(NOW)
    assert a.status_at(later) == S.PUBLISHED and a.live_at(later)
    unscheduled = move(a, S.APPROVED, role="admin", now=NOW)
    assert unscheduled.status == S.APPROVED and unscheduled.publish_at is None


def test_an_article_expires_on_its_date_and_needs_a_new_date_to_come_back() -> None:
    expiry = NOW + timedelta(days=1)
    a = through([S.IN_REVIEW, S.APPROVED])
    a = move(a, S.PUBLISHED, role="admin", now=NOW, expires_at=expiry, set_expiry=True)
    after = expiry + timedelta(seconds=1)
    assert a.live_at(NOW) and not a.live_at(after)
    assert a.status_at(after) == S.EXPIRED
    with pytest.raises(IllegalMove, match="expires_at"):
        move(a, S.PUBLISHED, role="admin", now=after)
    again = move(
        a,
        S.PUBLISHED,
        role="admin",
        now=after,
        expires_at=after + timedelta(days=30),
        set_expiry=True,
    )
    assert again.live_at(after)
    archived = move(a, S.ARCHIVED, role="admin", now=after)
    assert archived.status == S.ARCHIVED and not archived.live_at(NOW)


def test_publishing_with_an_expiry_before_the_start_is_illegal() -> None:
    a = through([S.IN_REVIEW, S.APPROVED])
    with pytest.raises(IllegalMove):
        move(a, S.PUBLISHED, role="admin", now=NOW, expires_at=NOW, set_expiry=True)


def test_archiving_takes_it_down_and_back_to_draft_does_not_revive_it() -> None:
    a = through([S.IN_REVIEW, S.APPROVED, S.PUBLISHED, S.ARCHIVED])
    assert not a.live_at(NOW) and a.published_version is None
    a = move(a, S.DRAFT, role="supervisor", now=NOW)
    assert a.status == S.DRAFT and not a.live_at(NOW)
    with pytest.raises(NotAllowed):
        move(
            through([S.IN_REVIEW, S.APPROVED, S.PUBLISHED, S.ARCHIVED]),
            S.DRAFT,
            role="agent",
            now=NOW,
        )


def test_editing_a_draft_changes_it_in_place() -> None:
    done = edit(article(), TEXT, Edit(body="New body."), author_id="u2", now=NOW)
    assert not done.new_version
    assert done.version.number == 1 and done.version.body == "New body."


def test_editing_under_review_sends_it_back_to_draft() -> None:
    a = through([S.IN_REVIEW])
    done = edit(a, TEXT, Edit(title="Better title"), author_id="u2", now=NOW)
    assert done.article.status == S.DRAFT and not done.new_version


def test_editing_a_published_article_makes_a_new_draft_and_the_old_stays_live() -> None:
    a = through([S.IN_REVIEW, S.APPROVED, S.PUBLISHED])
    done = edit(a, TEXT, Edit(body="Version two."), author_id="u2", now=NOW)
    assert done.new_version and done.version.number == 2
    assert done.article.status == S.DRAFT and done.article.version == 2
    assert done.article.published_version == 1 and done.article.live_at(NOW)
    # Publishing the new draft makes it the live version.
    b = through([S.IN_REVIEW, S.APPROVED, S.PUBLISHED], a=done.article)
    assert b.published_version == 2 and b.live_at(NOW)


def test_discarding_a_new_draft_of_a_live_article_keeps_the_live_one() -> None:
    a = through([S.IN_REVIEW, S.APPROVED, S.PUBLISHED])
    done = edit(a, TEXT, Edit(body="Oops."), author_id="u2", now=NOW)
    back = move(done.article, S.DISCARDED, role="agent", now=NOW)
    assert back.status == S.PUBLISHED and back.version == 1 and back.live_at(NOW)
    # The discarded draft's number is not reused.
    again = edit(back, TEXT, Edit(body="Second try."), author_id="u2", now=NOW)
    assert again.version.number == 3


def test_discarding_a_first_draft_is_final() -> None:
    a = move(article(), S.DISCARDED, role="agent", now=NOW)
    assert a.status == S.DISCARDED
    with pytest.raises(NotEditable):
        edit(a, TEXT, Edit(body="x"), author_id="u1", now=NOW)
    with pytest.raises(IllegalMove, match="final"):
        move(a, S.DRAFT, role="admin", now=NOW)


def test_a_new_version_of_a_live_article_is_not_scheduled() -> None:
    a = through([S.IN_REVIEW, S.APPROVED, S.PUBLISHED])
    done = edit(a, TEXT, Edit(body="v2"), author_id="u2", now=NOW)
    b = through([S.IN_REVIEW, S.APPROVED], a=done.article)
    with pytest.raises(IllegalMove, match="scheduled"):
        move(b, S.PUBLISHED, role="admin", now=NOW, publish_at=NOW + timedelta(hours=1))


def test_an_edit_that_changes_no_text_makes_no_version() -> None:
    a = through([S.IN_REVIEW, S.APPROVED, S.PUBLISHED])
    done = edit(a, TEXT, Edit(product="cards", set_product=True), author_id="u2", now=NOW)
    assert not done.new_version and done.article.status == S.PUBLISHED
    assert done.article.product == "cards"


def test_diff_shows_what_changed_between_versions() -> None:
    v2 = replace(TEXT, number=2, body="Go to settings.\nThen click Reset.")
    text = diff(TEXT, v2)
    assert "--- version 1" in text and "+++ version 2" in text
    assert "+Then click Reset." in text
