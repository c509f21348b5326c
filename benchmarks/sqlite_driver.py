"""CPU per SQLite statement: SQLAlchemy's stock aiosqlite adapter against core.sqlite_driver
(one hand-off per statement, none inside a write transaction), interleaved in one process
(issue 14).

    .venv/bin/python -m benchmarks.sqlite_driver --rounds 3

Each round, on a fresh file per adapter (WAL, synchronous=FULL, BEGIN as core.db does): a
prepared `SELECT 1` on an open connection; a write transaction (BEGIN IMMEDIATE, one
INSERT ... RETURNING, COMMIT); and one of eight such INSERTs, about as many statements as a
join code's exchange. Process CPU (all threads) per operation, in microseconds.
"""

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, literal, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from core import db
from core.sqlite_driver import OneHopDbapi


def engine_for(path: Path, *, one_hop: bool) -> db.SqliteEngine:
    kw: dict[str, Any] = {"module": OneHopDbapi()} if one_hop else {}
    inner = create_async_engine(f"sqlite+aiosqlite:///{path}", hide_parameters=True, **kw)
    engine = db.SqliteEngine(inner.sync_engine)
    event.listen(engine.sync_engine, "connect", db._sqlite_pragmas)
    event.listen(engine.sync_engine, "begin", db._sqlite_begin)
    return engine


async def measure(path: Path, *, one_hop: bool, selects: int, writes: int) -> dict[str, float]:
    engine = engine_for(path, one_hop=one_hop)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        query = select(literal(1))
        async with engine.connect() as conn:
            await conn.execute(query)
            t0 = time.process_time()
            for _ in range(selects):
                await conn.execute(query)
            select_us = (time.process_time() - t0) / selects * 1e6
        insert = text("INSERT INTO t (v) VALUES ('x') RETURNING id")
        t0 = time.process_time()
        for _ in range(writes):
            async with engine.begin() as conn:
                (await conn.execute(insert)).all()
        write_us = (time.process_time() - t0) / writes * 1e6
        t0 = time.process_time()
        for _ in range(writes):
            async with engine.begin() as conn:
                for _ in range(8):
                    (await conn.execute(insert)).all()
        write8_us = (time.process_time() - t0) / writes * 1e6
    finally:
        await engine.dispose()
    return {
        "select_cpu_us": round(select_us, 1),
        "write_txn_cpu_us": round(write_us, 1),
        "write_txn_of_8_cpu_us": round(write8_us, 1),
    }


async def main_async(rounds: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="evr-sqlite-driver-") as tmp:
        for r in range(rounds):
            for one_hop in (False, True):
                path = Path(tmp) / f"{r}-{one_hop}.sqlite3"
                result = await measure(path, one_hop=one_hop, selects=2000, writes=300)
                out.append({"round": r, "adapter": "one-hop" if one_hop else "stock", **result})
                print(json.dumps(out[-1]), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main_async(parser.parse_args().rounds))


if __name__ == "__main__":
    main()
