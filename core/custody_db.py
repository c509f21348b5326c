"""The chain of custody in the platform database (`custody_log`, migration 3).

Same entries and hashes as :mod:`core.custody` (the JSON-lines log stays the format of
disclosure bundles). The table is append-only by trigger, and ``UNIQUE(evidence_id, seq)``
makes two writers racing for the same ``seq`` collide instead of forking the chain: the
loser re-reads the head and links after it.

Async callers use :meth:`DbCustodyLog.append_async` / :meth:`entries_for_async`. The
synchronous :class:`core.custody.CustodyLog` methods exist for the evidence-store code
(sealing, export, retention), which runs in worker threads: they hand the query to the
event loop that owns the engine and wait for it. Calling them on that loop's own thread
would deadlock, so it is refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError as DbIntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core import schema
from core.canonical import JsonValue
from core.custody import CustodyEntry, CustodyEvent, make_entry

_APPEND_ATTEMPTS = 8
_SYNC_TIMEOUT = 60.0


def _entry(row: Any) -> CustodyEntry:
    details = row["details"]
    return CustodyEntry(
        seq=int(row["seq"]),
        evidence_id=str(row["evidence_id"]),
        event=CustodyEvent(row["event"]),
        actor=str(row["actor"]),
        at=row["at"],
        reason=str(row["reason"]),
        details=details if isinstance(details, dict) else {},
        prev_hash=str(row["prev_hash"]),
        hash=str(row["hash"]),
    )


entry_from_row = _entry
"""A :class:`CustodyEntry` from its ``custody_log`` row (for whole-table verification)."""


class DbCustodyLog:
    """A :class:`core.custody.CustodyLog` kept in the ``custody_log`` table."""

    def __init__(self, engine: AsyncEngine, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._engine = engine
        self._loop = loop or asyncio.get_running_loop()

    async def entries_for_async(
        self, evidence_id: str, *, conn: AsyncConnection | None = None
    ) -> list[CustodyEntry]:
        """Every entry of ``evidence_id`` in seq order."""
        c = schema.custody_log
        query = select(c).where(c.c.evidence_id == evidence_id).order_by(c.c.seq)
        if conn is not None:
            rows = (await conn.execute(query)).mappings().all()
        else:
            async with self._engine.connect() as own:
                rows = (await own.execute(query)).mappings().all()
        return [_entry(r) for r in rows]

    async def append_async(
        self,
        *,
        evidence_id: str,
        event: CustodyEvent,
        actor: str,
        reason: str = "",
        details: Mapping[str, JsonValue] | None = None,
        at: datetime | None = None,
        conn: AsyncConnection | None = None,
        once: bool = False,
    ) -> CustodyEntry:
        """Link and insert one entry. With ``conn``, it commits with the caller's transaction
        (which then must retry as a whole on a seq collision). ``once``: see
        :meth:`core.custody.CustodyLog.append`; a racing writer of the same step loses on
        ``seq``, retries, and then finds the entry the winner wrote."""
        if conn is not None:
            return await self._insert(
                conn,
                evidence_id=evidence_id,
                event=event,
                actor=actor,
                reason=reason,
                details=details,
                at=at,
                once=once,
            )
        for attempt in range(_APPEND_ATTEMPTS):
            try:
                async with self._engine.begin() as own:
                    return await self._insert(
                        own,
                        evidence_id=evidence_id,
                        event=event,
                        actor=actor,
                        reason=reason,
                        details=details,
                        at=at,
                        once=once,
                    )
            except DbIntegrityError:
                if attempt == _APPEND_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _insert(
        self,
        conn: AsyncConnection,
        *,
        evidence_id: str,
        event: CustodyEvent,
        actor: str,
        reason: str,
        details: Mapping[str, JsonValue] | None,
        at: datetime | None,
        once: bool = False,
    ) -> CustodyEntry:
        c = schema.custody_log
        item = select(c).where(c.c.evidence_id == evidence_id)
        if once:
            # One statement, one snapshot: the step's earlier entry and the head it would link
            # to. A racing writer's entry is either seen here or collides with ours on seq.
            rows = (await conn.execute(item.order_by(c.c.seq))).mappings().all()
            done = next((r for r in rows if r["event"] == event.value), None)
            if done is not None:
                return _entry(done)
            last = rows[-1] if rows else None
        else:
            query = item.order_by(c.c.seq.desc()).limit(1)
            last = (await conn.execute(query)).mappings().first()
        entry = make_entry(
            _entry(last) if last is not None else None,
            evidence_id=evidence_id,
            event=event,
            actor=actor,
            reason=reason,
            details=details,
            at=at or datetime.now(UTC),
        )
        await conn.execute(
            insert(c).values(
                evidence_id=entry.evidence_id,
                seq=entry.seq,
                event=entry.event.value,
                actor=entry.actor,
                at=entry.at,
                reason=entry.reason,
                details=dict(entry.details),
                prev_hash=entry.prev_hash,
                hash=entry.hash,
            )
        )
        return entry

    # -- the synchronous CustodyLog protocol, for code running in worker threads -------------

    def _run(self, coro: Any) -> Any:
        if self._loop.is_running() and _on_loop_thread(self._loop):
            coro.close()
            raise RuntimeError("DbCustodyLog sync methods must run off the event loop thread")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(_SYNC_TIMEOUT)

    def append(
        self,
        *,
        evidence_id: str,
        event: CustodyEvent,
        actor: str,
        reason: str = "",
        details: Mapping[str, JsonValue] | None = None,
        at: datetime | None = None,
        once: bool = False,
    ) -> CustodyEntry:
        """See :meth:`core.custody.CustodyLog.append`."""
        entry: CustodyEntry = self._run(
            self.append_async(
                evidence_id=evidence_id,
                event=event,
                actor=actor,
                reason=reason,
                details=details,
                at=at,
                once=once,
            )
        )
        return entry

    def entries_for(self, evidence_id: str) -> list[CustodyEntry]:
        """See :meth:`core.custody.CustodyLog.entries_for`."""
        entries: list[CustodyEntry] = self._run(self.entries_for_async(evidence_id))
        return entries


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
