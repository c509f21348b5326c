"""core.db.PgEngine: reads run outside a transaction (no BEGIN, no ROLLBACK round trips);
writes are transactions as before, committed whole or rolled back whole."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core import db
from tests.support.postgres import RunningPostgres, create_empty_database


@pytest.fixture
async def engine(postgres: RunningPostgres) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(create_empty_database(postgres, f"evr_reads_{uuid.uuid4().hex[:8]}"))
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id serial PRIMARY KEY, name text UNIQUE)"))
    yield engine
    await engine.dispose()


async def _one_transaction(conn: AsyncConnection) -> bool:
    """Whether the connection's statements share one transaction: now() is its start."""
    first = await conn.scalar(text("SELECT now()"))
    await conn.execute(text("SELECT pg_sleep(0.01)"))
    return bool(first == await conn.scalar(text("SELECT now()")))


@pytest.fixture
def transactions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every asyncpg transaction SQLAlchemy starts (BEGIN, and its COMMIT or ROLLBACK)."""
    started: list[str] = []
    real = asyncpg.Connection.transaction

    def transaction(self: Any, **kw: Any) -> Any:
        started.append("transaction")
        return real(self, **kw)

    monkeypatch.setattr(asyncpg.Connection, "transaction", transaction)
    return started


async def test_a_read_starts_no_transaction(engine: AsyncEngine, transactions: list[str]) -> None:
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0
        assert not await _one_transaction(conn)
    assert transactions == []


async def test_a_write_is_one_transaction(engine: AsyncEngine, transactions: list[str]) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
        assert await _one_transaction(conn)
    assert transactions == ["transaction"]


async def _write_then_fail(engine: AsyncEngine, *, pid: int | None = None) -> None:
    async with engine.begin() as conn:
        if pid is not None:
            assert await conn.scalar(text("SELECT pg_backend_pid()")) == pid
        await conn.execute(text("INSERT INTO t (name) VALUES ('gone')"))
        raise RuntimeError("fail after the write")


async def test_a_failed_write_leaves_nothing(engine: AsyncEngine) -> None:
    with pytest.raises(RuntimeError):
        await _write_then_fail(engine)
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0


async def test_a_pooled_connection_goes_from_reads_to_writes_and_back(
    engine: AsyncEngine,
) -> None:
    """One pooled connection, used by a read, a write and a read: the write is still a
    transaction, and the read after it is not (the pool resets the isolation level)."""
    async with engine.connect() as conn:
        pid = await conn.scalar(text("SELECT pg_backend_pid()"))
    with pytest.raises(RuntimeError):
        await _write_then_fail(engine, pid=pid)
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT pg_backend_pid()")) == pid
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0
        assert not await _one_transaction(conn)
