"""Open visits keep their LiveKit room: a room the SFU lost is created again.

An SFU that restarts (or a cluster node that dies) forgets its rooms; no webhook says so.
A visit ends only by a person, or by the no-show and timeout rules, never because the
infrastructure failed: so a visit whose room is missing gets the room back, with the same
name and metadata (recording flag included), and the participants' pages rejoin it with fresh
tokens. Each re-creation is an event on the visit, a log line and a metric
(`evr_sfu_rooms_recreated_total`, alerted on by EvrSfuRoomsRecreated). A re-created room that
the SFU closes again for staying empty ends the visit by the timeout rule (`abandoned`).

The watch is cheap (one room listing and one query), so it runs every second or so, well
inside the failover budget, apart from the slower full reconciliation in `sfu_events`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from control_plane.errors import DependencyUnavailable
from control_plane.metrics import Metrics
from control_plane.sfu import Sfu
from control_plane.visit_records import Visit, append_event, load_visit, transition
from core import schema
from core.domain import ROOM_STATES, VisitState
from core.recording_status import ACTIVE_STATUSES, latest_for_visit
from core.settings import RoomSettings

log = logging.getLogger(__name__)

ROOM_ACTOR = "system:room-watch"
ROOM_RECREATED = "room_recreated"
EMPTY_TIMEOUT_REASON = "room closed by the SFU: nobody joined it again within its empty timeout"


def _aware(at: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def abandoned(
    events: list[tuple[str, datetime, dict[str, Any]]], now: datetime, timeout: int
) -> bool:
    """Whether a lost room was the SFU's own timeout rather than a fault: the room had already
    been re-created at least `timeout` (the rooms' empty timeout) ago and nobody joined it
    since. `events` are the visit's (kind, at, detail), oldest first. Without this, a visit
    whose room_finished webhook was lost would get its room back forever."""
    last = max((i for i, (kind, _, _) in enumerate(events) if kind == ROOM_RECREATED), default=None)
    if last is None or now - events[last][1] < timedelta(seconds=timeout):
        return False
    return not any(
        kind == "participant_joined" or (kind == "status" and detail.get("to") == "live")
        for kind, _, detail in events[last + 1 :]
    )


async def recreate_room(
    engine: AsyncEngine, sfu: Sfu, metrics: Metrics, visit: Visit, rooms: RoomSettings
) -> None:
    """Create the visit's room again, as it was, and record that it had been lost; or, when
    the loss was the SFU's empty timeout on an already re-created room (`abandoned`), end the
    visit by that rule."""
    if visit.room_name is None:
        return
    e = schema.visit_events
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(e.c.kind, e.c.at, e.c.detail).where(e.c.visit_id == visit.id).order_by(e.c.id)
        )
        events = [(r.kind, _aware(r.at), r.detail or {}) for r in rows]
    now = datetime.now(UTC)
    if abandoned(events, now, rooms.empty_timeout):
        async with engine.begin() as conn:
            await transition(
                conn,
                visit,
                VisitState.ENDED,
                actor=ROOM_ACTOR,
                reason=EMPTY_TIMEOUT_REASON,
                values={"ended_at": now, "end_reason": EMPTY_TIMEOUT_REASON},
            )
        log.info("visit ended: its re-created room stayed empty", extra={"visit_id": visit.id})
        return
    async with engine.connect() as conn:
        recording = await latest_for_visit(conn, visit.id)
    on = recording is not None and recording.status in ACTIVE_STATUSES
    await sfu.create_room(visit.room_name, visit_id=visit.id, rooms=rooms)
    if on:
        # Pages show "Recording is on" from the room's metadata, which the old room took along.
        await sfu.set_recording_flag(visit.room_name, visit_id=visit.id, recording=True)
    async with engine.begin() as conn:
        await append_event(
            conn,
            visit.id,
            ROOM_RECREATED,
            ROOM_ACTOR,
            {"room": visit.room_name, "reason": "the SFU no longer had the room"},
        )
    metrics.sfu_rooms_recreated.inc()
    log.warning(
        "re-created a visit's room the SFU had lost",
        extra={"visit_id": visit.id, "room": visit.room_name, "recording": on},
    )


class RoomWatch:
    def __init__(
        self, engine: AsyncEngine, sfu: Sfu, metrics: Metrics, rooms: RoomSettings
    ) -> None:
        self._engine = engine
        self._sfu = sfu
        self._metrics = metrics
        self._rooms = rooms

    async def check_once(self) -> list[str]:
        """Re-create every open visit's missing room; return those visits' ids."""
        present = await self._sfu.room_names()
        v = schema.visits
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(v.c.id, v.c.room_name).where(
                    v.c.status.in_([s.value for s in ROOM_STATES]), v.c.room_name.is_not(None)
                )
            )
            missing = [row.id for row in rows if row.room_name not in present]
        recreated = []
        for visit_id in missing:
            async with self._engine.connect() as conn:
                visit = await load_visit(conn, visit_id)
            # Closed since the query: its room is meant to be gone.
            if visit is None or visit.status not in ROOM_STATES:
                continue
            await recreate_room(self._engine, self._sfu, self._metrics, visit, self._rooms)
            recreated.append(visit_id)
        return recreated

    async def run(self, interval: float) -> None:
        """Watch forever; an SFU that cannot be reached is retried, never fatal."""
        while True:
            try:
                await self.check_once()
            except DependencyUnavailable as exc:
                log.debug("room watch: SFU unreachable: %s", exc)
            except Exception:
                log.exception("room watch failed")
            await asyncio.sleep(interval)
