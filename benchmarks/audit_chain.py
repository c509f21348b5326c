"""What chaining the audit log costs (issue 12, finding 4), measured side by side in one run.

Each audit append now updates the one-row `audit_chain_head` before it inserts, which
serialises appenders. This times, on SQLite and on a throw-away PostgreSQL (as the runtime
role, as the services run), one transaction per append:

- chained: `core.audit.record` (head row, hash, insert);
- plain: the insert alone, as appends were before the chain;

with 1 writer and with 8 concurrent writers, alternating the two kinds in rounds so both see
the same machine load. It also times `core.checkpoints.write_checkpoint` and
`core.checkpoints.verify` (what `evr audit verify` runs) over a chain of `--walk-rows`
entries in a database of their own. Prints a JSON summary.

    .venv/bin/python -m benchmarks.audit_chain --appends 400
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from core import audit, db, schema
from core.checkpoints import verify, write_checkpoint
from core.domain import AuditAction
from core.fingerprint import key_id
from tests.support.postgres import create_database, start_postgres, stop_postgres

ROUNDS = 4


async def _chained(engine: AsyncEngine, n: int) -> None:
    async with engine.begin() as conn:
        await audit.record(
            conn,
            actor="officer:local:1001",
            action=AuditAction.CONSULTATION,
            subject="visit",
            visit_id=f"visit-{n}",
            justification="bench",
            detail={"n": n},
        )


async def _plain(engine: AsyncEngine, n: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert(schema.audit_log).values(
                at=datetime.now(UTC),
                actor="officer:local:1001",
                action=AuditAction.CONSULTATION.value,
                visit_id=f"visit-{n}",
                subject="visit",
                justification="bench",
                detail={"n": n},
            )
        )


async def _rate(engine: AsyncEngine, kind: str, appends: int, writers: int) -> float:
    """Appends per second with ``writers`` concurrent writers."""
    append = _chained if kind == "chained" else _plain
    per_writer = appends // writers

    async def writer(w: int) -> None:
        for i in range(per_writer):
            await append(engine, w * per_writer + i)

    started = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    return per_writer * writers / (time.perf_counter() - started)


async def _measure(url: str, appends: int) -> dict[str, Any]:
    engine = db.create_engine(url)
    try:
        await db.migrate(engine)
        result: dict[str, Any] = {}
        for writers in (1, 8):
            rates: dict[str, list[float]] = {"chained": [], "plain": []}
            for _ in range(ROUNDS):
                for kind in ("chained", "plain"):
                    rates[kind].append(await _rate(engine, kind, appends // ROUNDS, writers))
            chained, plain = (statistics.median(rates[k]) for k in ("chained", "plain"))
            result[f"writers_{writers}"] = {
                "chained_per_s": round(chained, 1),
                "plain_per_s": round(plain, 1),
                "chained_over_plain": round(chained / plain, 3),
            }
        return result
    finally:
        await engine.dispose()


async def _walk(url: str, rows: int) -> dict[str, Any]:
    """Checkpoint and `evr audit verify` times over ``rows`` chained entries."""
    engine = db.create_engine(url)
    try:
        await db.migrate(engine)
        await asyncio.gather(*(_chained_many(engine, w, rows // 8) for w in range(8)))
        key = Ed25519PrivateKey.generate()
        started = time.perf_counter()
        await write_checkpoint(engine, key)
        checkpoint = time.perf_counter() - started
        started = time.perf_counter()
        async with engine.connect() as conn:
            report = await verify(
                conn, trusted=frozenset({key_id(key.public_key())}), max_age=timedelta(hours=1)
            )
        assert report.ok, report.failures
        return {
            "rows": report.audit_entries,
            "checkpoint_s": round(checkpoint, 4),
            "verify_s": round(time.perf_counter() - started, 3),
        }
    finally:
        await engine.dispose()


async def _chained_many(engine: AsyncEngine, writer: int, count: int) -> None:
    for i in range(count):
        await _chained(engine, writer * count + i)


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    summary: dict[str, Any] = {"appends_per_case": args.appends, "rounds": ROUNDS}
    with tempfile.TemporaryDirectory() as tmp:
        summary["sqlite"] = await _measure(
            f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}", args.appends
        )
        summary["sqlite"]["walk"] = await _walk(
            f"sqlite+aiosqlite:///{Path(tmp) / 'walk.sqlite3'}", args.walk_rows
        )
    pg = start_postgres()
    try:
        summary["postgres"] = await _measure(create_database(pg, "bench_audit"), args.appends)
        summary["postgres"]["walk"] = await _walk(create_database(pg, "bench_walk"), args.walk_rows)
    finally:
        stop_postgres(pg)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--appends", type=int, default=400, help="appends per kind and case")
    parser.add_argument("--walk-rows", type=int, default=4000, help="rows to verify")
    print(json.dumps(asyncio.run(_main(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
