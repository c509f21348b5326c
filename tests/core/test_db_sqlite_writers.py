"""SQLite under two writing processes (`evr up` runs the control plane and the recorder apart):
transactions that read and then write queue for the lock instead of failing "database is
locked"."""

import asyncio
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from core import db

# Each transaction reads the counter, then writes it back plus one: under SQLite's default
# deferred BEGIN, that lock upgrade fails at once when the other process is writing.
_WRITER = """
import asyncio, sys
from sqlalchemy import text
from core import db

async def main(url: str, rounds: int) -> None:
    engine = db.create_engine(url)
    try:
        for _ in range(rounds):
            async with engine.begin() as conn:
                n = await conn.scalar(text("SELECT n FROM counter"))
                await conn.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
    finally:
        await engine.dispose()

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""

ROUNDS = 300


async def _setup(url: str) -> None:
    engine = db.create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
            await conn.execute(text("INSERT INTO counter VALUES (0)"))
    finally:
        await engine.dispose()


async def _count(url: str) -> int:
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(text("SELECT n FROM counter")) or 0)
    finally:
        await engine.dispose()


def test_two_processes_writing_never_see_database_is_locked(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'evr.sqlite3'}"
    asyncio.run(_setup(url))
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, url, str(ROUNDS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=120)[0] for w in writers]
    assert [w.returncode for w in writers] == [0, 0], outputs
    assert not any("database is locked" in out for out in outputs), outputs
    # No lost update either: every read-then-write saw the other process's last commit.
    assert asyncio.run(_count(url)) == 2 * ROUNDS
