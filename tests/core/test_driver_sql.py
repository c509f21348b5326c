"""Statements run on the driver's cursor (core.driver_sql), on both databases: they store
exactly what SQLAlchemy's own execution stores, read back the same converted values, run
inside the caller's transaction, and fail with SQLAlchemy's exceptions."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from core import db
from core.driver_sql import DriverStatement
from core.schema import UtcDateTime
from tests.support.postgres import owner_url

metadata = MetaData()
probe = Table(
    f"driver_sql_probe_{uuid.uuid4().hex[:8]}",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(40), nullable=False, unique=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("until", UtcDateTime(), nullable=True),
    Column("detail", JSON, nullable=False),
    Column("flag", Boolean, nullable=False),
    Column("n", Integer, nullable=False),
    # asyncpg's float conversion needs the type code the database reports for the column.
    Column("lag", Float, nullable=True),
)
FIELDS = ("name", "at", "until", "detail", "flag", "n", "lag")
INSERT = DriverStatement(insert(probe).values({f: bindparam(f) for f in FIELDS}))
BUMP = DriverStatement(
    update(probe)
    .where(probe.c.name == bindparam("who"))
    .values(n=probe.c.n + 1)
    .returning(probe.c.n, probe.c.at.label("when"), probe.c.detail, probe.c.flag)
)
BY_NAME = DriverStatement(
    select(probe.c.name, probe.c.at, probe.c.until, probe.c.detail, probe.c.flag, probe.c.lag)
    .where(probe.c.name == bindparam("who"))
    .order_by(probe.c.id)
)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    # The owner's role: the runtime role may not create tables, and this one is the test's.
    engine = db.create_engine(owner_url(database_url))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield engine
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
        await engine.dispose()


def values(name: str) -> dict[str, Any]:
    # Not UTC on purpose: UtcDateTime converts on the way in, whichever path writes it.
    at = datetime(2026, 11, 30, 20, 15, 1, 123456, tzinfo=timezone(timedelta(hours=2)))
    return {
        "name": name,
        "at": at,
        "until": None,
        "detail": {"role": "victim", "note": "Zoë's phone", "n": [1, 2.5, None]},
        "flag": True,
        "n": 41,
        "lag": 0.25,
    }


async def test_a_row_is_stored_as_sqlalchemy_stores_it(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(probe), values("by-sqlalchemy"))
        await conn.run_sync(INSERT.run, values("by-driver"))
    # What the database holds, as the driver returns it with no conversion at all.
    columns = [probe.c[f] for f in FIELDS[1:]]
    query = select(probe.c.name, *columns).order_by(probe.c.id).compile(dialect=engine.dialect)
    async with engine.connect() as conn:
        raw = await conn.exec_driver_sql(str(query))
        stored: dict[str, tuple[Any, ...]] = {row[0]: tuple(row[1:]) for row in raw}
    assert stored["by-driver"] == stored["by-sqlalchemy"]


async def test_rows_come_back_converted(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(INSERT.run, values("victim"))
        bumped = await conn.run_sync(BUMP.rows, {"who": "victim"})
        found = await conn.run_sync(BY_NAME.mappings, {"who": "victim"})
        nobody = await conn.run_sync(BY_NAME.mappings, {"who": "nobody"})
        first = await conn.run_sync(BY_NAME.first, {"who": "victim"})
        no_first = await conn.run_sync(BY_NAME.first, {"who": "nobody"})
    at = datetime(2026, 11, 30, 18, 15, 1, 123456, tzinfo=UTC)
    detail = {"role": "victim", "note": "Zoë's phone", "n": [1, 2.5, None]}
    # `n + 1` compiles its 1 in as a constant; RETURNING's values are converted too.
    assert bumped == [(42, at, detail, True)]
    assert bumped[0][1].tzinfo is UTC
    assert found == [
        {"name": "victim", "at": at, "until": None, "detail": detail, "flag": True, "lag": 0.25}
    ]
    assert nobody == []
    assert first == found[0]
    assert no_first is None


async def test_a_write_is_part_of_the_callers_transaction(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        transaction = await conn.begin()
        await conn.run_sync(INSERT.run, values("rolled-back"))
        await transaction.rollback()
    async with engine.connect() as conn:
        assert await conn.run_sync(BY_NAME.rows, {"who": "rolled-back"}) == []


async def test_reads_of_one_connection_share_its_transaction(engine: AsyncEngine) -> None:
    """As `Connection.execute` does, the first statement of an `engine.connect()` begins
    its transaction (on SQLite, one snapshot for every read in it): a visit load's reads
    then see one state of the database."""
    async with engine.begin() as conn:
        await conn.run_sync(INSERT.run, values("victim"))
    async with engine.connect() as reader:
        before = await reader.run_sync(BY_NAME.first, {"who": "victim"})
        assert reader.in_transaction()
        async with engine.begin() as writer:
            await writer.execute(update(probe).values(flag=False))
        after = await reader.run_sync(BY_NAME.first, {"who": "victim"})
    assert before is not None
    assert before["flag"] is True
    assert after is not None
    if engine.dialect.name == "sqlite":
        assert after["flag"] is True  # the reader's snapshot predates the write
    else:
        # PostgreSQL's default isolation, READ COMMITTED, sees each statement's own time.
        assert after["flag"] is False


async def test_a_driver_error_is_sqlalchemys_and_hides_the_values(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(INSERT.run, values("twice"))
    secret = values("twice") | {"detail": {"code": "do-not-log-me"}}
    with pytest.raises(IntegrityError) as caught:
        async with engine.begin() as conn:
            await conn.run_sync(INSERT.run, secret)
    assert "do-not-log-me" not in str(caught.value)
    # The connection it failed on goes back to the pool usable.
    async with engine.begin() as conn:
        await conn.run_sync(INSERT.run, values("after"))
        assert len(await conn.run_sync(BY_NAME.rows, {"who": "after"})) == 1
