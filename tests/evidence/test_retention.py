"""The retention policy on its own: the rules every evidence store applies, at each edge."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from core.custody import CustodyEvent, JsonlCustodyLog
from core.evidence_errors import AuthorisationError, JustificationRequiredError, RetentionError
from evidence import retention as policy
from evidence.retention import DEFAULT_DELETE_ROLES, Retention

REVIEW = date(2031, 5, 1)
ITEM = "EVR-2024-000123-S1"


def test_a_new_item_has_no_review_date_and_no_hold() -> None:
    assert Retention() == Retention(review_date=None, legal_hold=False)
    assert policy.retention_of([]) == Retention()


def test_only_the_delete_roles_may_delete() -> None:
    for role in DEFAULT_DELETE_ROLES:
        policy.check_delete_role(role, DEFAULT_DELETE_ROLES)
    with pytest.raises(AuthorisationError, match="'supervisor' may not delete"):
        policy.check_delete_role("supervisor", DEFAULT_DELETE_ROLES)
    policy.check_delete_role("supervisor", frozenset({"supervisor"}))


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_blank_reason_is_refused(reason: str) -> None:
    with pytest.raises(JustificationRequiredError, match="deletion requires a reason"):
        policy.require_reason(reason, "deletion")
    policy.require_reason("period ended", "deletion")


def test_deletion_waits_for_a_review_date() -> None:
    with pytest.raises(RetentionError, match=r"review date \(not set\)"):
        policy.check_deletable(ITEM, Retention(), today=date(2099, 1, 1))


def test_deletion_is_allowed_from_the_review_date_on() -> None:
    with pytest.raises(RetentionError, match=r"review date \(2031-05-01\)"):
        policy.check_deletable(ITEM, Retention(REVIEW), today=date(2031, 4, 30))
    policy.check_deletable(ITEM, Retention(REVIEW), today=REVIEW)
    policy.check_deletable(ITEM, Retention(REVIEW), today=date(2031, 5, 2))


def test_a_legal_hold_forbids_deletion_even_after_the_review_date() -> None:
    with pytest.raises(RetentionError, match="under legal hold"):
        policy.check_deletable(ITEM, Retention(REVIEW, legal_hold=True), today=date(2040, 1, 1))


def test_decisions_are_logged_in_custody_and_the_state_is_the_chain(tmp_path: Path) -> None:
    custody = JsonlCustodyLog(tmp_path / "custody")
    held = policy.record_legal_hold(
        custody, ITEM, Retention(), True, actor="u-3", reason="appeal lodged"
    )
    assert held == Retention(legal_hold=True)
    today = date(2025, 1, 1)
    dated = policy.record_review_date(
        custody,
        ITEM,
        held,
        REVIEW,
        category="mopi_group_3",
        actor="u-2",
        reason="MoPI 3",
        today=today,
    )
    assert dated == Retention(REVIEW, legal_hold=True, category="mopi_group_3")
    policy.record_review_date(
        custody,
        ITEM,
        dated,
        date(2035, 1, 1),
        category="mopi_group_2",
        actor="u-2",
        reason="re-reviewed",
        today=today,
    )

    hold, first, second = custody.entries_for(ITEM)
    assert (hold.event, hold.reason, hold.details) == (
        CustodyEvent.LEGAL_HOLD,
        "appeal lodged",
        {"hold": True},
    )
    assert first.event is CustodyEvent.RETENTION_CHANGED
    assert first.details == {
        "review_date_from": None,
        "review_date_to": "2031-05-01",
        "category": "mopi_group_3",
    }
    assert second.details["review_date_to"] == "2035-01-01"
    state = policy.retention_of(custody.entries_for(ITEM))
    assert state == Retention(date(2035, 1, 1), legal_hold=True, category="mopi_group_2")
