"""Database engine and schema migrations.

Migrations are Alembic revisions (core/migrations/versions), applied by `migrate` in one
transaction, so on PostgreSQL a half-applied upgrade never survives a crash. A database made
by the hand-rolled migrations that came before Alembic is adopted in place: its schema is the
first revision's, so it is stamped at that revision and carries on from there.
"""

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from core.driver_sql import DriverStatement
from core.pg_driver import OneTripPingDbapi, mark_returned
from core.sqlite_driver import BEGIN_READER, BEGIN_WRITER, SQLITE_BUSY_TIMEOUT_MS, OneHopDbapi

log = logging.getLogger(__name__)

# The connection option that marks a transaction as a writer (set by `engine.begin()`).
_WRITER = "evr_sqlite_writer"

# The last hand-rolled migration (before Alembic) and the revision whose schema equals it.
LEGACY_LAST_VERSION = 6
BASELINE_REVISION = "0001"


class LegacySchemaError(RuntimeError):
    """The database was made by hand-rolled migrations older than the last one."""


def alembic_config(**attributes: Any) -> Config:
    """Alembic's configuration, from the package (the wheel has no pyproject.toml to read)."""
    config = Config()
    config.set_main_option("script_location", "core:migrations")
    config.attributes.update(attributes)
    return config


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
    # WAL + synchronous=FULL: a committed visit survives kill -9 and power loss.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()
    # The driver's own transactions are off (it would BEGIN only before the first INSERT or
    # UPDATE, so a transaction's SELECTs ran outside it and read-then-write lost updates);
    # `_sqlite_begin` starts every transaction instead.
    dbapi_conn.isolation_level = None  # type: ignore[attr-defined]


def _sqlite_begin(conn: Connection) -> None:
    """A write transaction (`engine.begin()`) takes the write lock at BEGIN IMMEDIATE, where
    busy_timeout applies, so the control plane and the recorder (two processes under
    `evr up`) queue for it. A deferred transaction that had read could not wait: SQLite fails
    its upgrade to a writer at once with "database is locked". Reads (`engine.connect()`)
    stay deferred: they take no lock and see one snapshot."""
    if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return
    immediate = conn.get_execution_options().get(_WRITER, False)
    (_BEGIN_WRITER if immediate else _BEGIN_READER).run(conn)


# On the driver's cursor (core.driver_sql): every transaction starts with one (issue 14).
_BEGIN_WRITER = DriverStatement(text(BEGIN_WRITER))
_BEGIN_READER = DriverStatement(text(BEGIN_READER))


def _sqlite_roll_back_before_close(dbapi_conn: object, _record: object) -> None:
    """Roll back before a connection closes. A task cancelled inside a transaction (the leader
    stopping a job mid-write) gets its connection closed, not returned: SQLite's close then
    leaves a "zombie" that keeps the open transaction, and with it the write lock, until the
    cut-short statement is garbage-collected (seen: every other writer waited 30 s and got
    503). A rollback first ends the transaction and fails the pending statement. Outside an
    event loop's greenlet (garbage collection) there is nothing to await with, so it is
    skipped."""
    try:
        dbapi_conn.rollback()  # type: ignore[attr-defined]
    except Exception as exc:
        log.debug("no rollback before closing a SQLite connection: %s", exc)


class SqliteEngine(AsyncEngine):
    """An engine whose `begin()` transactions are SQLite writers (BEGIN IMMEDIATE).

    Every write in the code base goes through `engine.begin()`, and none awaits the network
    inside it; `engine.connect()` is for reads only."""

    def __init__(self, sync_engine: Engine) -> None:
        super().__init__(sync_engine)
        # The writer mark as an option of a view of this engine (same pool, same events), set
        # once: set on each connection it cost a greenlet hop per transaction (issue 14).
        self._writers = AsyncEngine(sync_engine.execution_options(**{_WRITER: True}))
        # This process's writers queue here, first come first served, and each takes SQLite's
        # lock as soon as the one before lets it go. Queued in SQLite's busy handler instead,
        # a writer slept 1, 2, 5, 10 ms... between tries, however short the write it waited
        # for: a visit's start waited on the room_started webhook's write (issue 14).
        self._write_queue = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with asyncio.timeout(SQLITE_BUSY_TIMEOUT_MS / 1000):
                await self._write_queue.acquire()
        except TimeoutError:
            # As SQLite answers a writer that waited out busy_timeout: the middleware's 503.
            raise DBAPIError.instance(
                BEGIN_WRITER,
                None,
                sqlite3.OperationalError("database is locked"),
                sqlite3.Error,
                hide_parameters=True,
            ) from None
        try:
            async with self._writers.begin() as conn:
                yield conn
        finally:
            self._write_queue.release()


def _private_sqlite_file(path: Path) -> None:
    """Create the database file owner-only (0600) before SQLite does (it would use the umask,
    usually 0644), and tighten one that exists: it holds victims' contact details. SQLite
    gives its -wal and -shm files the database file's permissions.

    An existing file is never opened here: closing any descriptor of a file drops every POSIX
    lock this process holds on it, which would corrupt another engine's open transactions
    (SQLite then reports "disk I/O error")."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    path.chmod(0o600)


def create_engine(url: str) -> AsyncEngine:
    """Create the engine for a SQLite or PostgreSQL URL, making a SQLite file (0600) and
    its folder.

    Bound parameters are never put into errors or logs (``hide_parameters``): they include
    join codes, token hashes and victims' contact details.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _private_sqlite_file(Path(parsed.database))
        # One hand-off to aiosqlite's thread per statement instead of four (core.sqlite_driver).
        async_engine = create_async_engine(url, hide_parameters=True, module=OneHopDbapi())
        engine = SqliteEngine(async_engine.sync_engine)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        event.listen(engine.sync_engine.pool, "close", _sqlite_roll_back_before_close)
        return engine
    if parsed.get_backend_name() == "postgresql":
        # The pre-ping is no round trip or one, not SQLAlchemy's three (core.pg_driver).
        pg_engine = create_async_engine(
            url, pool_pre_ping=True, hide_parameters=True, module=OneTripPingDbapi()
        )
        event.listen(pg_engine.sync_engine.pool, "checkin", mark_returned)
        return pg_engine
    raise ValueError(f"unsupported database URL scheme: {parsed.drivername}")


@contextlib.asynccontextmanager
async def one_read(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for one SELECT, such as a request's token or session lookup. On
    PostgreSQL it runs in autocommit: no BEGIN before it and no ROLLBACK after, two round
    trips fewer (issue 14); one statement sees one snapshot either way, and the pool puts
    the connection back in transactions when it is returned. On SQLite, `engine.connect()`."""
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


def _adopt_legacy(conn: Connection) -> None:
    # `schema_migrations` is the hand-rolled migrations' table; it goes in the transaction that
    # stamps the baseline, so a database that has it was never stamped.
    if not inspect(conn).has_table("schema_migrations"):
        return
    versions = set(conn.execute(text("SELECT version FROM schema_migrations")).scalars())
    if versions != set(range(1, LEGACY_LAST_VERSION + 1)):
        raise LegacySchemaError(
            f"the database has hand-rolled migrations {sorted(versions)}, not 1 to "
            f"{LEGACY_LAST_VERSION}: run `evr migrate` of the last release before Alembic first"
        )
    script = ScriptDirectory.from_config(alembic_config())
    MigrationContext.configure(conn).stamp(script, BASELINE_REVISION)
    conn.execute(text("DROP TABLE schema_migrations"))
    log.info("adopted a database made before Alembic", extra={"revision": BASELINE_REVISION})


# Append-only by trigger, and for the runtime role by privilege too: INSERT and SELECT only.
APPEND_ONLY_TABLES = ("audit_log", "custody_log", "audit_checkpoints")


class MigrationRightsError(RuntimeError):
    """The role connected cannot change the schema: migrations need the owner role."""


def runtime_role(database_url: str, owner_url: str | None) -> str | None:
    """The PostgreSQL role the services connect as, when it is not the owner; else None."""
    if owner_url is None:
        return None
    runtime, owner = make_url(database_url), make_url(owner_url)
    if runtime.get_backend_name() != "postgresql" or runtime.username == owner.username:
        return None
    return runtime.username


def grant_runtime(conn: Connection, role: str) -> None:
    """Give the runtime role rows, never the schema: SELECT/INSERT/UPDATE/DELETE on every
    table but INSERT and SELECT only on the append-only ones, the sequences it inserts
    through, and SELECT on alembic_version (so the services can see the schema is current).
    No TRUNCATE, TRIGGER, REFERENCES or DDL. Idempotent; run at the end of every migrate, so
    tables that later revisions add are covered without each one remembering."""
    quoted = conn.dialect.identifier_preparer.quote(role)
    tables = sorted(set(inspect(conn).get_table_names()) - {"alembic_version"})
    append_only = [t for t in tables if t in APPEND_ONLY_TABLES]
    others = [t for t in tables if t not in APPEND_ONLY_TABLES]
    statements = [
        f"REVOKE ALL ON {', '.join([*tables, 'alembic_version'])} FROM {quoted}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(others)} TO {quoted}",
        f"GRANT SELECT, INSERT ON {', '.join(append_only)} TO {quoted}",
        f"GRANT SELECT ON alembic_version TO {quoted}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
    ]
    for statement in statements:
        conn.execute(text(statement))


def _revoke_append_only_rights(conn: Connection) -> None:
    # Whoever else was given rights on the logs (default privileges, a hand-made GRANT)
    # keeps only INSERT and SELECT: only the owner could undo the append-only triggers.
    for table in set(APPEND_ONLY_TABLES) & set(inspect(conn).get_table_names()):
        conn.execute(
            text(f"REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON {table} FROM PUBLIC")
        )
        grantees = conn.execute(
            text(
                "SELECT DISTINCT grantee FROM information_schema.role_table_grants "
                "WHERE table_schema = current_schema() AND table_name = :t "
                "AND privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER', 'REFERENCES') "
                "AND grantee <> (SELECT tableowner FROM pg_tables "
                "WHERE schemaname = current_schema() AND tablename = :t)"
            ),
            {"t": table},
        ).scalars()
        for grantee in grantees:
            quoted = conn.dialect.identifier_preparer.quote(grantee)
            conn.execute(
                text(
                    f"REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON {table} FROM {quoted}"
                )
            )


def _upgrade(conn: Connection, runtime: str | None) -> list[str]:
    _adopt_legacy(conn)
    applied: list[str] = []

    def record(*, step: MigrationInfo, **_: Any) -> None:
        if step.is_upgrade and not step.is_stamp:
            applied.extend(step.up_revision_ids)
            log.info("applied migration", extra={"revision": step.up_revision_id})

    command.upgrade(alembic_config(connection=conn, on_version_apply=[record]), "head")
    if conn.dialect.name == "postgresql" and _owns_the_logs(conn):
        if runtime is not None:
            grant_runtime(conn, runtime)
        _revoke_append_only_rights(conn)
    return applied


def _owns_the_logs(conn: Connection) -> bool:
    # Only the owner may grant; the services' own role at start-up skips this.
    owner = conn.scalar(
        text("SELECT tableowner FROM pg_tables WHERE schemaname = current_schema() "
             "AND tablename = 'audit_log'")
    )  # fmt: skip
    return owner is not None and owner == conn.scalar(text("SELECT current_user"))


def _up_to_date(conn: Connection) -> bool:
    if inspect(conn).has_table("schema_migrations"):
        return False
    head = ScriptDirectory.from_config(alembic_config()).get_heads()
    return set(MigrationContext.configure(conn).get_current_heads()) == set(head)


async def migrate(engine: AsyncEngine, *, runtime: str | None = None) -> list[str]:
    """Bring the database to the newest revision; return the revisions applied now.

    ``runtime`` names the PostgreSQL role the services use, when the engine connects as the
    schema's owner (`evr migrate` with ``database_owner_url``): it is granted rows only.
    Connected as the runtime role, a current schema is left alone and an old one is a
    :class:`MigrationRightsError` that says to run `evr migrate` as the owner.
    """
    if runtime is None:
        # An up-to-date database is only read, so a second process starting (the recorder
        # beside the control plane) takes no write lock.
        async with engine.connect() as conn:
            if await conn.run_sync(_up_to_date):
                return []
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(_upgrade, runtime)
    except DBAPIError as exc:
        if "permission denied" not in str(exc.orig) and "must be owner" not in str(exc.orig):
            raise
        raise MigrationRightsError(
            "the database schema needs migrating and this role may not change it: run "
            "`evr migrate` with database_owner_url (EVR_DATABASE_OWNER_URL) set to the owner"
        ) from exc


async def migrate_as_owner(database_url: str, owner_url: str | None) -> list[str]:
    """`evr migrate`: connect as the owner when one is configured, migrate, and grant the
    runtime role (the user of ``database_url``) its rights."""
    engine = create_engine(owner_url or database_url)
    try:
        return await migrate(engine, runtime=runtime_role(database_url, owner_url))
    finally:
        await engine.dispose()
