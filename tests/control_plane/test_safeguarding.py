"""Which safeguarding alerts are active, from a visit's events: each raised by its one event,
some cleared by a later answer, the quick exit never; 'waiting' over once the visit is live."""

from datetime import UTC, datetime, timedelta
from typing import Any

from control_plane.safeguarding import EVENT_KIND, AlertKind, active_alerts, raised_by

T0 = datetime(2026, 11, 29, 14, 0, tzinfo=UTC)


def _ev(kind: str, n: int, **detail: Any) -> tuple[str, dict[str, Any], datetime]:
    return kind, detail, T0 + timedelta(seconds=n)


def test_each_alert_is_raised_by_its_event_and_nothing_else() -> None:
    assert (
        raised_by("eligibility", {"item": "offender_not_present", "value": False})
        is AlertKind.OFFENDER_PRESENT
    )
    assert raised_by("eligibility", {"item": "offender_not_present", "value": True}) is None
    assert raised_by("eligibility", {"item": "adult_or_guardian", "value": False}) is None
    assert raised_by("safe_to_talk", {"value": False}) is AlertKind.NOT_SAFE_TO_TALK
    assert raised_by("safe_to_talk", {"value": True}) is None
    assert raised_by("progress", {"step": "quick_exit", "state": "done"}) is AlertKind.QUICK_EXIT
    refused = {"step": "preview", "state": "failed", "detail": "permission denied"}
    assert raised_by("progress", refused) is AlertKind.MEDIA_REFUSED
    no_camera = {"step": "preview", "state": "failed", "detail": "NotFoundError"}
    assert raised_by("progress", no_camera) is None
    waiting = {"step": "join", "state": "started", "detail": "waiting for the officer"}
    assert raised_by("progress", waiting) is AlertKind.VICTIM_WAITING
    assert raised_by("progress", {"step": "join", "state": "started", "detail": "video"}) is None


def test_later_answers_clear_alerts_but_never_the_quick_exit() -> None:
    raised = [_ev(EVENT_KIND, i, alert=k.value) for i, k in enumerate(AlertKind)]
    assert [a.kind for a in active_alerts(raised, status="waiting")] == list(AlertKind)
    cleared = [
        *raised,
        _ev("eligibility", 10, item="offender_not_present", value=True),
        _ev("safe_to_talk", 11, value=True),
        _ev("progress", 12, step="preview", state="done", detail="camera and microphone"),
        _ev("progress", 13, step="join", state="done", detail="video"),
    ]
    assert [a.kind for a in active_alerts(cleared, status="live")] == [AlertKind.QUICK_EXIT]


def test_waiting_is_over_once_the_visit_is_live_or_closed() -> None:
    events = [_ev(EVENT_KIND, 0, alert="victim_waiting")]
    assert [a.kind for a in active_alerts(events, status="accepted_video")] == [
        AlertKind.VICTIM_WAITING
    ]
    for status in ("live", "ended", "cancelled"):
        assert active_alerts(events, status=status) == []


def test_an_alert_raised_again_keeps_the_latest_time_and_unknown_kinds_are_ignored() -> None:
    events = [
        _ev(EVENT_KIND, 0, alert="not_safe_to_talk"),
        _ev("safe_to_talk", 1, value=True),
        _ev(EVENT_KIND, 5, alert="not_safe_to_talk"),
        _ev(EVENT_KIND, 6, alert="something_else"),
    ]
    (alert,) = active_alerts(events, status="offered")
    assert alert.at == T0 + timedelta(seconds=5)
    assert alert.to_json()["message"].startswith("The victim said it is not safe")
