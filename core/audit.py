"""DPA 2018 Part 3 s.62 audit log: written in the same transaction as the change it records.

The log is a hash chain, as the chain of custody is (core.custody): each entry's ``hash`` is
the SHA-256 of the canonical JSON of every other field, ``prev_hash`` the previous entry's
``hash``, and ``seq`` counts from 1 with no gaps. Appends take the one-row
``audit_chain_head`` first (the entry's insert then sets the head's hash, by trigger), so
concurrent writers, several replicas included, queue up instead of forking the chain. A
database owner who rewrites rows and recomputes every hash is caught by the signed
checkpoints of the chain's head (core.checkpoints).
"""

import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict, Unpack

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import schema
from core.canonical import JsonValue
from core.custody import GENESIS_HASH, entry_hash
from core.domain import AuditAction
from core.driver_sql import DriverStatement
from core.evidence_errors import IntegrityError
from core.utc import utc_iso


@dataclass(frozen=True)
class AuditEntry:
    """One audit entry as chained. ``hash`` covers every other field."""

    seq: int
    at: datetime
    actor: str
    action: str
    visit_id: str | None
    subject: str
    justification: str | None
    recipients: str | None
    detail: Mapping[str, Any]
    prev_hash: str
    hash: str = ""

    def body(self) -> dict[str, JsonValue]:
        """Everything but ``hash``. ``detail`` goes in as its own sorted JSON text: details
        may hold floats, which canonical JSON refuses, and their text round-trips exactly
        through both databases' JSON columns."""
        return {
            "seq": self.seq,
            "at": utc_iso(self.at),
            "actor": self.actor,
            "action": self.action,
            "visit_id": self.visit_id,
            "subject": self.subject,
            "justification": self.justification,
            "recipients": self.recipients,
            "detail": json.dumps(
                self.detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ),
            "prev_hash": self.prev_hash,
        }


def link(**fields: Any) -> AuditEntry:
    """The entry with these fields (all but ``hash``), hashed."""
    draft = AuditEntry(**fields)
    return AuditEntry(**{**fields, "hash": entry_hash(draft.body())})


_head = schema.audit_chain_head
# Built once and run on the driver's cursor (core.driver_sql): building a statement per call,
# and SQLAlchemy's execution of it, cost more CPU than the database's work (issue 14).
_NEXT_SEQ = DriverStatement(
    update(_head)
    .where(_head.c.id == 1)
    .values(seq=_head.c.seq + 1)
    .returning(_head.c.seq, _head.c.hash)
)
_APPEND_FIELDS = (
    "at",
    "actor",
    "action",
    "visit_id",
    "subject",
    "justification",
    "recipients",
    "detail",
    "seq",
    "prev_hash",
    "hash",
)
_APPEND = DriverStatement(
    insert(schema.audit_log).values({name: bindparam(name) for name in _APPEND_FIELDS})
)


class EntryFields(TypedDict):
    """What a caller says about an entry; the chain adds ``seq``, ``at`` and the hashes."""

    actor: str
    action: AuditAction
    subject: str
    visit_id: NotRequired[str | None]
    justification: NotRequired[str | None]
    recipients: NotRequired[str | None]
    detail: NotRequired[dict[str, Any] | None]


def append(conn: Connection, **fields: Unpack[EntryFields]) -> None:
    """Append one audit entry on the caller's transaction, from synchronous code run by
    `AsyncConnection.run_sync` (one greenlet for a transaction's statements, issue 14)."""
    # Updating the head row first is the serialisation point: another transaction appending
    # waits for this one to commit, then sees its seq and hash. The insert moves the head's
    # hash to the entry's, by trigger (revision r14a): one statement fewer per entry.
    ((last_seq, last_hash),) = _NEXT_SEQ.rows(conn)
    entry = link(
        seq=int(last_seq),
        at=datetime.now(UTC),
        actor=fields["actor"],
        action=fields["action"].value,
        visit_id=fields.get("visit_id"),
        subject=fields["subject"],
        justification=fields.get("justification"),
        recipients=fields.get("recipients"),
        detail=fields.get("detail") or {},
        prev_hash=str(last_hash),
    )
    _APPEND.run(
        conn,
        {
            "at": entry.at,
            "actor": entry.actor,
            "action": entry.action,
            "visit_id": entry.visit_id,
            "subject": entry.subject,
            "justification": entry.justification,
            "recipients": entry.recipients,
            "detail": dict(entry.detail),
            "seq": entry.seq,
            "prev_hash": entry.prev_hash,
            "hash": entry.hash,
        },
    )


async def record(conn: AsyncConnection, **fields: Unpack[EntryFields]) -> None:
    """Append one audit entry. Callers pass their open transaction so both commit or neither.
    Its three statements run in one greenlet instead of one each."""
    await conn.run_sync(append, **fields)


def stored_entry(row: Any, *, where: str) -> AuditEntry:
    """An entry from its ``audit_log`` row; a row left out of the chain is an IntegrityError."""
    if row["seq"] is None or row["hash"] is None or row["prev_hash"] is None:
        raise IntegrityError(where, f"audit row id {row['id']} is not in the chain")
    return AuditEntry(
        seq=int(row["seq"]),
        at=row["at"],
        actor=row["actor"],
        action=row["action"],
        visit_id=row["visit_id"],
        subject=row["subject"],
        justification=row["justification"],
        recipients=row["recipients"],
        detail=row["detail"] if isinstance(row["detail"], dict) else {},
        prev_hash=str(row["prev_hash"]),
        hash=str(row["hash"]),
    )


async def chain(conn: AsyncConnection) -> list[AuditEntry]:
    """The whole audit chain in seq order (rows left out of it come first, and fail)."""
    a = schema.audit_log
    rows = await conn.execute(select(a).order_by(a.c.seq.is_not(None), a.c.seq, a.c.id))
    return [stored_entry(r, where=f"audit row id {r['id']}") for r in rows.mappings()]


def verify_chain(entries: Iterable[AuditEntry]) -> None:
    """Check ``entries`` form one unbroken chain from seq 1.

    Raises :class:`IntegrityError` whose ``where`` is ``"audit seq N"`` for the first entry
    that is missing, altered or wrongly linked.
    """
    prev_hash = GENESIS_HASH
    for position, entry in enumerate(entries, start=1):
        where = f"audit seq {position}"
        if entry.seq != position:
            raise IntegrityError(
                where, f"found seq {entry.seq} here: an entry is missing or out of order"
            )
        if not hmac.compare_digest(entry_hash(entry.body()), entry.hash):
            raise IntegrityError(where, "content does not match its hash: entry altered")
        if not hmac.compare_digest(entry.prev_hash, prev_hash):
            raise IntegrityError(
                where, f"prev_hash does not match the hash of seq {position - 1}: chain broken"
            )
        prev_hash = entry.hash


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
