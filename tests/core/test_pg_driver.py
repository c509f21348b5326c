"""core.pg_driver: the pool's pre-ping is one query, and still replaces a dead connection."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from core import db
from tests.support.postgres import RunningPostgres, create_database


@pytest.fixture
async def engine(postgres: RunningPostgres) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(create_database(postgres, f"evr_ping_{uuid.uuid4().hex[:8]}"))
    yield engine
    await engine.dispose()


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    assert isinstance(pid, int)
    return pid


async def test_the_pre_ping_is_one_query(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await backend_pid(engine)  # a connection in the pool, so the next checkout pings it
    calls: list[str] = []
    real_fetchrow, real_transaction = asyncpg.Connection.fetchrow, asyncpg.Connection.transaction

    async def fetchrow(self: Any, query: str, *args: Any, **kw: Any) -> Any:
        calls.append(query)
        return await real_fetchrow(self, query, *args, **kw)

    def transaction(self: Any, **kw: Any) -> Any:
        calls.append("transaction")
        return real_transaction(self, **kw)

    monkeypatch.setattr(asyncpg.Connection, "fetchrow", fetchrow)
    monkeypatch.setattr(asyncpg.Connection, "transaction", transaction)
    async with engine.connect():
        pass  # a checkout that runs nothing: only the ping
    assert calls == [";"]


async def test_a_dead_pooled_connection_is_replaced(engine: AsyncEngine) -> None:
    """PostgreSQL ending the pooled connection (as a restart does) costs the next request
    nothing: the ping finds it dead and the pool connects again."""
    pid = await backend_pid(engine)
    url = make_url(engine.url).set(drivername="postgresql")
    killer = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        assert await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await killer.close()
    assert await backend_pid(engine) != pid
