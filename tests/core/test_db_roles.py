"""PostgreSQL roles (issue 12, finding 4): the runtime role the services connect as may add
to the audit log, the custody log and the checkpoints, and read them, and nothing more. It
cannot rewrite, delete, truncate, or lift the append-only triggers; only `evr migrate`, as
the owner, changes the schema. (SQLite is one file with no roles.)"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core import db
from evr import cli
from tests.support.postgres import (
    RunningPostgres,
    create_database,
    create_empty_database,
    owner_url,
)

APPEND_ONLY = ("audit_log", "custody_log", "audit_checkpoints")
REFUSED = {
    "UPDATE": "UPDATE {t} SET {c} = {c}",
    "DELETE": "DELETE FROM {t}",
    "TRUNCATE": "TRUNCATE {t}",
    "DISABLE TRIGGER": "ALTER TABLE {t} DISABLE TRIGGER {t}_append_only",
    "DROP TRIGGER": "DROP TRIGGER {t}_append_only ON {t}",
    "DISABLE ALL TRIGGERS": "ALTER TABLE {t} DISABLE TRIGGER ALL",
}
FIRST_COLUMN = {"audit_log": "actor", "custody_log": "actor", "audit_checkpoints": "body"}


@pytest.fixture(scope="module")
def runtime_url(postgres: RunningPostgres) -> str:
    return create_database(postgres, f"evr_roles_{uuid.uuid4().hex[:8]}")


async def _execute(url: str, statement: str) -> None:
    engine = db.create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("table", APPEND_ONLY)
@pytest.mark.parametrize("verb", REFUSED)
async def test_the_runtime_role_cannot_undo_append_only(
    runtime_url: str, table: str, verb: str
) -> None:
    statement = REFUSED[verb].format(t=table, c=FIRST_COLUMN[table])
    with pytest.raises(DBAPIError, match=r"permission denied|must be owner"):
        await _execute(runtime_url, statement)


async def test_the_runtime_role_has_rows_not_schema(runtime_url: str) -> None:
    engine = db.create_engine(runtime_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT count(*) FROM audit_log"))
            await conn.execute(text("UPDATE visits SET status = status"))
            await conn.execute(text("DELETE FROM webhook_events WHERE event_id = 'none'"))
        for statement in (
            "CREATE TABLE sneaky (id int)",
            "ALTER TABLE visits ADD COLUMN sneaky int",
            "DROP TABLE visits",
            "TRUNCATE visits",
            "UPDATE alembic_version SET version_num = version_num",
        ):
            with pytest.raises(DBAPIError, match=r"permission denied|must be owner"):
                async with engine.begin() as conn:
                    await conn.execute(text(statement))
        # The services still start: a current schema needs no rights to migrate.
        assert await db.migrate(engine) == []
    finally:
        await engine.dispose()


async def test_the_owner_is_refused_nothing(runtime_url: str) -> None:
    """The contrast: the owner can lift the trigger, which is why checkpoints are signed."""
    await _execute(owner_url(runtime_url), "ALTER TABLE audit_log DISABLE TRIGGER ALL")
    await _execute(owner_url(runtime_url), "ALTER TABLE audit_log ENABLE TRIGGER ALL")


async def test_an_old_schema_tells_the_runtime_role_to_run_migrate(
    postgres: RunningPostgres,
) -> None:
    owner = create_empty_database(postgres, f"evr_roles_{uuid.uuid4().hex[:8]}")
    engine = db.create_engine(owner.replace("evr_owner@", "evr_runtime@"))
    try:
        with pytest.raises(db.MigrationRightsError, match="evr migrate"):
            await db.migrate(engine)
    finally:
        await engine.dispose()


def test_evr_migrate_connects_as_the_owner_and_grants_the_runtime_role(
    postgres: RunningPostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = create_empty_database(postgres, f"evr_roles_{uuid.uuid4().hex[:8]}")
    runtime = owner.replace("evr_owner@", "evr_runtime@")
    key_file = tmp_path / "livekit-keys.yaml"
    key_file.write_text("key: secret-secret-secret-secret-secret\n")
    key_file.chmod(0o600)
    monkeypatch.setenv("EVR_LIVEKIT_KEY_FILE", str(key_file))
    monkeypatch.setenv("EVR_DATABASE_URL", runtime)
    monkeypatch.setenv("EVR_DATABASE_OWNER_URL", owner)
    assert cli.main(["migrate"]) == 0
    monkeypatch.delenv("EVR_DATABASE_OWNER_URL")
    # The runtime role now reads, writes rows, and is refused the trigger.
    assert cli.main(["migrate"]) == 0
    asyncio.run(
        _execute(
            runtime,
            "INSERT INTO webhook_events (event_id, event, received_at) VALUES ('e', 'x', now())",
        )
    )
    with pytest.raises(DBAPIError, match="must be owner"):
        asyncio.run(_execute(runtime, "ALTER TABLE custody_log DISABLE TRIGGER ALL"))
