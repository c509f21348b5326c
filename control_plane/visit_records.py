"""A visit as stored: the typed row, how it is loaded, its event history, and the one
compare-and-set transition every status change goes through.

Every state change is a compare-and-set on the current status, so concurrent requests and
late webhooks cannot skip the state machine (`core.domain.can_transition`).
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from control_plane.bandwidth import records as bandwidth_records
from control_plane.errors import Conflict
from core import audit, schema
from core.domain import (
    TERMINAL_STATES,
    AuditAction,
    ContactChannel,
    EligibilityItem,
    ParticipantRole,
    VisitState,
    can_transition,
)
from core.driver_sql import DriverStatement
from core.recording_status import RecordingSnapshot, read_latest


@dataclass(frozen=True, kw_only=True)
class EligibilityEntry:
    item: EligibilityItem
    value: bool
    recorded_by: str
    recorded_at: datetime
    note: str

    def to_json(self) -> dict[str, Any]:
        return {
            "item": self.item.value,
            "value": self.value,
            "recorded_by": self.recorded_by,
            "recorded_at": self.recorded_at.isoformat(),
            "note": self.note,
        }


@dataclass(frozen=True, kw_only=True)
class Visit:
    id: str
    crime_reference: str
    officer_id: str
    officer_collar: str
    unit: str
    scheduled_at: datetime
    contact_channel: ContactChannel
    contact_value: str
    status: VisitState
    room_name: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    victim_joined_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    eligibility: tuple[EligibilityEntry, ...] = ()
    recording: RecordingSnapshot | None = None
    connection_check: dict[str, Any] | None = None
    """The victim's latest connection-check verdict (control_plane.bandwidth.records)."""

    @classmethod
    def from_row(
        cls,
        row: Any,
        eligibility: Iterable[EligibilityEntry] = (),
        recording: RecordingSnapshot | None = None,
    ) -> "Visit":
        return cls(
            id=row["id"],
            crime_reference=row["crime_reference"],
            officer_id=row["officer_id"],
            officer_collar=row["officer_collar"],
            unit=row["unit"],
            scheduled_at=row["scheduled_at"],
            contact_channel=ContactChannel(row["contact_channel"]),
            contact_value=row["contact_value"],
            status=VisitState(row["status"]),
            room_name=row["room_name"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            started_at=row["started_at"],
            victim_joined_at=row["victim_joined_at"],
            ended_at=row["ended_at"],
            end_reason=row["end_reason"],
            eligibility=tuple(eligibility),
            recording=recording,
        )

    def missing_eligibility(self) -> list[str]:
        """Items not yet recorded as met; the visit cannot go live until this is empty."""
        met = {e.item for e in self.eligibility if e.value}
        return [item.value for item in EligibilityItem if item not in met]

    def to_json(self, *, include_contact: bool) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        body: dict[str, Any] = {
            "id": self.id,
            "crime_reference": self.crime_reference,
            "officer_id": self.officer_id,
            "officer_collar": self.officer_collar,
            "unit": self.unit,
            "scheduled_at": self.scheduled_at.isoformat(),
            "status": self.status.value,
            "room_name": self.room_name,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "started_at": iso(self.started_at),
            "victim_joined_at": iso(self.victim_joined_at),
            "ended_at": iso(self.ended_at),
            "end_reason": self.end_reason,
            "eligibility": {
                "entries": [e.to_json() for e in self.eligibility],
                "missing": self.missing_eligibility(),
            },
            # The latest statement recording, judged now (core.recording_status).
            "recording": self.recording.to_json() if self.recording else None,
            "connection_check": self.connection_check,
        }
        if include_contact:
            body["contact"] = {"channel": self.contact_channel.value, "value": self.contact_value}
        return body


# Built once, with bound parameters: these run in nearly every request, and building a
# statement (and its cache key) per call cost more CPU than executing it (issue 14).
_e = schema.eligibility_records
_v = schema.visits
ELIGIBILITY_COLUMNS = (
    _e.c.id.label("eligibility_id"),
    _e.c.item.label("eligibility_item"),
    _e.c.value.label("eligibility_value"),
    _e.c.recorded_by.label("eligibility_recorded_by"),
    _e.c.recorded_at.label("eligibility_recorded_at"),
    _e.c.note.label("eligibility_note"),
)
"""A visit's eligibility records, outer-joined onto its row: one query instead of two, so
one round trip (and on SQLite one statement's CPU) less on every visit load."""
_VISIT_AND_ELIGIBILITY = DriverStatement(
    select(_v, *ELIGIBILITY_COLUMNS)
    .select_from(_v.outerjoin(_e, _e.c.visit_id == _v.c.id))
    .where(_v.c.id == bindparam("visit_id"))
    .order_by(_e.c.id),
    point_read=True,
)
_EVENT = DriverStatement(
    insert(schema.visit_events).values(
        {name: bindparam(name) for name in ("visit_id", "at", "kind", "actor", "detail")}
    )
)


def latest_eligibility(rows: Iterable[Any]) -> list[EligibilityEntry]:
    """The latest record per item from rows carrying ELIGIBILITY_COLUMNS in record order (a
    later record, e.g. the victim withdrawing, wins); a visit with none has one row of
    NULLs."""
    latest: dict[EligibilityItem, EligibilityEntry] = {}
    for r in rows:
        if r["eligibility_id"] is None:
            continue
        item = EligibilityItem(r["eligibility_item"])
        latest[item] = EligibilityEntry(
            item=item,
            value=r["eligibility_value"],
            recorded_by=r["eligibility_recorded_by"],
            recorded_at=r["eligibility_recorded_at"],
            note=r["eligibility_note"],
        )
    return [latest[i] for i in EligibilityItem if i in latest]


def read_visit(conn: Connection, visit_id: str) -> Visit | None:
    """`load_visit` for synchronous code run by `AsyncConnection.run_sync`."""
    rows = _VISIT_AND_ELIGIBILITY.mappings(conn, {"visit_id": visit_id})
    if not rows:
        return None
    visit = Visit.from_row(rows[0], latest_eligibility(rows), read_latest(conn, visit_id))
    check = bandwidth_records.read_latest_for_visit(conn, visit_id)
    return replace(visit, connection_check=bandwidth_records.check_json(check) if check else None)


async def load_visit(conn: AsyncConnection, visit_id: str) -> Visit | None:
    """The visit with its eligibility, latest recording and latest connection check: four
    statements at most, in one greenlet (issue 14: every officer request loads a visit)."""
    return await conn.run_sync(read_visit, visit_id)


async def append_event(
    conn: AsyncConnection, visit_id: str, kind: str, actor: str, detail: dict[str, Any]
) -> None:
    await conn.run_sync(_EVENT.run, _event(visit_id, kind, actor, detail))


def add_event(
    conn: Connection, visit_id: str, kind: str, actor: str, detail: dict[str, Any]
) -> None:
    """`append_event` for synchronous code run by `AsyncConnection.run_sync`."""
    _EVENT.run(conn, _event(visit_id, kind, actor, detail))


def _event(visit_id: str, kind: str, actor: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "visit_id": visit_id,
        "at": datetime.now(UTC),
        "kind": kind,
        "actor": actor,
        "detail": detail,
    }


async def revoke_sessions(
    conn: AsyncConnection,
    visit_id: str,
    *,
    actor: str,
    reason: str,
    role: ParticipantRole | None = None,
    keep: str | None = None,
) -> set[str]:
    """Revoke the visit's live participant sessions (of one role, or all but `keep`); return
    the identities they held, so the caller can remove them from the room."""
    p = schema.participant_sessions
    live = [p.c.visit_id == visit_id, p.c.revoked_at.is_(None)]
    if role is not None:
        live.append(p.c.role == role.value)
    if keep is not None:
        live.append(p.c.id != keep)
    rows = (await conn.execute(select(p.c.id, p.c.identity).where(*live))).all()
    if not rows:
        return set()
    await conn.execute(
        update(p).where(p.c.id.in_([r.id for r in rows])).values(revoked_at=datetime.now(UTC))
    )
    await append_event(
        conn,
        visit_id,
        "sessions_revoked",
        actor,
        {"reason": reason, "sessions": sorted(r.id for r in rows)},
    )
    return {r.identity for r in rows}


async def _latest_victim_session(conn: AsyncConnection, visit_id: str) -> str | None:
    p = schema.participant_sessions
    return await conn.scalar(
        select(p.c.id)
        .where(
            p.c.visit_id == visit_id,
            p.c.role == ParticipantRole.VICTIM.value,
            p.c.revoked_at.is_(None),
        )
        .order_by(p.c.created_at.desc())
        .limit(1)
    )


_STATUS_UPDATES: dict[tuple[str, ...], DriverStatement] = {}


def _status_update(columns: tuple[str, ...]) -> DriverStatement:
    """The compare-and-set of a status that also sets `columns`, built once per set of
    columns (a handful: the callers' own) and run on the driver's cursor (issue 14)."""
    statement = _STATUS_UPDATES.get(columns)
    if statement is None:
        statement = DriverStatement(
            update(_v)
            .where(_v.c.id == bindparam("visit_id"), _v.c.status == bindparam("from_status"))
            .values(
                status=bindparam("to_status"),
                updated_at=bindparam("now"),
                **{name: bindparam(f"set_{name}") for name in columns},
            )
            .returning(_v)
        )
        _STATUS_UPDATES[columns] = statement
    return statement


async def transition(
    conn: AsyncConnection,
    visit: Visit,
    target: VisitState,
    *,
    actor: str,
    reason: str,
    values: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Compare-and-set the visit's status. Return the visit's row as written (RETURNING, so
    a caller needs no read after it), or None if it changed underneath us."""
    if not can_transition(visit.status, target):
        raise Conflict(
            f"visit is {visit.status.value}; it cannot become {target.value}",
            details={"status": visit.status.value, "requested": target.value},
        )
    columns = tuple(sorted(values or {}))
    found = await conn.run_sync(
        _status_update(columns).mappings,
        {
            "visit_id": visit.id,
            "from_status": visit.status.value,
            "to_status": target.value,
            "now": datetime.now(UTC),
            **{f"set_{name}": value for name, value in (values or {}).items()},
        },
    )
    if not found:
        return None
    row = found[0]
    await append_event(
        conn,
        visit.id,
        "status",
        actor,
        {"from": visit.status.value, "to": target.value, "reason": reason},
    )
    if target in TERMINAL_STATES:
        # A closed visit has no room to join. Only the victim's newest session outlives it,
        # to read the visit, send the quick-exit signal and (once ended) answer the feedback
        # question; every other participant write is refused on a closed visit.
        keep = await _latest_victim_session(conn, visit.id)
        await revoke_sessions(
            conn, visit.id, actor=actor, reason=f"visit {target.value}", keep=keep
        )
    await audit.record(
        conn,
        actor=actor,
        action=AuditAction.ALTERATION,
        subject="visit.status",
        visit_id=visit.id,
        detail={"from": visit.status.value, "to": target.value, "reason": reason},
    )
    return row
