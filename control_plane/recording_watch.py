"""The control plane's own watch on statement recordings.

Whether a recording is secured is judged from its job row alone (`core.recording_status`), so
a recorder that never came or died silently is noticed without its help. Each active
recording that newly becomes not secured is logged once and added to its visit's history.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from control_plane.visit_records import append_event
from core import schema
from core.recording_status import ACTIVE_STATUSES, Problem, ProblemKind, snapshot

log = logging.getLogger(__name__)


class RecordingWatch:
    """Checks every active recording; remembers which problem each one was last logged with."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reported: dict[str, tuple[ProblemKind, str | None]] = {}

    async def check_once(self) -> list[tuple[str, Problem]]:
        """Log each active recording that has newly become not secured; return all problems."""
        r = schema.recordings
        async with self._engine.connect() as conn:
            rows = (
                (
                    await conn.execute(
                        select(r.c.id).where(r.c.status.in_([s.value for s in ACTIVE_STATUSES]))
                    )
                )
                .scalars()
                .all()
            )
            snaps = [s for s in [await snapshot(conn, i) for i in rows] if s is not None]
        problems: list[tuple[str, Problem]] = []
        for snap in snaps:
            _, problem = snap.judge()
            rid = str(snap.row["id"])
            if problem is None:
                self._reported.pop(rid, None)
                continue
            problems.append((rid, problem))
            # Logged once per problem: "...after 12 s" then "...after 13 s" is the same one.
            if self._reported.get(rid) == problem.key:
                continue
            self._reported[rid] = problem.key
            log.error(
                "statement recording not secured",
                extra={
                    "visit_id": snap.row["visit_id"],
                    "recording_id": rid,
                    "problem": problem.message,
                    "status": snap.row["status"],
                },
            )
            async with self._engine.begin() as conn:
                await append_event(
                    conn,
                    snap.row["visit_id"],
                    "recording_not_secured",
                    "system:control-plane",
                    {"recording": rid, "problem": problem.message},
                )
        return problems

    async def run(self, interval: float) -> None:
        """Run :meth:`check_once` forever; failures are logged and retried."""
        while True:
            try:
                await self.check_once()
            except Exception:
                log.exception("recording watch failed")
            await asyncio.sleep(interval)
