"""CPU per write transaction: SQLAlchemy's execution against core.driver_sql, alternated in one
process, on SQLite and on PostgreSQL (issue 14).

    sudo .venv/bin/python -m benchmarks.driver_sql --rounds 3

Each transaction is shaped as a join code's exchange: an UPDATE ... RETURNING whose SET has a
constant in it, an UPDATE, an INSERT of eleven values (datetime and JSON among them), an
INSERT of five, and a SELECT of a visit outer-joined onto its eligibility records, on the
project's own schema and engine (WAL and synchronous=FULL on SQLite). The same prebuilt
statements run both ways, in one greenlet per transaction (`run_sync`), in alternating
blocks: `Connection.execute` and `DriverStatement`. Process CPU (all threads) per
transaction, in microseconds; PostgreSQL's own CPU is not counted. Needs root for
PostgreSQL (initdb runs as the postgres user). Prints one JSON line per round and database.
"""

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from core import db, schema
from core.driver_sql import DriverStatement
from tests.support.postgres import create_database, start_postgres, stop_postgres

_head, _log, _events = schema.audit_chain_head, schema.audit_log, schema.visit_events
_v, _e = schema.visits, schema.eligibility_records
LOG_FIELDS = tuple(column.name for column in _log.c if column.name != "id")
STATEMENTS = {
    "next": update(_head)
    .where(_head.c.id == 1)
    .values(seq=_head.c.seq + 1)
    .returning(_head.c.seq, _head.c.hash),
    "head": update(_head).where(_head.c.id == 1).values(hash=bindparam("head_hash")),
    "log": insert(_log).values({name: bindparam(name) for name in LOG_FIELDS}),
    "event": insert(_events).values(
        {name: bindparam(name) for name in ("visit_id", "at", "kind", "actor", "detail")}
    ),
    "visit": select(_v, _e.c.id.label("eligibility_id"), _e.c.item, _e.c.value)
    .select_from(_v.outerjoin(_e, _e.c.visit_id == _v.c.id))
    .where(_v.c.id == bindparam("visit_id"))
    .order_by(_e.c.id),
}
DRIVER = {name: DriverStatement(statement) for name, statement in STATEMENTS.items()}
VISIT_ID = "00000000-0000-4000-8000-000000000001"


def _params(seq: int) -> dict[str, dict[str, Any]]:
    now = datetime.now(UTC)
    return {
        "next": {},
        "head": {"head_hash": f"{seq:064x}"},
        "log": {
            "at": now,
            "actor": "officer:local:1234",
            "action": "consultation",
            "visit_id": VISIT_ID,
            "subject": "visit.participant_view",
            "justification": "participant viewing their own visit",
            "recipients": None,
            "detail": {},
            "seq": seq,
            "prev_hash": f"{seq - 1:064x}",
            "hash": f"{seq:064x}",
        },
        "event": {
            "visit_id": VISIT_ID,
            "at": now,
            "kind": "link_opened",
            "actor": "victim:x",
            "detail": {"role": "victim"},
        },
        "visit": {"visit_id": VISIT_ID},
    }


def via_sqlalchemy(conn: Connection) -> None:
    seq = int(conn.execute(STATEMENTS["next"]).one()[0])
    params = _params(seq)
    for name in ("head", "log", "event"):
        conn.execute(STATEMENTS[name], params[name])
    conn.execute(STATEMENTS["visit"], params["visit"]).mappings().all()


def via_driver(conn: Connection) -> None:
    ((seq, _hash),) = DRIVER["next"].rows(conn)
    params = _params(int(seq))
    for name in ("head", "log", "event"):
        DRIVER[name].run(conn, params[name])
    DRIVER["visit"].mappings(conn, params["visit"])


async def _prepare(engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            insert(_v).values(
                id=VISIT_ID,
                crime_reference="55/123456/26",
                officer_id="local:1234",
                officer_collar="1234",
                unit="bench",
                scheduled_at=now,
                contact_channel="sms",
                contact_value="+447700900123",
                status="accepted_video",
                created_at=now,
                updated_at=now,
            )
        )


async def measure(url: str, *, transactions: int, block: int) -> dict[str, float]:
    engine = db.create_engine(url)
    await db.migrate(engine)
    await _prepare(engine)
    paths: dict[str, Callable[[Connection], None]] = {
        "sqlalchemy": via_sqlalchemy,
        "driver": via_driver,
    }
    spent = dict.fromkeys(paths, 0.0)
    try:
        for path in paths.values():  # warm both: compiled caches, pool, prepared statements
            async with engine.begin() as conn:
                await conn.run_sync(path)
        for _ in range(transactions // block):
            for name, path in paths.items():
                t0 = time.process_time()
                for _ in range(block):
                    async with engine.begin() as conn:
                        await conn.run_sync(path)
                spent[name] += time.process_time() - t0
    finally:
        await engine.dispose()
    done = transactions // block * block
    each = {name: seconds / done * 1e6 for name, seconds in spent.items()}
    return {
        "sqlalchemy_txn_cpu_us": round(each["sqlalchemy"], 1),
        "driver_txn_cpu_us": round(each["driver"], 1),
        "driver_over_sqlalchemy": round(each["driver"] / each["sqlalchemy"], 3),
    }


async def main_async(rounds: int, databases: list[str], transactions: int) -> None:
    pg = start_postgres() if "postgres" in databases else None
    try:
        with tempfile.TemporaryDirectory(prefix="evr-driver-sql-") as tmp:
            for r in range(rounds):
                for database in databases:
                    if database == "sqlite":
                        url = f"sqlite+aiosqlite:///{Path(tmp) / f'{r}.sqlite3'}"
                    else:
                        assert pg is not None
                        url = create_database(pg, f"driver_sql_{r}")
                    result = await measure(url, transactions=transactions, block=50)
                    print(json.dumps({"round": r, "database": database, **result}), flush=True)
    finally:
        if pg is not None:
            stop_postgres(pg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", default="sqlite,postgres", help="comma-separated: sqlite,postgres")
    parser.add_argument("--transactions", type=int, default=1000, help="per path and round")
    args = parser.parse_args()
    asyncio.run(main_async(args.rounds, args.db.split(","), args.transactions))


if __name__ == "__main__":
    main()
