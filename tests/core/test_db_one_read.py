"""core.db.one_read: a lone SELECT on PostgreSQL runs with no BEGIN or ROLLBACK around it,
and the connection goes back to the pool in transactions again."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core import db
from tests.support.postgres import RunningPostgres, create_database, spy_on_asyncpg


@pytest.fixture
async def engine(postgres: RunningPostgres) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(create_database(postgres, f"evr_read_{uuid.uuid4().hex[:8]}"))
    async with engine.connect():
        pass  # one connection in the pool, returned a moment ago: its checkout is not pinged
    yield engine
    await engine.dispose()


async def in_transaction(conn: Any) -> bool:
    """Whether the server has the connection inside a transaction block: now() is the
    transaction's start, frozen across statements only inside one."""
    first = (await conn.execute(text("SELECT now()"))).scalar_one()
    await conn.execute(text("SELECT pg_sleep(0.01)"))
    return bool(first == (await conn.execute(text("SELECT now()"))).scalar_one())


async def test_a_lone_read_opens_no_transaction(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy_on_asyncpg(monkeypatch)
    async with db.one_read(engine) as conn:
        assert (await conn.execute(text("SELECT 41 + 1"))).scalar_one() == 42
        assert not await in_transaction(conn)
    assert calls == []


async def test_the_connection_is_back_in_transactions_after_a_lone_read(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with db.one_read(engine) as conn:
        await conn.execute(text("SELECT 1"))
    calls = spy_on_asyncpg(monkeypatch)
    async with engine.connect() as conn:
        assert await in_transaction(conn)
    assert calls == ["transaction"]
