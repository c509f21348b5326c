"""DPA 2018 Part 3 s.62 audit log: written in the same transaction as the change it records."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core import schema
from core.domain import AuditAction


async def record(
    conn: AsyncConnection,
    *,
    actor: str,
    action: AuditAction,
    subject: str,
    visit_id: str | None = None,
    justification: str | None = None,
    recipients: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry. Callers pass their open transaction so both commit or neither."""
    await conn.execute(
        insert(schema.audit_log).values(
            at=datetime.now(UTC),
            actor=actor,
            action=action.value,
            visit_id=visit_id,
            subject=subject,
            justification=justification,
            recipients=recipients,
            detail=detail or {},
        )
    )


async def entries_for_visit(conn: AsyncConnection, visit_id: str) -> list[dict[str, Any]]:
    a = schema.audit_log
    rows = await conn.execute(select(a).where(a.c.visit_id == visit_id).order_by(a.c.id))
    return [
        {
            "id": r["id"],
            "at": r["at"].isoformat(),
            "actor": r["actor"],
            "action": r["action"],
            "subject": r["subject"],
            "justification": r["justification"],
            "recipients": r["recipients"],
            "detail": r["detail"],
        }
        for r in rows.mappings()
    ]
