"""Judging a recording from its job row: each problem has a kind that outlives its figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from core.recording_status import Problem, ProblemKind, RecordingSnapshot, RecordingStatus

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def row(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "rec-1",
        "visit_id": "visit-1",
        "status": RecordingStatus.RECORDING.value,
        "requested_at": NOW - timedelta(seconds=60),
        "start_timeout": 10.0,
        "stale_after": 5.0,
        "claimed_by": "recorder-a",
        "heartbeat_at": NOW - timedelta(seconds=1),
        "started_at": NOW - timedelta(seconds=50),
        "problem": None,
        "problem_reason": None,
        "requested_by": "officer:local:1001",
        "stop_requested_at": None,
        "ended_at": None,
        "sealed_at": None,
        "lag_seconds": 0.0,
        "gaps": [],
        "manifest_sha256": None,
    }
    return base | changes


def judge(**changes: Any) -> tuple[bool, Problem | None]:
    return RecordingSnapshot(row=row(**changes)).judge(NOW)


def test_a_fresh_heartbeat_without_a_problem_is_secured() -> None:
    assert judge() == (True, None)
    assert judge(status=RecordingStatus.SEALED.value, heartbeat_at=None) == (True, None)


def test_a_waiting_request_is_not_secured_but_no_problem_yet() -> None:
    assert judge(claimed_by=None, heartbeat_at=None, started_at=None, requested_at=NOW) == (
        False,
        None,
    )


def test_the_same_problem_keeps_its_key_while_its_figures_change() -> None:
    unclaimed = {"claimed_by": None, "heartbeat_at": None, "started_at": None}
    _, early = judge(**unclaimed, requested_at=NOW - timedelta(seconds=12))
    _, later = judge(**unclaimed, requested_at=NOW - timedelta(seconds=13))
    assert early == Problem(
        kind=ProblemKind.NOT_JOINED, message="no recorder has joined after 12 s"
    )
    assert later is not None
    assert later.message == "no recorder has joined after 13 s"
    assert later.key == early.key

    _, stale = judge(heartbeat_at=NOW - timedelta(seconds=9))
    assert stale == Problem(
        kind=ProblemKind.STALE, message="the recorder (recorder-a) stopped responding 9 s ago"
    )


def test_a_reported_problem_carries_the_recorders_reason() -> None:
    _, lag = judge(problem="recorder is 12 s behind real time", problem_reason="lag")
    _, lost = judge(problem="recorder lost a track: audio of victim", problem_reason="track_lost")
    assert lag is not None
    assert lost is not None
    assert (lag.kind, lag.reason) == (ProblemKind.REPORTED, "lag")
    assert lag.key != lost.key


def test_handed_back_and_failed() -> None:
    _, handed = judge(claimed_by=None, heartbeat_at=None)
    assert handed is not None
    assert handed.kind is ProblemKind.HANDED_BACK
    _, failed = judge(status=RecordingStatus.FAILED.value)
    assert failed == Problem(kind=ProblemKind.FAILED, message="recording failed")


def test_the_json_shows_the_message() -> None:
    body = RecordingSnapshot(row=row(heartbeat_at=NOW - timedelta(seconds=9))).to_json(NOW)
    assert (body["secured"], body["problem"]) == (
        False,
        "the recorder (recorder-a) stopped responding 9 s ago",
    )
