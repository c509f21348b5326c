"""Consultations of personal data, for the audit log (DPA 2018 s.62): what was read, by
whom, when and why.

Every officer read of a visit's data writes one. Why: the `X-Justification` header when the
caller gives one; otherwise the purpose the read serves is written out explicitly (the
visit's own officer at work on it, or a supervisor overseeing the unit), marked as not
given, rather than left empty, so the log never holds a consultation without a reason. Reads
the console repeats every few seconds (progress, recording status) are written once per
actor, visit and kind within `REPEAT_WINDOW`, saying so, so that the log records each spell
of viewing rather than each poll.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from control_plane.auth import Principal
from core import audit, schema
from core.domain import AuditAction

REPEAT_WINDOW = timedelta(minutes=5)


async def _seen_lately(
    conn: AsyncConnection, principal: Principal, subject: str, visit_id: str
) -> bool:
    a = schema.audit_log
    recent = await conn.scalar(
        select(a.c.id)
        .where(
            a.c.visit_id == visit_id,
            a.c.actor == principal.actor,
            a.c.subject == subject,
            a.c.at > datetime.now(UTC) - REPEAT_WINDOW,
        )
        .limit(1)
    )
    return recent is not None


def purpose(principal: Principal, *, owner: str | None, given: str | None) -> str:
    """The reason to record: the one given, else the purpose the read serves, said so."""
    if given:
        return given
    if owner is None:
        why = "the officer's own list of visits"
    elif owner == principal.officer_id:
        why = "the visit's own officer, at work on it"
    else:
        why = f"{principal.role.value} overseeing the unit's visits"
    return f"{why} (no X-Justification given)"


async def consulted(
    conn: AsyncConnection,
    principal: Principal,
    *,
    subject: str,
    visit_id: str | None,
    owner: str | None,
    justification: str | None = None,
    detail: dict[str, Any] | None = None,
    repeated: bool = False,
) -> None:
    """Write the consultation in the caller's transaction. `owner` is the visit's officer
    (None for a list); `repeated` marks a read the console polls, written once a window."""
    if repeated and visit_id is not None and await _seen_lately(conn, principal, subject, visit_id):
        return
    body = dict(detail or {})
    body["justification_given"] = bool(justification)
    if repeated:
        body["repeats_within_seconds"] = int(REPEAT_WINDOW.total_seconds())
    await audit.record(
        conn,
        actor=principal.actor,
        action=AuditAction.CONSULTATION,
        subject=subject,
        visit_id=visit_id,
        justification=purpose(principal, owner=owner, given=justification),
        detail=body,
    )


async def consulted_polled(
    engine: AsyncEngine,
    principal: Principal,
    *,
    subject: str,
    visit_id: str,
    owner: str,
    justification: str | None = None,
) -> None:
    """`consulted` for a read the console polls, after the read: the usual poll finds the
    spell already recorded with a plain read, and only the first opens a write transaction
    (on SQLite each write transaction locks the database)."""
    async with engine.connect() as conn:
        if await _seen_lately(conn, principal, subject, visit_id):
            return
    async with engine.begin() as conn:
        await consulted(
            conn,
            principal,
            subject=subject,
            visit_id=visit_id,
            owner=owner,
            justification=justification,
            repeated=True,
        )
