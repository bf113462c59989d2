"""The case lifecycle table, and the moves of the case model on top of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cases.errors import IllegalTransition, MissingResolution
from cases.lifecycle import TRANSITIONS, CaseEvent, CaseStatus, next_status
from cases.model import Case, cancel, format_number, merge, reactivate, resolve, set_reason

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def a_case(**changes: object) -> Case:
    base = Case(
        id="cs_1",
        number="CAS-00001",
        title="Printer",
        customer_id="cu_1",
        created_at=NOW,
        updated_at=NOW,
    )
    from dataclasses import replace

    return replace(base, **changes)  # type: ignore[arg-type]


def test_numbers_have_five_digits_and_grow_past_them():
    assert format_number(42) == "CAS-00042"
    assert format_number(123456) == "CAS-123456"
    with pytest.raises(ValueError):
        format_number(0)


def test_resolve_needs_a_resolution_text():
    case = a_case()
    for missing in (None, "", "   "):
        with pytest.raises(MissingResolution):
            resolve(case, missing, NOW)
    done = resolve(case, " replaced the toner ", NOW)
    assert (done.status, done.status_reason, done.resolution) == (
        CaseStatus.RESOLVED,
        "problem_solved",
        "replaced the toner",
    )
    assert done.resolved_at == NOW


def test_resolve_with_information_provided_and_refuses_an_active_reason():
    assert resolve(a_case(), "told them", NOW, "information_provided").status_reason == (
        "information_provided"
    )
    with pytest.raises(ValueError, match="on_hold"):
        resolve(a_case(), "x", NOW, "on_hold")


def test_reactivate_brings_back_resolved_and_cancelled_cases():
    resolved = resolve(a_case(), "done", NOW)
    back = reactivate(resolved, NOW + timedelta(hours=1))
    assert (back.status, back.status_reason, back.resolution) == (
        CaseStatus.ACTIVE,
        "in_progress",
        None,
    )
    assert reactivate(cancel(a_case(), NOW), NOW).status is CaseStatus.ACTIVE


@pytest.mark.parametrize(
    "move",
    [
        lambda c: resolve(resolve(c, "x", NOW), "again", NOW),
        lambda c: cancel(cancel(c, NOW), NOW),
        lambda c: reactivate(c, NOW),
        lambda c: cancel(resolve(c, "x", NOW), NOW),
        lambda c: set_reason(resolve(c, "x", NOW), "on_hold", NOW),
        lambda c: resolve(cancel(c, NOW), "x", NOW),
    ],
)
def test_illegal_moves_raise_naming_state_and_event(move):
    with pytest.raises(IllegalTransition) as caught:
        move(a_case())
    assert "cannot be" in str(caught.value)


def test_a_merged_case_is_cancelled_points_to_the_survivor_and_stays_so():
    survivor = a_case(id="cs_2", number="CAS-00002")
    merged = merge(a_case(), survivor, NOW)
    assert (merged.status, merged.status_reason, merged.merged_into) == (
        CaseStatus.CANCELLED,
        "merged",
        "cs_2",
    )
    with pytest.raises(IllegalTransition, match="merged into another case"):
        reactivate(merged, NOW)


def test_merge_into_itself_or_into_a_closed_case_is_refused():
    case = a_case()
    with pytest.raises(ValueError):
        merge(case, case, NOW)
    with pytest.raises(IllegalTransition):
        merge(case, resolve(a_case(id="cs_2"), "x", NOW), NOW)


def test_set_reason_only_takes_active_reasons():
    assert set_reason(a_case(), "on_hold", NOW).status_reason == "on_hold"
    with pytest.raises(ValueError):
        set_reason(a_case(), "problem_solved", NOW)


def test_the_table_is_the_whole_state_machine():
    for status in CaseStatus:
        for event in CaseEvent:
            if (status, event) in TRANSITIONS:
                assert next_status(status, "x", event) is TRANSITIONS[(status, event)]
            else:
                with pytest.raises(IllegalTransition):
                    next_status(status, "x", event)
