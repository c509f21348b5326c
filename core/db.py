"""Database engine and schema migrations.

Migrations are Alembic revisions (core/migrations/versions), applied by `migrate` in one
transaction, so on PostgreSQL a half-applied upgrade never survives a crash. A database made
by the hand-rolled migrations that came before Alembic is adopted in place: its schema is the
first revision's, so it is stamped at that revision and carries on from there.
"""

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

log = logging.getLogger(__name__)

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
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


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
        engine = create_async_engine(url, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_async_engine(url, pool_pre_ping=True, hide_parameters=True)
    raise ValueError(f"unsupported database URL scheme: {parsed.drivername}")


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


def _upgrade(conn: Connection) -> list[str]:
    _adopt_legacy(conn)
    applied: list[str] = []

    def record(*, step: MigrationInfo, **_: Any) -> None:
        if step.is_upgrade and not step.is_stamp:
            applied.extend(step.up_revision_ids)
            log.info("applied migration", extra={"revision": step.up_revision_id})

    command.upgrade(alembic_config(connection=conn, on_version_apply=[record]), "head")
    return applied


async def migrate(engine: AsyncEngine) -> list[str]:
    """Bring the database to the newest revision; return the revisions applied now."""
    async with engine.begin() as conn:
        return await conn.run_sync(_upgrade)
