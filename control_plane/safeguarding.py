"""Safeguarding alerts: signals from the victim's page that the officer must not miss.

An alert is raised by one event the victim's page sends (a "no" to "is the offender away",
"not safe to talk", the quick exit, camera or microphone refused, waiting for the officer). It
is written as a ``safeguarding_alert`` visit event when raised, counted in
``evr_safeguarding_alerts_total{kind}`` and logged; the console shows it at the top of the
visit and as a marker in the visit list. Which alerts are still active is worked out from the
visit's events, here, in pure functions: a later answer can clear some of them (the offender
has gone, it is safe to talk now, the camera works now, the officer joined); the quick exit
never clears.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

EVENT_KIND = "safeguarding_alert"
"""The visit event written when an alert is raised."""

WAITING_DETAIL = "waiting for the officer"
"""The join page's progress detail while the victim waits for the officer to open the call."""

PERMISSION_DENIED = "permission denied"
"""The join page's progress detail when the camera or microphone is refused."""


class AlertKind(StrEnum):
    OFFENDER_PRESENT = "offender_present"
    NOT_SAFE_TO_TALK = "not_safe_to_talk"
    QUICK_EXIT = "quick_exit"
    MEDIA_REFUSED = "media_refused"
    VICTIM_WAITING = "victim_waiting"


ALERT_TEXT: dict[AlertKind, str] = {
    AlertKind.OFFENDER_PRESENT: (
        "The victim said the person they are reporting is with them or can hear them. "
        "Do not start the call; follow your safeguarding procedure."
    ),
    AlertKind.NOT_SAFE_TO_TALK: (
        "The victim said it is not safe to talk now. Do not call them back without "
        "checking it is safe."
    ),
    AlertKind.QUICK_EXIT: (
        "The victim used the quick exit. Follow your safeguarding procedure before contacting them."
    ),
    AlertKind.MEDIA_REFUSED: (
        "The victim's phone refused the camera or microphone. They may need help to allow it, "
        "or a voice call or visit."
    ),
    AlertKind.VICTIM_WAITING: "The victim is waiting for you to start or join the call.",
}
"""What the officer reads: plain words, and what to do."""

_WAIT_OVER = frozenset({"live", "ended", "cancelled", "no_show", "chose_in_person"})


@dataclass(frozen=True, kw_only=True)
class Alert:
    kind: AlertKind
    at: datetime

    def to_json(self) -> dict[str, str]:
        return {
            "kind": self.kind.value,
            "at": self.at.isoformat(),
            "message": ALERT_TEXT[self.kind],
        }


def raised_by(kind: str, detail: Mapping[str, Any]) -> AlertKind | None:
    """The alert a newly written visit event raises, if any."""
    if kind == "eligibility" and detail.get("item") == "offender_not_present":
        return AlertKind.OFFENDER_PRESENT if detail.get("value") is False else None
    if kind == "safe_to_talk":
        return AlertKind.NOT_SAFE_TO_TALK if detail.get("value") is False else None
    if kind != "progress":
        return None
    step, state, note = detail.get("step"), detail.get("state"), detail.get("detail")
    if step == "quick_exit":
        return AlertKind.QUICK_EXIT
    if step == "preview" and state == "failed" and note == PERMISSION_DENIED:
        return AlertKind.MEDIA_REFUSED
    if step == "join" and state == "started" and note == WAITING_DETAIL:
        return AlertKind.VICTIM_WAITING
    return None


def _clears(kind: str, detail: Mapping[str, Any]) -> AlertKind | None:
    """The alert a later event shows to be over, if any."""
    if kind == "eligibility" and detail.get("item") == "offender_not_present":
        return AlertKind.OFFENDER_PRESENT if detail.get("value") is True else None
    if kind == "safe_to_talk" and detail.get("value") is True:
        return AlertKind.NOT_SAFE_TO_TALK
    if kind == "progress" and detail.get("step") == "preview" and detail.get("state") == "done":
        return AlertKind.MEDIA_REFUSED
    if kind == "progress" and detail.get("step") == "join" and detail.get("state") == "done":
        return AlertKind.VICTIM_WAITING
    return None


def active_alerts(
    events: Iterable[tuple[str, Mapping[str, Any], datetime]], *, status: str
) -> list[Alert]:
    """The alerts still active after ``events`` (kind, detail, at; oldest first), for a visit
    now in ``status``; each at the time it was last raised, in the order of AlertKind."""
    active: dict[AlertKind, datetime] = {}
    for kind, detail, at in events:
        if kind == EVENT_KIND:
            try:
                active[AlertKind(str(detail.get("alert")))] = at
            except ValueError:
                continue
        else:
            cleared = _clears(kind, detail)
            if cleared is not None:
                active.pop(cleared, None)
    if status in _WAIT_OVER:
        active.pop(AlertKind.VICTIM_WAITING, None)
    return [Alert(kind=k, at=active[k]) for k in AlertKind if k in active]
