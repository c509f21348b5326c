"""What a visit shows about its statement recording: status, and whether it is secured.

"Secured" is judged here, by the control plane, from the job row alone, so a recorder that
never came or died silently shows as not secured without its help:

* sealed: secured (the signed Master is in the evidence store);
* recording / stopping / sealing with a fresh heartbeat and no reported problem: secured;
* requested and unclaimed past its start timeout: "no recorder has joined";
* a heartbeat older than its stale limit: "the recorder stopped responding";
* failed, or any problem the recorder reported (track lost, disk full, falling behind).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core import schema
from core.driver_sql import DriverStatement


class RecordingStatus(StrEnum):
    REQUESTED = "requested"
    RECORDING = "recording"
    STOPPING = "stopping"
    SEALING = "sealing"
    SEALED = "sealed"
    FAILED = "failed"


ACTIVE_STATUSES = frozenset(
    {
        RecordingStatus.REQUESTED,
        RecordingStatus.RECORDING,
        RecordingStatus.STOPPING,
        RecordingStatus.SEALING,
    }
)


class ProblemKind(StrEnum):
    """Why a recording is not secured, as something to act on rather than to read."""

    FAILED = "failed"
    REPORTED = "reported"
    """The recorder reported it; the row's ``problem_reason`` says which problem."""
    HANDED_BACK = "handed_back"
    NOT_JOINED = "not_joined"
    STALE = "stale"


@dataclass(frozen=True, kw_only=True)
class Problem:
    """A recording's problem: its kind, and the message people read (which may carry figures,
    e.g. how many seconds, so it changes while the problem stays the same)."""

    kind: ProblemKind
    message: str
    reason: str | None = None
    """The recorder's own reason code (``problem_reason``), for the kinds it reports."""

    @property
    def key(self) -> tuple[ProblemKind, str | None]:
        """Equal for as long as the same problem continues."""
        return self.kind, self.reason


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True, kw_only=True)
class RecordingSnapshot:
    """One recordings row, as read; judged against the clock when serialised."""

    row: dict[str, Any]
    segments: int = 0

    @property
    def status(self) -> RecordingStatus:
        return RecordingStatus(self.row["status"])

    def judge(self, now: datetime | None = None) -> tuple[bool, Problem | None]:
        """(secured, problem) at ``now``."""
        now = now or datetime.now(UTC)
        r, status = self.row, self.status
        reported = (
            Problem(kind=ProblemKind.REPORTED, message=r["problem"], reason=r.get("problem_reason"))
            if r["problem"]
            else None
        )
        if status is RecordingStatus.SEALED:
            return True, None
        if status is RecordingStatus.FAILED:
            message = r["problem"] or "recording failed"
            return False, Problem(
                kind=ProblemKind.FAILED, message=message, reason=r.get("problem_reason")
            )
        heartbeat = r["heartbeat_at"]
        if r["claimed_by"] is None or heartbeat is None:
            waited = (now - r["requested_at"]).total_seconds()
            if reported:
                return False, reported
            if r["started_at"] is not None:
                # Handed back (recorder shutdown): nothing is being recorded until one resumes.
                message = "no recorder is recording: waiting for one to resume the statement"
                return False, Problem(kind=ProblemKind.HANDED_BACK, message=message)
            if waited > r["start_timeout"]:
                message = f"no recorder has joined after {waited:.0f} s"
                return False, Problem(kind=ProblemKind.NOT_JOINED, message=message)
            return False, None
        age = (now - heartbeat).total_seconds()
        if age > r["stale_after"]:
            message = f"the recorder ({r['claimed_by']}) stopped responding {age:.0f} s ago"
            return False, Problem(kind=ProblemKind.STALE, message=message)
        if reported:
            return False, reported
        return status is not RecordingStatus.REQUESTED, None

    def to_json(self, now: datetime | None = None) -> dict[str, Any]:
        secured, problem = self.judge(now)
        r = self.row
        return {
            "id": r["id"],
            "evidence_id": r["id"],
            "status": r["status"],
            "secured": secured,
            "problem": problem.message if problem else None,
            "requested_at": _iso(r["requested_at"]),
            "requested_by": r["requested_by"],
            "started_at": _iso(r["started_at"]),
            "stop_requested_at": _iso(r["stop_requested_at"]),
            "ended_at": _iso(r["ended_at"]),
            "sealed_at": _iso(r["sealed_at"]),
            "recorder": r["claimed_by"],
            "heartbeat_at": _iso(r["heartbeat_at"]),
            "lag_seconds": r["lag_seconds"],
            "segments": self.segments,
            "gaps": list(r["gaps"] or []),
            "manifest_sha256": r["manifest_sha256"],
        }


async def _snapshots(conn: AsyncConnection, rows: Iterable[Any]) -> list[RecordingSnapshot]:
    found = [dict(r) for r in rows]
    if not found:
        return []
    s = schema.recording_segments
    rows = await conn.execute(
        select(s.c.recording_id, func.count())
        .where(s.c.recording_id.in_([r["id"] for r in found]))
        .group_by(s.c.recording_id)
    )
    counts = {str(rid): int(n) for rid, n in rows.all()}
    return [RecordingSnapshot(row=r, segments=int(counts.get(r["id"], 0))) for r in found]


async def latest_for_visits(
    conn: AsyncConnection, visit_ids: Iterable[str]
) -> dict[str, RecordingSnapshot]:
    """The most recently requested recording of each visit that has one."""
    ids = list(visit_ids)
    if not ids:
        return {}
    r = schema.recordings
    rows = (
        (
            await conn.execute(
                select(r).where(r.c.visit_id.in_(ids)).order_by(r.c.requested_at, r.c.id)
            )
        )
        .mappings()
        .all()
    )
    latest: dict[str, Any] = {}
    for row in rows:
        latest[row["visit_id"]] = row
    return {s.row["visit_id"]: s for s in await _snapshots(conn, latest.values())}


_r, _s = schema.recordings, schema.recording_segments
# Built once and run on the driver's cursor (core.driver_sql): every load of a visit reads them.
_LATEST = DriverStatement(
    select(_r)
    .where(_r.c.visit_id == bindparam("visit_id"))
    .order_by(_r.c.requested_at.desc(), _r.c.id.desc())
    .limit(1),
    point_read=True,
)
_SEGMENT_COUNT = DriverStatement(
    select(func.count()).where(_s.c.recording_id == bindparam("recording_id")),
    point_read=True,
)


def read_latest(conn: Connection, visit_id: str) -> RecordingSnapshot | None:
    """`latest_for_visit` for synchronous code run by `AsyncConnection.run_sync`."""
    row = _LATEST.first(conn, {"visit_id": visit_id})
    if row is None:
        return None
    ((segments,),) = _SEGMENT_COUNT.rows(conn, {"recording_id": row["id"]})
    return RecordingSnapshot(row=row, segments=int(segments))


async def latest_for_visit(conn: AsyncConnection, visit_id: str) -> RecordingSnapshot | None:
    """The visit's most recently requested recording, if it has one."""
    return await conn.run_sync(read_latest, visit_id)


async def snapshot(conn: AsyncConnection, recording_id: str) -> RecordingSnapshot | None:
    r = schema.recordings
    row = (await conn.execute(select(r).where(r.c.id == recording_id))).mappings().first()
    found = await _snapshots(conn, [row] if row is not None else [])
    return found[0] if found else None
