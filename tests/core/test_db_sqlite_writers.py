"""SQLite under two writing processes (`evr up` runs the control plane and the recorder
apart): a transaction that reads and then writes queues for the write lock instead of failing
"database is locked", and never loses the other process's update."""

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from core import db
from tests.support.sqlite_hand_offs import statements_handed_off

# Each transaction reads the counter, then writes it back plus one. Under the driver's own
# transactions the read ran outside the transaction and half the updates were lost.
_WRITER = """
import asyncio, sys
from sqlalchemy import text
from core import db

async def main(url: str, rounds: int) -> None:
    engine = db.create_engine(url)
    try:
        for _ in range(rounds):
            async with engine.begin() as conn:
                n = await conn.scalar(text("SELECT n FROM counter"))
                await asyncio.sleep(0)
                await conn.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
    finally:
        await engine.dispose()

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""

ROUNDS = 150


async def _setup(url: str) -> None:
    engine = db.create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
            await conn.execute(text("INSERT INTO counter VALUES (0)"))
    finally:
        await engine.dispose()


async def _count(url: str) -> int:
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(text("SELECT n FROM counter")) or 0)
    finally:
        await engine.dispose()


def test_two_processes_read_then_write_without_lock_errors_or_lost_updates(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'evr.sqlite3'}"
    asyncio.run(_setup(url))
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, url, str(ROUNDS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=120)[0] for w in writers]
    assert [w.returncode for w in writers] == [0, 0], outputs
    assert not any("database is locked" in out for out in outputs), outputs
    assert asyncio.run(_count(url)) == 2 * ROUNDS


async def test_a_reader_takes_no_write_lock(tmp_path: Path) -> None:
    """`engine.connect()` is a deferred read: an open one does not hold up a writer."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'evr.sqlite3'}"
    await _setup(url)
    reader, writer = db.create_engine(url), db.create_engine(url)
    try:
        async with reader.connect() as rconn:
            assert await rconn.scalar(text("SELECT n FROM counter")) == 0
            async with asyncio.timeout(5), writer.begin() as wconn:
                await wconn.execute(text("UPDATE counter SET n = 7"))
            # The reader keeps the snapshot it began with.
            assert await rconn.scalar(text("SELECT n FROM counter")) == 0
        async with reader.connect() as rconn:
            assert await rconn.scalar(text("SELECT n FROM counter")) == 7
    finally:
        await reader.dispose()
        await writer.dispose()


async def test_an_up_to_date_database_is_migrated_without_the_write_lock(tmp_path: Path) -> None:
    """A second process starting (the recorder beside the control plane) only reads the
    schema version, so it starts even while another process holds the write lock."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'evr.sqlite3'}"
    first, second = db.create_engine(url), db.create_engine(url)
    try:
        assert await db.migrate(first)
        async with first.begin() as conn:
            await conn.execute(text("SELECT 1"))  # holds the write lock (BEGIN IMMEDIATE)
            async with asyncio.timeout(5):
                assert await db.migrate(second) == []
    finally:
        await first.dispose()
        await second.dispose()


class _Abandoned(Exception):
    pass


async def test_a_connection_dropped_mid_transaction_leaves_no_write_lock_behind(
    tmp_path: Path,
) -> None:
    """A task cancelled inside a write transaction gets its connection invalidated and closed,
    not returned. SQLite's close then left a "zombie" that kept the transaction, and its write
    lock, while the cut-short statement lived (the cancellation's traceback holds it): seen as
    every other writer waiting 30 s for the lock and answering 503 after a control plane
    stopped. Dropped here by hand, with the statement still held, to be deterministic."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'evr.sqlite3'}"
    await _setup(url)
    engine = db.create_engine(url)
    held: list[object] = []

    async def drop_mid_transaction() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE counter SET n = n + 1"))
            held.append(await conn.stream(text("SELECT 1 UNION ALL SELECT 2")))
            await conn.invalidate()
            raise _Abandoned

    with pytest.raises(_Abandoned):
        await drop_mid_transaction()
    await engine.dispose()

    def write_at_once() -> None:
        plain = sqlite3.connect(tmp_path / "evr.sqlite3", timeout=2.0, isolation_level=None)
        try:
            plain.execute("BEGIN IMMEDIATE")
            plain.execute("UPDATE counter SET n = n + 10")
            plain.execute("COMMIT")
        finally:
            plain.close()

    await asyncio.to_thread(write_at_once)
    assert await _count(url) == 10  # the dropped transaction's update was rolled back
    held.clear()


async def test_one_processs_writers_queue_in_turn_not_in_sqlites_busy_handler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers of one engine wait for each other in the engine's queue, first come first
    served; each then takes the free lock at once, so none waits in SQLite's busy handler
    (which sleeps 1, 2, 5, 10 ms... between tries) and none is handed to aiosqlite's
    thread to wait."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'evr.sqlite3'}"
    await _setup(url)
    engine = db.create_engine(url)
    order: list[str] = []
    first_holds, release = asyncio.Event(), asyncio.Event()

    async def write(name: str) -> None:
        async with engine.begin() as conn:
            order.append(name)
            await conn.execute(text("UPDATE counter SET n = n + 1"))
            if name == "first":
                first_holds.set()
                await release.wait()

    try:
        async with engine.connect():
            pass  # the pool's connection exists before counting: its PRAGMAs are no writes
        handed_off = statements_handed_off(monkeypatch)
        writers = [asyncio.create_task(write("first"))]
        await first_holds.wait()
        writers += [asyncio.create_task(write(n)) for n in ("second", "third")]
        for _ in range(5):
            await asyncio.sleep(0)
        assert order == ["first"]  # the others wait in the queue, not in a transaction
        release.set()
        await asyncio.gather(*writers)
        assert order == ["first", "second", "third"]
        assert not [s for s in handed_off if str(s).startswith("BEGIN")]
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT n FROM counter")) == 3
    finally:
        await engine.dispose()


async def test_a_writer_queued_past_the_busy_timeout_is_told_the_database_is_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As SQLite answers a writer that waited out busy_timeout: "database is locked", which
    the control plane's middleware answers with 503 and Retry-After."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'evr.sqlite3'}"
    await _setup(url)
    engine = db.create_engine(url)
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 50)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE counter SET n = 1"))
            with pytest.raises(OperationalError) as refused:
                async with engine.begin():
                    pass
        assert "database is locked" in str(refused.value.orig)
        async with engine.begin() as conn:  # the queue was let go: the next writer goes in
            await conn.execute(text("UPDATE counter SET n = n + 1"))
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT n FROM counter")) == 2
    finally:
        await engine.dispose()
