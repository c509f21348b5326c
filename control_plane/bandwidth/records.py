"""Stored verdicts: reading them back for the officer's view of a visit and for token gating.

Depends on the schema only, so `control_plane.visits` can import it without a cycle.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core import schema
from core.driver_sql import DriverStatement


def check_json(row: Any, *, window: timedelta | None = None) -> dict[str, Any]:
    """A stored check as the API shows it (the visit's `connection_check`)."""
    finished: datetime = row["finished_at"]
    body: dict[str, Any] = {
        "check_id": row["id"],
        "role": row["role"],
        "identity": row["identity"],
        "verdict": row["verdict"],
        "video_preset": row["video_preset"],
        "uplink_kbps": row["uplink_kbps"],
        "downlink_kbps": row["downlink_kbps"],
        "rtt_ms": row["rtt_ms"],
        "started_at": row["started_at"].isoformat(),
        "finished_at": finished.isoformat(),
        "measurements": row["measurements"],
    }
    if window is not None:
        body["valid_until"] = (finished + window).isoformat()
    return body


_b = schema.bandwidth_checks
# Built once and run on the driver's cursor (core.driver_sql): every load of a visit reads it.
_LATEST_FOR_VISIT = DriverStatement(
    select(_b)
    .where(_b.c.visit_id == bindparam("visit_id"), _b.c.role == bindparam("role"))
    .order_by(_b.c.finished_at.desc(), _b.c.id)
    .limit(1),
    point_read=True,
)


def read_latest_for_visit(
    conn: Connection, visit_id: str, *, role: str = "victim"
) -> dict[str, Any] | None:
    """`latest_for_visit` for synchronous code run by `AsyncConnection.run_sync`."""
    return _LATEST_FOR_VISIT.first(conn, {"visit_id": visit_id, "role": role})


async def latest_for_visit(
    conn: AsyncConnection, visit_id: str, *, role: str = "victim"
) -> dict[str, Any] | None:
    """The most recent check a participant of `role` ran for the visit (a row), or None."""
    return await conn.run_sync(read_latest_for_visit, visit_id, role=role)


async def latest_for_visits(
    conn: AsyncConnection, visit_ids: Iterable[str], *, role: str = "victim"
) -> dict[str, Any]:
    """The latest check per visit for a list view, in one query."""
    ids = list(visit_ids)
    if not ids:
        return {}
    b = schema.bandwidth_checks
    rows = await conn.execute(
        select(b).where(b.c.visit_id.in_(ids), b.c.role == role).order_by(b.c.finished_at)
    )
    return {r["visit_id"]: r for r in rows.mappings()}


async def latest_for_session(conn: AsyncConnection, session_id: str) -> Any | None:
    """The most recent check of one participant session: each device proves its own
    connection, and a session replaced by a newer link lends nothing to the next."""
    b = schema.bandwidth_checks
    query = (
        select(b)
        .where(b.c.session_id == session_id)
        .order_by(b.c.finished_at.desc(), b.c.id)
        .limit(1)
    )
    return (await conn.execute(query)).mappings().first()
