"""core.pg_driver: the pool's pre-ping asks the server only about a connection that has
rested, with one query, and still replaces a dead connection."""

import time
import uuid
from collections.abc import AsyncIterator

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from core import db
from core.pg_driver import QUIET_BEFORE_PING, OneTripPingConnection
from tests.support.postgres import RunningPostgres, create_database, spy_on_asyncpg
from tests.support.recorder import eventually


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


async def pooled(engine: AsyncEngine) -> OneTripPingConnection:
    """The adapter of the connection the pool holds (its only one, once returned)."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        adapter = raw.dbapi_connection
    assert isinstance(adapter, OneTripPingConnection)
    return adapter


async def test_a_connection_that_rested_is_pinged_with_one_query(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = await pooled(engine)
    adapter.returned_at = time.monotonic() - QUIET_BEFORE_PING - 1
    calls = spy_on_asyncpg(monkeypatch)
    async with engine.connect():
        pass  # a checkout that runs nothing: only the ping
    assert calls == [";"]


async def test_a_connection_back_in_the_pool_a_moment_ago_is_not_pinged(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = await pooled(engine)
    assert time.monotonic() - adapter.returned_at < QUIET_BEFORE_PING
    calls = spy_on_asyncpg(monkeypatch)
    async with engine.connect():
        pass
    assert calls == []
    assert await pooled(engine) is adapter


async def test_a_connection_the_server_closed_is_replaced_without_asking(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Used a moment ago, so not pinged, but the server has since closed it (as a restart
    does, sending its FIN): the checkout sees that and connects again, with no error."""
    adapter = await pooled(engine)
    pid = await backend_pid(engine)
    await terminate(engine, pid)

    async def closed() -> bool:
        return bool(adapter._connection.is_closed())

    await eventually(closed, timeout=10, interval=0.01)
    assert time.monotonic() - adapter.returned_at < QUIET_BEFORE_PING
    assert await backend_pid(engine) != pid


async def terminate(engine: AsyncEngine, pid: int) -> None:
    """End that backend from another connection, as a restart would, and wait until it has."""
    url = make_url(engine.url).set(drivername="postgresql")
    killer = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        assert await killer.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
    finally:
        await killer.close()


async def test_a_dead_connection_that_rested_is_replaced(engine: AsyncEngine) -> None:
    """PostgreSQL ending a pooled connection that has rested costs the next request nothing:
    the ping finds it dead and the pool connects again."""
    adapter = await pooled(engine)
    pid = await backend_pid(engine)
    await terminate(engine, pid)
    adapter.returned_at = time.monotonic() - QUIET_BEFORE_PING - 1
    assert await backend_pid(engine) != pid
