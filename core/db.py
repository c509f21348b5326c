"""Database engine and schema migrations.

Migrations are an ordered list applied in one transaction each and recorded in
`schema_migrations`, so a half-applied migration never survives a crash.
"""

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, event, insert, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from core import schema

log = logging.getLogger(__name__)

Migration = tuple[int, str, Callable[[Connection], None]]


def _initial(conn: Connection) -> None:
    # Later migrations that add tables must use create_all(tables=[...], checkfirst=True),
    # since this creates whatever `schema` defines at the time it runs.
    schema.metadata.create_all(conn)


def _audit_append_only(conn: Connection) -> None:
    # The audit log is append-only in the database itself, not just by convention in code.
    if conn.dialect.name == "sqlite":
        for op in ("UPDATE", "DELETE"):
            conn.execute(
                text(
                    f"CREATE TRIGGER audit_log_no_{op.lower()} BEFORE {op} ON audit_log "
                    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
                )
            )
    else:
        conn.execute(
            text(
                "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
                "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
            )
        )


def _bandwidth_checks(conn: Connection) -> None:
    schema.metadata.create_all(conn, tables=[schema.bandwidth_checks], checkfirst=True)


def _consent_records(conn: Connection) -> None:
    schema.metadata.create_all(conn, tables=[schema.consent_records], checkfirst=True)


def _evidential_recording(conn: Connection) -> None:
    # Recorder jobs, their segments, recording consent, and the custody chain; the chain is
    # append-only in the database itself, like the audit log.
    tables = [
        schema.recordings,
        schema.recording_segments,
        schema.recording_consents,
        schema.custody_log,
    ]
    schema.metadata.create_all(conn, tables=tables, checkfirst=True)
    if conn.dialect.name == "sqlite":
        for op in ("UPDATE", "DELETE"):
            conn.execute(
                text(
                    f"CREATE TRIGGER custody_log_no_{op.lower()} BEFORE {op} ON custody_log "
                    "BEGIN SELECT RAISE(ABORT, 'custody_log is append-only'); END"
                )
            )
    else:
        conn.execute(
            text(
                "CREATE FUNCTION custody_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'custody_log is append-only'; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER custody_log_append_only BEFORE UPDATE OR DELETE ON custody_log "
                "FOR EACH ROW EXECUTE FUNCTION custody_log_append_only()"
            )
        )


def _programme_outcomes(conn: Connection) -> None:
    schema.metadata.create_all(
        conn, tables=[schema.visit_feedback, schema.visit_outcomes], checkfirst=True
    )
    # A database whose recordings table predates the column gets it here; a fresh one
    # already has it from the create_all of migration 1 or 3.
    columns = {c["name"] for c in inspect(conn).get_columns("recordings")}
    if "traceparent" not in columns:
        conn.execute(text("ALTER TABLE recordings ADD COLUMN traceparent VARCHAR(55)"))


MIGRATIONS: Sequence[Migration] = (
    (1, "initial schema", _initial),
    (2, "audit log append-only triggers", _audit_append_only),
    (3, "evidential recording and custody chain", _evidential_recording),
    (4, "connection check verdicts", _bandwidth_checks),
    (5, "victim consent records", _consent_records),
    (6, "programme outcomes and recording trace context", _programme_outcomes),
)


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
    # WAL + synchronous=FULL: a committed visit survives kill -9 and power loss.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    """Create the engine for a SQLite or PostgreSQL URL, making a SQLite file's folder."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_async_engine(url, pool_pre_ping=True)
    raise ValueError(f"unsupported database URL scheme: {parsed.drivername}")


def _applied_versions(conn: Connection) -> set[int]:
    if not inspect(conn).has_table("schema_migrations"):
        return set()
    return set(conn.execute(select(schema.schema_migrations.c.version)).scalars())


async def migrate(engine: AsyncEngine) -> list[int]:
    """Apply every pending migration; return the versions applied now."""
    applied_now: list[int] = []
    async with engine.begin() as conn:
        done = await conn.run_sync(_applied_versions)
    for version, name, step in MIGRATIONS:
        if version in done:
            continue
        async with engine.begin() as conn:
            await conn.run_sync(step)
            await conn.execute(
                insert(schema.schema_migrations).values(
                    version=version, name=name, applied_at=datetime.now(UTC)
                )
            )
        log.info("applied migration", extra={"version": version, "migration": name})
        applied_now.append(version)
    return applied_now
