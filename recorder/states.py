"""The recorder's vocabulary: segment states, problem reasons and why a statement stops.

Segment states and problem reasons are stored in the database (``recording_segments.state``,
``recordings.problem_reason``) and problem reasons label ``evr_recordings_failed_total``, so
their values are fixed: changing one changes stored rows, dashboards and alerts.
"""

from __future__ import annotations

import errno
from enum import StrEnum


class SegmentState(StrEnum):
    """A Master segment's row, registered before its file exists."""

    OPEN = "open"  # being written (or left open by a recorder that crashed)
    CLOSED = "closed"  # closed by its writer and hashed at capture
    RECOVERED = "recovered"  # left open by a crash, hashed at recovery
    LOST = "lost"  # left open by a crash and its file is gone


class ProblemReason(StrEnum):
    """Why a statement is not secured, as the job row and the failure metric say it."""

    START_FAILED = "start_failed"
    TRACK_LOST = "track_lost"
    DISK_FULL = "disk_full"
    CRASHED = "crashed"
    SEAL_FAILED = "seal_failed"
    LAG = "lag"  # falling behind real time: a problem on the row, not a failure


# Every failure label exists from the start, so a rate() alert sees the first one.
FAILURE_REASONS = tuple(r for r in ProblemReason if r is not ProblemReason.LAG)


class StopReason(StrEnum):
    """Why a statement's recording run ends (logged; decides seal, release or hand-back)."""

    OFFICER = "stopped by the officer"
    VISIT_ENDED = "the visit ended"
    SHUTTING_DOWN = "recorder shutting down"
    LOST_CLAIM = "lost claim"
    DISCONNECTED = "disconnected from the room"
    # Dropped out of a room that is still there: hand the statement back to resume.
    REJOIN = "rejoin"


_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def is_disk_full(exc: BaseException) -> bool:
    """True if ``exc`` (or what caused it) is a full disk or an exceeded quota/file limit."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _DISK_FULL_ERRNOS:
            return True
        seen = seen.__cause__ or seen.__context__
    return False
