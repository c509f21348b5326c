"""Every database statement the recorder makes: its job queue and what a job reads and writes.

Each method is one short transaction, so no connection is held while media flows. Every
write about a job (status, heartbeat, segments, gaps, participants, release, finish) is
fenced: it lands only while this recorder holds the claim *at the generation it claimed*.
The generation is the row's ``attempts`` counter, which every claim increments, so a
recorder that was too slow to renew its claim (stopped, starved) and wakes after another
took the job over cannot write about it any more, even if it is the same worker id that
claims it again later. Segment, gap and participant writes raise :class:`ClaimLostError`;
status writes simply do not land (``heartbeat`` returns None, ``finish`` False).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core import schema
from core.custody import CustodyEvent
from core.recording_status import ACTIVE_STATUSES, RecordingStatus
from recorder.states import ProblemReason, SegmentState


def _now() -> datetime:
    return datetime.now(UTC)


class ClaimLostError(Exception):
    """Another recorder holds the job now: this one must stop writing about it (fenced)."""


@dataclass
class Claim:
    """A job this recorder just claimed; ``crashed`` if it took it from a silent recorder.

    ``generation`` is the claim's fencing token (the row's ``attempts`` after this claim).
    """

    row: dict[str, Any]
    crashed: bool
    previous_holder: str | None
    generation: int = 0


class JobStore:
    """The ``recordings`` queue and its rows, as seen by the recorder ``worker_id``."""

    def __init__(
        self, engine: AsyncEngine, *, worker_id: str, stale_after: float, retry_backoff: float
    ) -> None:
        self.engine = engine
        self.worker_id = worker_id
        self.stale_after = stale_after
        self.retry_backoff = retry_backoff
        # recording id -> generation of this recorder's latest claim on it (the fence).
        self.generations: dict[str, int] = {}

    # -- reads --------------------------------------------------------------------------------

    async def visit(self, visit_id: str) -> dict[str, Any] | None:
        v = schema.visits
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(v).where(v.c.id == visit_id))).mappings().first()
        return dict(row) if row is not None else None

    async def recording_row(self, recording_id: str) -> dict[str, Any]:
        r = schema.recordings
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(r).where(r.c.id == recording_id))).mappings().one()
        return dict(row)

    async def segments(self, recording_id: str) -> list[dict[str, Any]]:
        s = schema.recording_segments
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(s).where(s.c.recording_id == recording_id).order_by(s.c.seg_index)
            )
            return [dict(r) for r in rows.mappings()]

    async def consents(self, visit_id: str) -> list[dict[str, Any]]:
        """The consents that still stand: taken by an officer, or given on the page by a
        session not since revoked (a replaced link's session may not consent for whoever
        holds the identity now), as the control plane counts them."""
        c, p = schema.recording_consents, schema.participant_sessions
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(c)
                .select_from(c.outerjoin(p, p.c.id == c.c.session_id))
                .where(
                    c.c.visit_id == visit_id,
                    or_(c.c.session_id.is_(None), p.c.revoked_at.is_(None)),
                )
                .order_by(c.c.id)
            )
            return [dict(r) for r in rows.mappings()]

    async def exports_count(self) -> int:
        c = schema.custody_log
        async with self.engine.connect() as conn:
            count = await conn.scalar(
                select(func.count()).where(c.c.event == CustodyEvent.EXPORTED.value)
            )
        return int(count or 0)

    async def resolved(self, recording_ids: Collection[str]) -> set[str]:
        """Those of ``recording_ids`` now secured: sealed, or recording with no problem."""
        r = schema.recordings
        found: set[str] = set()
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(r.c.id, r.c.status, r.c.problem).where(r.c.id.in_(list(recording_ids)))
            )
            for rid, status, problem in rows.all():
                if status == RecordingStatus.SEALED.value or (
                    status == RecordingStatus.RECORDING.value and problem is None
                ):
                    found.add(rid)
        return found

    # -- segments and what the statement learns while recording ---------------------------------

    async def open_segment(self, recording_id: str, index: int, name: str, start: datetime) -> None:
        async with self.engine.begin() as conn:
            await self._hold(conn, recording_id)
            await conn.execute(
                schema.recording_segments.insert().values(
                    recording_id=recording_id,
                    seg_index=index,
                    name=name,
                    host=self.worker_id,
                    state=SegmentState.OPEN.value,
                    start=start,
                )
            )

    async def update_segment(self, recording_id: str, index: int, values: dict[str, Any]) -> None:
        s = schema.recording_segments
        async with self.engine.begin() as conn:
            await self._hold(conn, recording_id)
            await conn.execute(
                update(s)
                .where(s.c.recording_id == recording_id, s.c.seg_index == index)
                .values(**values)
            )

    async def save_participants(
        self, recording_id: str, participants: list[dict[str, str]]
    ) -> None:
        r = schema.recordings
        async with self.engine.begin() as conn:
            await self._hold(conn, recording_id)
            await conn.execute(
                update(r).where(r.c.id == recording_id).values(participants=participants)
            )

    async def add_gap(self, recording_id: str, gap: dict[str, str]) -> None:
        r = schema.recordings
        async with self.engine.begin() as conn:
            await self._hold(conn, recording_id)
            gaps = (await conn.execute(select(r.c.gaps).where(r.c.id == recording_id))).scalar_one()
            await conn.execute(
                update(r).where(r.c.id == recording_id).values(gaps=[*(gaps or []), gap])
            )

    # -- the job's status and this recorder's claim on it ---------------------------------------

    def _mine(self, recording_id: str) -> ColumnElement[bool]:
        """This recorder holds the job, at the generation it last claimed it with."""
        r = schema.recordings
        mine = (r.c.id == recording_id) & (r.c.claimed_by == self.worker_id)
        generation = self.generations.get(recording_id)
        if generation is not None:
            mine = mine & (r.c.attempts == generation)
        return mine

    async def _hold(self, conn: AsyncConnection, recording_id: str) -> None:
        """Check the claim inside the caller's write transaction, or raise ClaimLostError.

        On PostgreSQL the row is locked (FOR UPDATE), so a takeover waits for this write to
        commit and its recovery then sees it; SQLite writers are serialised anyway.
        """
        r = schema.recordings
        query = select(r.c.id).where(self._mine(recording_id))
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        if (await conn.execute(query)).first() is None:
            raise ClaimLostError(f"recording {recording_id} is held by another recorder now")

    async def claim(self, *, exclude: Collection[str]) -> Claim | None:
        """Claim one job: new, released for retry, or held by a recorder gone silent.

        On PostgreSQL the candidates are locked ``SKIP LOCKED``, so recorders on several
        hosts never wait for each other; the conditional UPDATE decides on every database.
        """
        r = schema.recordings
        now = _now()
        stale_before = now - timedelta(seconds=self.stale_after)
        claimable = (r.c.claimed_by.is_(None)) | (r.c.heartbeat_at < stale_before)
        async with self.engine.begin() as conn:
            query = (
                select(r)
                .where(
                    r.c.status.in_([s.value for s in ACTIVE_STATUSES]),
                    (r.c.retry_at.is_(None)) | (r.c.retry_at <= now),
                    claimable,
                    r.c.id.not_in(list(exclude)) if exclude else true(),
                )
                .order_by(r.c.requested_at)
                .limit(5)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            for row in (await conn.execute(query)).mappings().all():
                done = await conn.execute(
                    update(r)
                    .where(r.c.id == row["id"], claimable)
                    .values(
                        claimed_by=self.worker_id,
                        claimed_at=now,
                        heartbeat_at=now,
                        retry_at=None,
                        attempts=r.c.attempts + 1,
                    )
                )
                if done.rowcount == 1:
                    crashed = row["claimed_by"] is not None
                    generation = int(row["attempts"] or 0) + 1
                    self.generations[str(row["id"])] = generation
                    return Claim(dict(row), crashed, row["claimed_by"], generation)
        return None

    async def mark_recording(self, recording_id: str, *, first_run: bool) -> None:
        r = schema.recordings
        now = _now()
        values: dict[str, Any] = {"heartbeat_at": now, "problem": None, "problem_reason": None}
        if first_run:
            values["started_at"] = now
        async with self.engine.begin() as conn:
            await conn.execute(
                update(r)
                .where(self._mine(recording_id), r.c.status == RecordingStatus.REQUESTED.value)
                .values(status=RecordingStatus.RECORDING.value)
            )
            await conn.execute(update(r).where(self._mine(recording_id)).values(**values))

    async def heartbeat(
        self, recording_id: str, lag: float, problem: str | None, reason: ProblemReason | None
    ) -> tuple[str, str | None] | None:
        """Refresh the claim; None if another recorder holds it now. Else (status, visit status)."""
        r, v = schema.recordings, schema.visits
        async with self.engine.begin() as conn:
            done = await conn.execute(
                update(r)
                .where(self._mine(recording_id))
                .values(
                    heartbeat_at=_now(),
                    lag_seconds=round(lag, 3),
                    problem=problem,
                    problem_reason=_value(reason),
                )
            )
            if done.rowcount != 1:
                return None
            row = (
                await conn.execute(
                    select(r.c.status, v.c.status.label("visit_status"))
                    .select_from(r.join(v, v.c.id == r.c.visit_id))
                    .where(r.c.id == recording_id)
                )
            ).one()
        return str(row.status), row.visit_status

    async def set_status(self, recording_id: str, status: RecordingStatus) -> None:
        r = schema.recordings
        async with self.engine.begin() as conn:
            await conn.execute(
                update(r)
                .where(self._mine(recording_id))
                .values(status=status.value, heartbeat_at=_now())
            )

    async def release(
        self, recording_id: str, *, problem: str | None, reason: ProblemReason | None
    ) -> None:
        """Give the job back (after a failed start, or at shutdown) to be retried."""
        r = schema.recordings
        retry = _now() + timedelta(seconds=self.retry_backoff if problem else 0)
        async with self.engine.begin() as conn:
            await conn.execute(
                update(r)
                .where(self._mine(recording_id))
                .values(
                    claimed_by=None,
                    heartbeat_at=None,
                    retry_at=retry,
                    problem=problem,
                    problem_reason=_value(reason),
                )
            )

    async def finish(
        self,
        recording_id: str,
        *,
        status: RecordingStatus,
        problem: str | None,
        reason: ProblemReason | None,
        **values: Any,
    ) -> bool:
        """Record the outcome; False (nothing written) if another recorder holds the job."""
        r = schema.recordings
        now = _now()
        extra = {"sealed_at": now} if status is RecordingStatus.SEALED else {}
        async with self.engine.begin() as conn:
            done = await conn.execute(
                update(r)
                .where(self._mine(recording_id))
                .values(
                    status=status.value,
                    problem=problem,
                    problem_reason=_value(reason),
                    heartbeat_at=now,
                    **extra,
                    **values,
                )
            )
        return done.rowcount == 1


def _value(reason: ProblemReason | None) -> str | None:
    return reason.value if reason is not None else None
