"""Alembic migrations, on real SQLite and PostgreSQL: a database made by the hand-rolled
migrations before Alembic upgrades in place with its rows and append-only triggers; a fresh
database goes down to empty and up again; `core.schema` and the revisions describe one schema.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, insert, inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from core import audit, db, schema
from core.custody import CustodyEvent
from core.custody_db import DbCustodyLog
from core.domain import AuditAction
from tests.support.postgres import RunningPostgres, create_empty_database

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[2]
BASELINE = "0001"
CHAIN = [
    rev.revision
    for rev in reversed(list(ScriptDirectory.from_config(db.alembic_config()).walk_revisions()))
]
"""Every revision, oldest first (the chain is linear)."""
HEAD = CHAIN[-1]

Shape = dict[str, Any]


@pytest.fixture(params=["sqlite", "postgres"])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """Makes empty databases of each backend, one per call."""

    def new() -> str:
        name = f"evr_migrations_{uuid.uuid4().hex[:12]}"
        if request.param == "sqlite":
            return f"sqlite+aiosqlite:///{tmp_path / name}.sqlite3"
        pg: RunningPostgres = request.getfixturevalue("postgres")
        return create_empty_database(pg, name)

    return new


@pytest.fixture
def url(new_database: Callable[[], str]) -> str:
    return new_database()


async def _load_legacy_dump(url: str) -> None:
    """Make the database the way the hand-rolled migrations 1 to 6 left it (tests/core/data)."""
    if url.startswith("sqlite"):
        _load_sqlite_dump(url.split("///", 1)[1])
        return
    dump = (DATA / "legacy_postgresql.sql").read_text()
    # asyncpg runs a script of many statements as one simple query; the dump's session
    # settings go with the engine.
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            await driver.execute(dump)
    finally:
        await engine.dispose()


def _load_sqlite_dump(path: str) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.executescript((DATA / "legacy_sqlite.sql").read_text())
    finally:
        conn.close()


def _shape(conn: Connection) -> Shape:
    """Every table with its columns, keys and indexes, and every trigger (and its function)."""
    inspector = inspect(conn)
    shape: Shape = {}
    for table in inspector.get_table_names():
        shape[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
            ],
            "primary key": inspector.get_pk_constraint(table)["constrained_columns"],
            "foreign keys": sorted(
                (fk["constrained_columns"], fk["referred_table"], fk["referred_columns"])
                for fk in inspector.get_foreign_keys(table)
            ),
            "unique": sorted(u["column_names"] for u in inspector.get_unique_constraints(table)),
            "indexes": sorted(
                (i["name"], i["column_names"], i["unique"]) for i in inspector.get_indexes(table)
            ),
            "checks": sorted(str(c["name"]) for c in inspector.get_check_constraints(table)),
        }
    shape["triggers"] = _triggers(conn)
    return shape


def _triggers(conn: Connection) -> list[str]:
    if conn.dialect.name == "sqlite":
        query = "SELECT tbl_name || '.' || name FROM sqlite_master WHERE type = 'trigger'"
    else:
        query = (
            "SELECT c.relname || '.' || t.tgname || ' -> ' || p.proname FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid "
            "WHERE NOT t.tgisinternal"
        )
    return sorted(conn.execute(text(query)).scalars())


async def _shape_of(engine: AsyncEngine) -> Shape:
    async with engine.connect() as conn:
        return await conn.run_sync(_shape)


async def _fresh_shape(url: str) -> Shape:
    """The schema Alembic makes in an empty database."""
    engine = db.create_engine(url)
    try:
        assert await db.migrate(engine) == CHAIN
        return await _shape_of(engine)
    finally:
        await engine.dispose()


async def _assert_logs_refuse_changes(engine: AsyncEngine) -> None:
    for table in ("audit_log", "custody_log"):
        with pytest.raises(DBAPIError, match=f"{table} is append-only"):
            async with engine.begin() as conn:
                await conn.execute(text(f"UPDATE {table} SET actor = 'someone else'"))  # noqa: S608
        with pytest.raises(DBAPIError, match=f"{table} is append-only"):
            async with engine.begin() as conn:
                await conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608


async def _add_visit(engine: AsyncEngine, *, legacy: bool = False) -> str:
    """A visit with an audit entry and a custody entry; ``legacy``: the audit row as code
    before the chain (revision r12b) wrote it."""
    now = datetime.now(UTC)
    visit_id = str(uuid.uuid4())
    async with engine.begin() as conn:
        await conn.execute(
            insert(schema.visits).values(
                id=visit_id,
                crime_reference="CR/1/26",
                officer_id="officer-1",
                officer_collar="1234",
                unit="North",
                scheduled_at=now,
                contact_channel="sms",
                contact_value="+447700900000",
                status="scheduled",
                created_at=now,
                updated_at=now,
            )
        )
        if legacy:
            await conn.execute(
                insert(schema.audit_log).values(
                    at=now, actor="officer-1", action="collection", visit_id=visit_id,
                    subject="visit", detail={"ratio": 0.5},
                )
            )  # fmt: skip
        else:
            await audit.record(
                conn,
                actor="officer-1",
                action=AuditAction.COLLECTION,
                subject="visit",
                visit_id=visit_id,
            )
    await DbCustodyLog(engine).append_async(
        evidence_id=visit_id, event=CustodyEvent.CREATED, actor="recorder", reason="test"
    )
    return visit_id


async def test_a_database_made_before_alembic_upgrades_in_place(
    url: str, new_database: Callable[[], str]
) -> None:
    await _load_legacy_dump(url)
    engine = db.create_engine(url)
    try:
        visit_id = await _add_visit(engine, legacy=True)

        # Adopted at the baseline, which is its schema: only the later revisions run.
        assert await db.migrate(engine) == CHAIN[CHAIN.index(BASELINE) + 1 :]
        assert await db.migrate(engine) == []

        async with engine.connect() as conn:
            assert await conn.scalar(select(schema.visits.c.crime_reference)) == "CR/1/26"
            entries = await audit.entries_for_visit(conn, visit_id)
            assert [e["action"] for e in entries] == ["collection"]
            # Revision r12b linked the row already there into the audit chain.
            chain = await audit.chain(conn)
            assert [e.seq for e in chain] == [1]
            audit.verify_chain(chain)
            assert await conn.scalar(text("SELECT version_num FROM alembic_version")) == HEAD
        custody = await DbCustodyLog(engine).entries_for_async(visit_id)
        assert [e.event for e in custody] == [CustodyEvent.CREATED]
        assert await _shape_of(engine) == await _fresh_shape(new_database())
        await _assert_logs_refuse_changes(engine)
    finally:
        await engine.dispose()


async def test_a_database_part_way_through_the_hand_rolled_migrations_is_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite3"
    _load_sqlite_dump(str(path))
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM schema_migrations WHERE version = 6")
    conn.close()
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        with pytest.raises(db.LegacySchemaError, match=r"\[1, 2, 3, 4, 5\], not 1 to 6"):
            await db.migrate(engine)
    finally:
        await engine.dispose()


def _downgrade_to_base(conn: Connection) -> None:
    command.downgrade(db.alembic_config(connection=conn), "base")


async def test_a_fresh_database_goes_down_to_empty_and_up_again(url: str) -> None:
    engine = db.create_engine(url)
    try:
        assert await db.migrate(engine) == CHAIN
        made = await _shape_of(engine)
        assert set(made) >= {"visits", "audit_log", "custody_log", "alembic_version"}
        # Append-only guards on the three logs, and the audit head's move (r14a).
        assert len(made["triggers"]) == (7 if url.startswith("sqlite") else 4)

        async with engine.begin() as conn:
            await conn.run_sync(_downgrade_to_base)
        emptied = await _shape_of(engine)
        assert set(emptied) == {"alembic_version", "triggers"}
        assert emptied["triggers"] == []
        if not url.startswith("sqlite"):
            async with engine.connect() as conn:
                functions = await conn.scalars(
                    text(
                        "SELECT proname FROM pg_proc "
                        "WHERE proname LIKE '%append_only' OR proname = 'audit_log_moves_head'"
                    )
                )
                assert functions.all() == []

        assert await db.migrate(engine) == CHAIN
        assert await _shape_of(engine) == made
        await _add_visit(engine)
        await _assert_logs_refuse_changes(engine)
    finally:
        await engine.dispose()


def _differences(conn: Connection) -> list[Any]:
    differences: list[Any] = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    return differences


async def test_the_schema_module_and_the_revisions_agree(url: str) -> None:
    # A change to core/schema.py without a revision (or the reverse) fails here.
    engine = db.create_engine(url)
    try:
        await db.migrate(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
    finally:
        await engine.dispose()


def test_the_alembic_command_prints_the_sql_for_review() -> None:
    # `[tool.alembic]` in pyproject.toml finds the same revisions the application runs.
    out = subprocess.run(
        [sys.executable, "-m", "alembic", "-x", "url=postgresql+asyncpg://", "upgrade", "head",
         "--sql"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout  # fmt: skip
    assert "CREATE TABLE visits (" in out
    assert "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log" in out
    assert "CREATE TRIGGER custody_log_append_only BEFORE UPDATE OR DELETE ON custody_log" in out
    assert "INSERT INTO alembic_version (version_num) VALUES ('0001')" in out


async def test_the_alembic_command_upgrades_a_database_online(url: str) -> None:
    # core/migrations/env.py's own engine, online (the --sql test above is offline).
    await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "alembic", "-x", f"url={url}", "upgrade", "head"],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=120,
    )
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
            version = await conn.scalar(text("SELECT version_num FROM alembic_version"))
        assert version == HEAD
    finally:
        await engine.dispose()


def test_evr_migrate_brings_a_database_made_before_alembic_to_the_newest_revision(
    tmp_path: Path,
) -> None:
    database = tmp_path / "old.sqlite3"
    _load_sqlite_dump(str(database))
    keys = tmp_path / "livekit-keys.yaml"
    keys.write_text(f"devkey: {'s' * 40}\n")
    keys.chmod(0o600)
    config = tmp_path / "evr.toml"
    config.write_text(
        f'database_url = "sqlite+aiosqlite:///{database}"\n[livekit]\nkey_file = "{keys}"\n'
    )
    out = subprocess.run(
        [sys.executable, "-m", "evr.cli", "migrate", "--config", str(config)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert out.strip() == "database is up to date"
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD,)]
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    conn.close()
    assert ("schema_migrations",) not in tables
