"""Issue 12, findings 12 and 13: the SQLite file is private, and neither database errors nor
log lines carry codes, tokens or contact details."""

from __future__ import annotations

import io
import json
import logging
import stat
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from core import db
from core.logs import REDACTED, JsonFormatter

SECRET_PHONE = "07700 900123"
JOIN_CODE = "Zq3_kL9-xYtW2vBn8MmPq0RsT4uVwXyZa1B2c3D4e5F"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_new_sqlite_database_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "state" / "evr.sqlite3"
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await db.migrate(engine)
        assert _mode(path) == 0o600
        wal = path.with_name(path.name + "-wal")
        if wal.exists():
            assert _mode(wal) & 0o077 == 0
    finally:
        await engine.dispose()


async def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "evr.sqlite3"
    path.touch(mode=0o644)
    path.chmod(0o644)
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    await engine.dispose()
    assert _mode(path) == 0o600


async def test_database_errors_never_carry_bound_parameters(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'evr.sqlite3'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE contact (phone TEXT NOT NULL UNIQUE)"))
            await conn.execute(text("INSERT INTO contact VALUES (:p)"), {"p": SECRET_PHONE})
        with pytest.raises(IntegrityError) as info:
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO contact VALUES (:p)"), {"p": SECRET_PHONE})
        assert SECRET_PHONE not in str(info.value)
        assert "parameters hidden" in str(info.value)
    finally:
        await engine.dispose()


def test_postgres_engines_hide_parameters_too() -> None:
    engine = db.create_engine("postgresql+asyncpg://evr@127.0.0.1:1/evr")
    assert engine.sync_engine.hide_parameters


def _log_line(message: str, *args: object, **extra: object) -> dict[str, object]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.data_exposure")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(message, *args, extra=extra)
    finally:
        logger.removeHandler(handler)
    line: dict[str, object] = json.loads(stream.getvalue())
    return line


def test_log_lines_never_carry_codes_tokens_or_contact_details() -> None:
    line = _log_line(
        "request failed: no join link %s for %s",
        JOIN_CODE,
        "jo.bloggs@example.org",
        path=f"/join/{JOIN_CODE}",
        authorization="Bearer evr_" + "k" * 43,
        phone=SECRET_PHONE,
        visit_id="3f2a9c1e-1234-4abc-9def-0123456789ab",
        room="evr-3f2a9c1e-1234-4abc-9def-0123456789ab",
        sha256="ab" * 32,
    )
    text_ = json.dumps(line)
    for secret in (JOIN_CODE, "jo.bloggs@example.org", "evr_" + "k" * 43, SECRET_PHONE):
        assert secret not in text_
    assert REDACTED in str(line["msg"])
    # Identifiers that are not secrets stay, so a log line still leads somewhere.
    assert line["visit_id"] == "3f2a9c1e-1234-4abc-9def-0123456789ab"
    assert line["room"] == "evr-3f2a9c1e-1234-4abc-9def-0123456789ab"
    assert line["sha256"] == "ab" * 32
