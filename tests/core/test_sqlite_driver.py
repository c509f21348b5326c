"""core.sqlite_driver: each statement is one hand-off to aiosqlite's thread, and none inside
a write transaction, with the same results, row counts, errors and transactions as
SQLAlchemy's stock aiosqlite adapter."""

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import bindparam, column, select, table, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from core import db, schema, sqlite_driver
from core.driver_sql import DriverStatement
from core.sqlite_driver import OneHopCursor
from tests.support.sqlite_hand_offs import statements_handed_off


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'evr.sqlite3'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    yield engine
    await engine.dispose()


async def test_a_statement_is_one_hand_off(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    hand_offs: list[tuple[str, object]] = []
    real = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: object, *args: object) -> object:
        # (what ran on the thread, the SQL it was given)
        hand_offs.append((getattr(fn, "__name__", repr(fn)), args[1] if args else None))
        return await real(self, fn, *args)  # type: ignore[no-untyped-call]

    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.driver_connection, aiosqlite.Connection)
        assert isinstance(raw.dbapi_connection.cursor(), OneHopCursor)  # type: ignore[union-attr]
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        rows = (await conn.execute(select(text("1 + 1")))).all()
    assert rows == [(2,)]
    # Only the SELECT is handed off. BEGIN (core.db starts every transaction; deferred, it
    # locks nothing) and the pool's rollback as the connection is returned (it only lets go
    # of the snapshot) wait for nothing and run on the loop's thread.
    assert hand_offs == [("_run", "SELECT 1 + 1")]


async def test_a_writers_statements_run_on_the_loops_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    hand_offs: list[tuple[str, object]] = []
    ran_on: list[tuple[object, bool]] = []
    real_execute = aiosqlite.Connection._execute
    real_run = sqlite_driver._run

    async def counted(self: aiosqlite.Connection, fn: object, *args: object) -> object:
        hand_offs.append((getattr(fn, "__name__", repr(fn)), args[1] if args else None))
        return await real_execute(self, fn, *args)  # type: ignore[no-untyped-call]

    def located(conn: aiosqlite.Connection, operation: str, *rest: object) -> object:
        ran_on.append((operation, threading.get_ident() == loop_thread))
        return real_run(conn, operation, *rest)  # type: ignore[arg-type]

    loop_thread = threading.get_ident()
    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    monkeypatch.setattr(sqlite_driver, "_run", located)
    insert = text("INSERT INTO t (name) VALUES (:name) RETURNING id")
    async with engine.begin() as conn:
        assert (await conn.execute(insert, {"name": "a"})).scalar() == 1
        assert (await conn.execute(text("SELECT name FROM t"))).scalar() == "a"
    # The write lock was free, so BEGIN IMMEDIATE took it on the loop's thread; the two
    # statements ran there too. Only COMMIT (fsync) went to aiosqlite's thread, and the
    # pool's rollback after the commit has nothing to end.
    assert hand_offs == [("commit", None)]
    assert ran_on == [
        ("BEGIN IMMEDIATE", True),
        ("INSERT INTO t (name) VALUES (?) RETURNING id", True),
        ("SELECT name FROM t", True),
    ]
    # A read after the commit is no writer: its read is handed off again.
    hand_offs.clear()
    ran_on.clear()
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 1
    assert hand_offs == [("located", "SELECT count(*) FROM t")]
    assert ran_on == [("BEGIN", True), ("SELECT count(*) FROM t", False)]


async def test_waiting_for_the_write_lock_does_not_hold_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second writer waits for the first's lock on aiosqlite's thread (busy_timeout), while
    the loop goes on serving; then its inline statements see the first writer's commit."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'lock.sqlite3'}"
    first, second = db.create_engine(url), db.create_engine(url)
    try:
        async with first.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)"))
        holding = asyncio.Event()
        release = asyncio.Event()

        async def hold_the_lock() -> None:
            async with first.begin() as conn:
                await conn.execute(text("INSERT INTO t (name) VALUES ('first')"))
                holding.set()
                await release.wait()

        async def write_after() -> list[str]:
            async with second.begin() as conn:
                await conn.execute(text("INSERT INTO t (name) VALUES ('second')"))
                return list((await conn.execute(text("SELECT name FROM t ORDER BY id"))).scalars())

        holder = asyncio.create_task(hold_the_lock())
        await holding.wait()
        handed_off = statements_handed_off(monkeypatch)
        waiter = asyncio.create_task(write_after())
        ticks = 0
        for _ in range(30):
            await asyncio.sleep(0.01)
            ticks += 1
        assert not waiter.done()
        release.set()
        await holder
        assert await asyncio.wait_for(waiter, 10) == ["first", "second"]
        # 30 sleeps of 10 ms ran while the second writer waited: the loop was free.
        assert ticks == 30
        # The second writer's BEGIN IMMEDIATE found the lock taken on the loop's thread and
        # went to wait on aiosqlite's (its other hand-offs are its new connection's PRAGMAs);
        # its INSERT and SELECT then ran inline.
        assert [s for s in handed_off if not str(s).startswith("PRAGMA")] == ["BEGIN IMMEDIATE"]
    finally:
        await first.dispose()
        await second.dispose()


async def test_rows_rowcount_lastrowid_and_returning(engine: AsyncEngine) -> None:
    t = text("INSERT INTO t (name) VALUES (:name)")
    async with engine.begin() as conn:
        first = await conn.execute(t, {"name": "a"})
        assert first.lastrowid == 1
        await conn.execute(t, [{"name": "b"}, {"name": "c"}])  # executemany
        changed = await conn.execute(text("UPDATE t SET name = name || '!' WHERE id > 1"))
        assert changed.rowcount == 2
        back = await conn.execute(
            text("UPDATE t SET name = 'z' WHERE id = :id RETURNING id, name"), {"id": 3}
        )
        assert back.all() == [(3, "z")]
        assert (await conn.execute(text("SELECT name FROM t ORDER BY id"))).scalars().all() == [
            "a",
            "b!",
            "z",
        ]
        none = await conn.execute(text("UPDATE t SET name = 'y' WHERE id = 99"))
        assert none.rowcount == 0
        # Fetching in batches reads the buffered rows (DB-API arraysize defaults to 1).
        batches = await conn.execute(text("SELECT id FROM t ORDER BY id"))
        assert batches.fetchmany() == [(1,)]
        assert batches.fetchmany(5) == [(2,), (3,)]


async def test_errors_are_the_dbapi_errors(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (name) VALUES ('dup')"))
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (name) VALUES ('dup')"))
    with pytest.raises(OperationalError, match="no such table"):
        async with engine.connect() as conn:
            await conn.execute(text("SELECT * FROM missing"))


async def test_a_failed_transaction_is_rolled_back(engine: AsyncEngine) -> None:
    async def write_then_fail() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (name) VALUES ('gone')"))
            raise RuntimeError("fail after the write")

    with pytest.raises(RuntimeError):
        await write_then_fail()
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0
        raw = await conn.get_raw_connection()
        # The rollback ended the writer: this connection's next reads are handed off again.
        assert raw.dbapi_connection.writing is False  # type: ignore[union-attr]
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (name) VALUES ('kept')"))
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT name FROM t"))).scalars().all() == ["kept"]


async def test_concurrent_writers_each_commit_once(tmp_path: Path) -> None:
    """Two engines (two connections, as two processes would have) racing through the
    project's compiled statements: every conditional UPDATE wins exactly once."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'race.sqlite3'}"
    engines = [db.create_engine(url), db.create_engine(url)]
    try:
        await db.migrate(engines[0])
        head = schema.audit_chain_head
        bump = update(head).where(head.c.id == 1).values(seq=head.c.seq + bindparam("by"))

        async def writer(engine: AsyncEngine) -> None:
            for _ in range(20):
                async with engine.begin() as conn:
                    assert (await conn.execute(bump, {"by": 1})).rowcount == 1

        await asyncio.gather(*(writer(e) for e in engines))
        async with engines[0].connect() as conn:
            assert (await conn.execute(select(head.c.seq))).scalar() == 40
    finally:
        for e in engines:
            await e.dispose()


_t = table("t", column("id"), column("name"))
_LOOKUP = DriverStatement(select(_t.c.name).where(_t.c.id == bindparam("id")), point_read=True)
_LOOKUP_SQL = "SELECT t.name \nFROM t \nWHERE t.id = ?"


async def test_a_point_read_runs_on_the_loops_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
    ran_on: list[tuple[object, bool]] = []
    real_run = sqlite_driver._run

    def located(conn: aiosqlite.Connection, operation: str, *rest: object) -> object:
        ran_on.append((operation, threading.get_ident() == loop_thread))
        return real_run(conn, operation, *rest)  # type: ignore[arg-type]

    loop_thread = threading.get_ident()
    monkeypatch.setattr(sqlite_driver, "_run", located)
    async with engine.connect() as conn:
        assert await conn.run_sync(_LOOKUP.rows, {"id": 1}) == [("a",)]
        # Any other read still goes to aiosqlite's thread.
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 1
    assert ran_on == [
        ("BEGIN", True),
        (_LOOKUP_SQL, True),
        ("SELECT count(*) FROM t", False),
    ]


async def test_a_point_read_found_busy_waits_on_the_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When SQLite answers "busy" on the loop's thread (a WAL being recovered by another
    process, or one holding the file in exclusive mode: neither can be staged beside an
    open connection, so the answer is staged here), the point read is handed to
    aiosqlite's thread, whose busy timeout waits, and still returns its row."""
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
    ran_on: list[tuple[object, bool]] = []
    real_run = sqlite_driver._run

    def busy_on_the_loop(conn: aiosqlite.Connection, operation: str, *rest: object) -> object:
        on_loop = threading.get_ident() == loop_thread
        ran_on.append((operation, on_loop))
        if operation == _LOOKUP_SQL and on_loop:
            busy = sqlite3.OperationalError("database is locked")
            busy.sqlite_errorcode = sqlite3.SQLITE_BUSY_RECOVERY
            raise busy
        return real_run(conn, operation, *rest)  # type: ignore[arg-type]

    loop_thread = threading.get_ident()
    monkeypatch.setattr(sqlite_driver, "_run", busy_on_the_loop)
    async with engine.connect() as conn:
        assert await conn.run_sync(_LOOKUP.rows, {"id": 1}) == [("a",)]
    assert ran_on == [("BEGIN", True), (_LOOKUP_SQL, True), (_LOOKUP_SQL, False)]
