"""The retention policy every evidence store applies (CPIA Code para 5, MoPI).

* A sealed item has no review date until someone sets one, with a reason and a MoPI category;
  the date can be no earlier than the category's minimum after sealing (configured per
  category, `[recording] review_minimum_years`), so it cannot be backdated to allow deletion.
* A legal hold, placed with a reason, forbids deletion while it stands.
* Lifting a hold and deleting need two different people: one requests (a
  ``retention_requested`` custody entry), another approves by doing it; the approving entry
  names the request. Placing a hold again, or changing the review date, voids pending
  requests.
* Deletion needs an authorised role and a reason, and is refused under legal hold and before
  the review date.
* Every retention decision is a custody entry, written before the store acts on it.

The state is the custody chain itself (:func:`retention_of`), which lives in the platform
database: no file decides it. What a backend adds on top (S3 Object Lock) stays in the
backend.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from enum import StrEnum

from core.custody import CustodyEntry, CustodyEvent, CustodyLog
from core.evidence_errors import AuthorisationError, JustificationRequiredError, RetentionError
from core.recording_settings import DEFAULT_REVIEW_MINIMUM_YEARS

RETENTION_NAME = "retention.json"
"""Where stores kept retention state before it moved into custody; still never an object name,
and ignored where an old one survives."""

DEFAULT_DELETE_ROLES = frozenset({"evidence_manager", "information_manager"})
"""Roles allowed to delete evidence unless a deployment configures others."""


class RetentionAction(StrEnum):
    """A retention decision that needs a second person's approval."""

    LIFT_HOLD = "lift_hold"
    DELETE = "delete"


@dataclass(frozen=True)
class RetentionRequest:
    """A pending request (custody entry ``seq``) awaiting another person's approval."""

    seq: int
    action: RetentionAction
    actor: str
    reason: str


@dataclass(frozen=True)
class Retention:
    """Retention state of one evidence item, as the custody chain records it."""

    review_date: date | None = None
    legal_hold: bool = False
    category: str | None = None
    sealed_on: date | None = None
    pending: tuple[RetentionRequest, ...] = field(default=())

    def request_for(self, action: RetentionAction) -> RetentionRequest | None:
        return next((r for r in self.pending if r.action is action), None)


def retention_of(entries: Iterable[CustodyEntry]) -> Retention:
    """Fold an item's custody entries (in seq order) into its retention state."""
    state = Retention()
    for e in entries:
        d = e.details
        if e.event is CustodyEvent.SEALED and state.sealed_on is None:
            state = replace(state, sealed_on=e.at.astimezone(UTC).date())
        elif e.event is CustodyEvent.RETENTION_CHANGED:
            to = d.get("review_date_to")
            category = d.get("category")
            state = replace(
                state,
                review_date=date.fromisoformat(to) if isinstance(to, str) else None,
                category=category if isinstance(category, str) else state.category,
                pending=_without(state.pending, RetentionAction.DELETE),
            )
        elif e.event is CustodyEvent.LEGAL_HOLD:
            # Any hold decision settles a lift request; placing a hold voids a deletion too.
            held = bool(d.get("hold"))
            voided = {RetentionAction.LIFT_HOLD, *([RetentionAction.DELETE] if held else [])}
            state = replace(
                state,
                legal_hold=held,
                pending=tuple(r for r in state.pending if r.action not in voided),
            )
        elif e.event is CustodyEvent.RETENTION_REQUESTED:
            action = RetentionAction(str(d.get("action")))
            request = RetentionRequest(e.seq, action, e.actor, e.reason)
            state = replace(state, pending=(*_without(state.pending, action), request))
        elif e.event is CustodyEvent.DELETED:
            state = replace(state, pending=())
    return state


def _without(
    pending: tuple[RetentionRequest, ...], action: RetentionAction
) -> tuple[RetentionRequest, ...]:
    return tuple(r for r in pending if r.action is not action)


def require_reason(reason: str, what: str) -> None:
    """Raise :class:`JustificationRequiredError` if ``reason`` is blank."""
    if not reason.strip():
        raise JustificationRequiredError(f"{what} requires a reason")


def check_delete_role(role: str, delete_roles: frozenset[str]) -> None:
    """Raise :class:`AuthorisationError` unless ``role`` may delete evidence."""
    if role not in delete_roles:
        raise AuthorisationError(f"role {role!r} may not delete evidence")


def check_deletable(evidence_id: str, retention: Retention, *, today: date | None = None) -> None:
    """Raise :class:`RetentionError` if the item is held or its review date is unset or ahead."""
    if retention.legal_hold:
        raise RetentionError(f"{evidence_id} is under legal hold")
    today = today or datetime.now(UTC).date()
    if retention.review_date is None or today < retention.review_date:
        raise RetentionError(
            f"{evidence_id} must be kept until its review date "
            f"({retention.review_date or 'not set'}); change it first"
        )


def _years_after(day: date, years: int) -> date:
    year = day.year + years
    return day.replace(year=year, day=min(day.day, calendar.monthrange(year, day.month)[1]))


def earliest_review(
    current: Retention, category: str, minimum_years: Mapping[str, int], *, today: date
) -> date:
    """The earliest review date ``category`` allows for this item (from sealing, or today)."""
    if category not in minimum_years:
        known = ", ".join(sorted(minimum_years))
        raise RetentionError(f"unknown retention category {category!r} (one of: {known})")
    return _years_after(current.sealed_on or today, minimum_years[category])


def record_review_date(
    custody: CustodyLog,
    evidence_id: str,
    current: Retention,
    review_date: date,
    *,
    category: str,
    actor: str,
    reason: str,
    minimum_years: Mapping[str, int] = DEFAULT_REVIEW_MINIMUM_YEARS,
    today: date | None = None,
) -> Retention:
    """Log a review-date change in custody (refused below the category's minimum)."""
    earliest = earliest_review(
        current, category, minimum_years, today=today or datetime.now(UTC).date()
    )
    if review_date < earliest:
        raise RetentionError(
            f"a {category} review date must be on or after {earliest.isoformat()} "
            f"({minimum_years[category]} years after sealing)"
        )
    custody.append(
        evidence_id=evidence_id,
        event=CustodyEvent.RETENTION_CHANGED,
        actor=actor,
        reason=reason,
        details={
            "review_date_from": current.review_date.isoformat() if current.review_date else None,
            "review_date_to": review_date.isoformat(),
            "category": category,
        },
    )
    return replace(current, review_date=review_date, category=category)


def record_request(
    custody: CustodyLog,
    evidence_id: str,
    current: Retention,
    action: RetentionAction,
    *,
    actor: str,
    reason: str,
) -> CustodyEntry:
    """Log a request to lift a hold or delete, for another person to approve."""
    if action is RetentionAction.LIFT_HOLD and not current.legal_hold:
        raise RetentionError(f"{evidence_id} is not under legal hold")
    return custody.append(
        evidence_id=evidence_id,
        event=CustodyEvent.RETENTION_REQUESTED,
        actor=actor,
        reason=reason,
        details={"action": action.value},
    )


class RetentionRequests:
    """The request half of the two-person rule, shared by every store: a store provides its
    custody log, the roles that may delete, and how it finds an item (``_require_item``)."""

    _custody: CustodyLog
    _delete_roles: frozenset[str]

    def _require_item(self, evidence_id: str, reason: str, what: str) -> Retention:
        raise NotImplementedError

    def request(
        self, evidence_id: str, action: RetentionAction, *, actor: str, role: str, reason: str
    ) -> CustodyEntry:
        """Ask for a hold to be lifted or the item deleted; another person must approve."""
        if action is RetentionAction.DELETE:
            check_delete_role(role, self._delete_roles)
        current = self._require_item(evidence_id, reason, "a retention request")
        return record_request(
            self._custody, evidence_id, current, action, actor=actor, reason=reason
        )


def approved_request(
    evidence_id: str, current: Retention, action: RetentionAction, *, actor: str
) -> RetentionRequest:
    """The pending request ``actor`` may approve, or :class:`RetentionError` (two-person rule)."""
    request = current.request_for(action)
    what = "lifting its legal hold" if action is RetentionAction.LIFT_HOLD else "deleting it"
    if request is None:
        raise RetentionError(
            f"{what} needs two people: one requests it ({action.value}), another approves"
        )
    if request.actor == actor:
        raise RetentionError(
            f"{what} was requested by {actor} (custody seq {request.seq}); "
            "another authorised person must approve it"
        )
    return request


def record_legal_hold(
    custody: CustodyLog,
    evidence_id: str,
    current: Retention,
    hold: bool,
    *,
    actor: str,
    reason: str,
) -> Retention:
    """Log placing a legal hold, or approving another person's request to lift it."""
    details: dict[str, str | int | bool] = {"hold": hold}
    if not hold:
        if not current.legal_hold:
            raise RetentionError(f"{evidence_id} is not under legal hold")
        request = approved_request(evidence_id, current, RetentionAction.LIFT_HOLD, actor=actor)
        details |= {"request_seq": request.seq, "requested_by": request.actor}
    custody.append(
        evidence_id=evidence_id,
        event=CustodyEvent.LEGAL_HOLD,
        actor=actor,
        reason=reason,
        details=details,
    )
    return replace(current, legal_hold=hold)
