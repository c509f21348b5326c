"""The custody chain in the database: concurrent appends never fork it, on both backends;
a step appended ``once`` is written once even by racing retries; the table refuses updates
and deletes; the sync protocol is refused on the loop thread."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError

from control_plane.keys import ENGINE
from core import schema
from core.custody import CustodyEvent, verify_chain
from core.custody_db import DbCustodyLog
from tests.support.stack import Stack


async def test_concurrent_appends_form_one_chain(stack: Stack) -> None:
    log = DbCustodyLog(stack.app[ENGINE])
    evidence_id = f"concurrency-{stack.settings.database_url[:6]}"

    async def view(n: int) -> None:
        await log.append_async(
            evidence_id=evidence_id, event=CustodyEvent.VIEWED, actor=f"u-{n}", reason="review"
        )

    await asyncio.gather(*(view(n) for n in range(12)))
    # And the same through the synchronous protocol, from worker threads.
    await asyncio.gather(
        *(
            asyncio.to_thread(
                log.append,
                evidence_id=evidence_id,
                event=CustodyEvent.VIEWED,
                actor=f"t-{n}",
                reason="review",
            )
            for n in range(4)
        )
    )
    entries = await log.entries_for_async(evidence_id)
    assert [e.seq for e in entries] == list(range(1, 17))
    verify_chain(entries, evidence_id=evidence_id)
    assert {e.actor for e in entries} == {f"u-{n}" for n in range(12)} | {
        f"t-{n}" for n in range(4)
    }


async def test_a_step_appended_once_is_written_once(stack: Stack) -> None:
    log = DbCustodyLog(stack.app[ENGINE])
    evidence_id = f"once-{stack.settings.database_url[:6]}"

    async def sealed(n: int) -> int:
        entry = await log.append_async(
            evidence_id=evidence_id,
            event=CustodyEvent.SEALED,
            actor=f"recorder-{n}",
            reason="manifest signed and masters sealed",
            once=True,
        )
        return entry.seq

    # Retries racing each other (two recorders, or a retry after a lost answer).
    seqs = await asyncio.gather(*(sealed(n) for n in range(6)))
    entries = await log.entries_for_async(evidence_id)
    assert [e.event for e in entries] == [CustodyEvent.SEALED]
    assert set(seqs) == {1}
    # Other events, and appends without ``once``, are not affected.
    await log.append_async(
        evidence_id=evidence_id, event=CustodyEvent.VIEWED, actor="u-1", reason="review"
    )
    await log.append_async(
        evidence_id=evidence_id, event=CustodyEvent.VIEWED, actor="u-1", reason="review"
    )
    assert len(await log.entries_for_async(evidence_id)) == 3


async def test_the_table_is_append_only(stack: Stack) -> None:
    engine = stack.app[ENGINE]
    log = DbCustodyLog(engine)
    entry = await log.append_async(
        evidence_id="append-only", event=CustodyEvent.VIEWED, actor="u", reason="r"
    )
    c = schema.custody_log
    with pytest.raises(DBAPIError, match=r"append-only|permission denied"):
        async with engine.begin() as conn:
            await conn.execute(update(c).where(c.c.hash == entry.hash).values(actor="x"))
    with pytest.raises(DBAPIError, match=r"append-only|permission denied"):
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM custody_log WHERE evidence_id = 'append-only'"))


async def test_sync_methods_refuse_the_loop_thread(stack: Stack) -> None:
    log = DbCustodyLog(stack.app[ENGINE])
    with pytest.raises(RuntimeError, match="off the event loop"):
        log.entries_for("anything")
