"""The retention policy every evidence store applies (CPIA Code para 5, MoPI).

* A sealed item has no review date until someone sets one, with a reason; until then it
  cannot be deleted.
* A legal hold, placed or lifted with a reason, forbids deletion while it stands.
* Deletion needs an authorised role and a reason, and is refused under legal hold and before
  the review date.
* Every retention decision is a custody entry, written before the new state is stored.

Each store keeps the state as a small mutable ``retention.json`` next to the item's sealed
objects; this module owns that format. What a backend adds on top (S3 Object Lock) stays in
the backend.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from core.custody import CustodyEvent, CustodyLog
from core.evidence_errors import AuthorisationError, JustificationRequiredError, RetentionError

RETENTION_NAME = "retention.json"
"""The mutable object holding an item's :class:`Retention`; never a sealed object's name."""

DEFAULT_DELETE_ROLES = frozenset({"evidence_manager", "information_manager"})
"""Roles allowed to delete evidence unless a deployment configures others."""


@dataclass(frozen=True)
class Retention:
    """Retention state of one evidence item."""

    review_date: date | None = None
    legal_hold: bool = False


def dumps(retention: Retention) -> str:
    """The ``retention.json`` text for ``retention``."""
    review = retention.review_date
    return json.dumps(
        {"review_date": review.isoformat() if review else None, "legal_hold": retention.legal_hold}
    )


def loads(text: str | bytes) -> Retention:
    """Parse ``retention.json``; absent fields take the defaults (no review date, no hold)."""
    data = json.loads(text)
    review = data.get("review_date")
    return Retention(
        review_date=date.fromisoformat(review) if review else None,
        legal_hold=bool(data.get("legal_hold", False)),
    )


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


def record_review_date(
    custody: CustodyLog,
    evidence_id: str,
    current: Retention,
    review_date: date,
    *,
    actor: str,
    reason: str,
) -> Retention:
    """Log a review-date change in custody; return the retention state to store."""
    custody.append(
        evidence_id=evidence_id,
        event=CustodyEvent.RETENTION_CHANGED,
        actor=actor,
        reason=reason,
        details={
            "review_date_from": current.review_date.isoformat() if current.review_date else None,
            "review_date_to": review_date.isoformat(),
        },
    )
    return replace(current, review_date=review_date)


def record_legal_hold(
    custody: CustodyLog,
    evidence_id: str,
    current: Retention,
    hold: bool,
    *,
    actor: str,
    reason: str,
) -> Retention:
    """Log placing or lifting a legal hold in custody; return the retention state to store."""
    custody.append(
        evidence_id=evidence_id,
        event=CustodyEvent.LEGAL_HOLD,
        actor=actor,
        reason=reason,
        details={"hold": hold},
    )
    return replace(current, legal_hold=hold)
