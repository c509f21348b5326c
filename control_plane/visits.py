"""Visits: the virtual attendance for one crime or incident reference, and its lifecycle.

Every change is one transaction that updates the visit, appends to its event history and
writes the audit entry, so nothing is half-written. State changes are compare-and-set on
the current status, so concurrent requests and late webhooks cannot skip the state machine.
"""

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from control_plane.auth import Principal, can_see
from control_plane.bandwidth import records as bandwidth_records
from control_plane.errors import Conflict, DependencyUnavailable, NotFound
from control_plane.metrics import Metrics
from control_plane.sfu import Sfu
from core import audit, schema
from core.domain import (
    ROOM_STATES,
    TERMINAL_STATES,
    AuditAction,
    ContactChannel,
    EligibilityItem,
    TokenRole,
    VisitState,
    can_transition,
    room_name_for,
)
from core.recording_status import RecordingSnapshot, latest_for_visit, latest_for_visits
from core.settings import Settings
from core.tokens import IssuedToken, identity_for, mint

log = logging.getLogger(__name__)


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


async def _eligibility(conn: AsyncConnection, visit_id: str) -> list[EligibilityEntry]:
    """The latest record per item: a later record (e.g. the victim withdrawing) wins."""
    e = schema.eligibility_records
    rows = await conn.execute(select(e).where(e.c.visit_id == visit_id).order_by(e.c.id))
    latest: dict[EligibilityItem, EligibilityEntry] = {}
    for r in rows.mappings():
        item = EligibilityItem(r["item"])
        latest[item] = EligibilityEntry(
            item=item,
            value=r["value"],
            recorded_by=r["recorded_by"],
            recorded_at=r["recorded_at"],
            note=r["note"],
        )
    return [latest[i] for i in EligibilityItem if i in latest]


async def load_visit(conn: AsyncConnection, visit_id: str) -> Visit | None:
    row = (
        (await conn.execute(select(schema.visits).where(schema.visits.c.id == visit_id)))
        .mappings()
        .first()
    )
    if row is None:
        return None
    visit = Visit.from_row(
        row, await _eligibility(conn, visit_id), await latest_for_visit(conn, visit_id)
    )
    check = await bandwidth_records.latest_for_visit(conn, visit_id)
    return replace(visit, connection_check=bandwidth_records.check_json(check) if check else None)


async def append_event(
    conn: AsyncConnection, visit_id: str, kind: str, actor: str, detail: dict[str, Any]
) -> None:
    await conn.execute(
        insert(schema.visit_events).values(
            visit_id=visit_id, at=datetime.now(UTC), kind=kind, actor=actor, detail=detail
        )
    )


async def transition(
    conn: AsyncConnection,
    visit: Visit,
    target: VisitState,
    *,
    actor: str,
    reason: str,
    values: dict[str, Any] | None = None,
) -> bool:
    """Compare-and-set the visit's status. Return False if it changed underneath us."""
    if not can_transition(visit.status, target):
        raise Conflict(
            f"visit is {visit.status.value}; it cannot become {target.value}",
            details={"status": visit.status.value, "requested": target.value},
        )
    now = datetime.now(UTC)
    result = await conn.execute(
        update(schema.visits)
        .where(schema.visits.c.id == visit.id, schema.visits.c.status == visit.status.value)
        .values(status=target.value, updated_at=now, **(values or {}))
    )
    if result.rowcount != 1:
        return False
    await append_event(
        conn,
        visit.id,
        "status",
        actor,
        {"from": visit.status.value, "to": target.value, "reason": reason},
    )
    await audit.record(
        conn,
        actor=actor,
        action=AuditAction.ALTERATION,
        subject="visit.status",
        visit_id=visit.id,
        detail={"from": visit.status.value, "to": target.value, "reason": reason},
    )
    return True


class VisitService:
    def __init__(self, engine: AsyncEngine, sfu: Sfu, settings: Settings, metrics: Metrics) -> None:
        self._engine = engine
        self._sfu = sfu
        self._settings = settings
        self._metrics = metrics

    async def _visible(self, conn: AsyncConnection, principal: Principal, visit_id: str) -> Visit:
        visit = await load_visit(conn, visit_id)
        # Someone else's visit is reported as absent, so its existence does not leak.
        if visit is None or not can_see(principal, officer_id=visit.officer_id, unit=visit.unit):
            raise NotFound(f"no visit {visit_id}")
        return visit

    async def create(
        self,
        principal: Principal,
        *,
        crime_reference: str,
        scheduled_at: datetime,
        contact_channel: ContactChannel,
        contact_value: str,
    ) -> Visit:
        visit_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(schema.visits).values(
                    id=visit_id,
                    crime_reference=crime_reference,
                    officer_id=principal.officer_id,
                    officer_collar=principal.collar_number,
                    unit=principal.unit,
                    scheduled_at=scheduled_at,
                    contact_channel=contact_channel.value,
                    contact_value=contact_value,
                    status=VisitState.OFFERED.value,
                    created_at=now,
                    updated_at=now,
                )
            )
            await append_event(conn, visit_id, "created", principal.actor, {})
            await audit.record(
                conn,
                actor=principal.actor,
                action=AuditAction.COLLECTION,
                subject="visit.contact",
                visit_id=visit_id,
                detail={"channel": contact_channel.value},
            )
            visit = await load_visit(conn, visit_id)
        assert visit is not None
        return visit

    async def get(self, principal: Principal, visit_id: str, *, justification: str | None) -> Visit:
        async with self._engine.begin() as conn:
            visit = await self._visible(conn, principal, visit_id)
            await audit.record(
                conn,
                actor=principal.actor,
                action=AuditAction.CONSULTATION,
                subject="visit",
                visit_id=visit_id,
                justification=justification,
            )
        return visit

    async def list_for(
        self, principal: Principal, *, day: date | None, status: VisitState | None
    ) -> list[Visit]:
        v = schema.visits
        query = select(v).order_by(v.c.scheduled_at)
        if principal.role.value == "supervisor":
            query = query.where(v.c.unit == principal.unit)
        else:
            query = query.where(v.c.officer_id == principal.officer_id)
        if day is not None:
            start = datetime.combine(day, time.min, tzinfo=UTC)
            query = query.where(
                v.c.scheduled_at >= start, v.c.scheduled_at < start + timedelta(days=1)
            )
        if status is not None:
            query = query.where(v.c.status == status.value)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
            recordings = await latest_for_visits(conn, [r["id"] for r in rows])
            checks = await bandwidth_records.latest_for_visits(conn, [r["id"] for r in rows])
        return [
            replace(
                Visit.from_row(r, recording=recordings.get(r["id"])),
                connection_check=(
                    bandwidth_records.check_json(checks[r["id"]]) if r["id"] in checks else None
                ),
            )
            for r in rows
        ]

    async def events(self, principal: Principal, visit_id: str) -> list[dict[str, Any]]:
        e = schema.visit_events
        async with self._engine.connect() as conn:
            await self._visible(conn, principal, visit_id)
            rows = await conn.execute(select(e).where(e.c.visit_id == visit_id).order_by(e.c.id))
            return [
                {
                    "at": r["at"].isoformat(),
                    "kind": r["kind"],
                    "actor": r["actor"],
                    "detail": r["detail"],
                }
                for r in rows.mappings()
            ]

    async def audit_trail(self, principal: Principal, visit_id: str) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            await self._visible(conn, principal, visit_id)
            return await audit.entries_for_visit(conn, visit_id)

    async def record_choice(self, visit_id: str, *, actor: str, video: bool) -> Visit:
        """Record the victim's choice. An in-person visit is always a valid outcome."""
        target = VisitState.ACCEPTED_VIDEO if video else VisitState.CHOSE_IN_PERSON
        async with self._engine.begin() as conn:
            visit = await load_visit(conn, visit_id)
            if visit is None:
                raise NotFound(f"no visit {visit_id}")
            if visit.status is target:
                return visit
            if video and visit.status in (VisitState.WAITING, VisitState.LIVE):
                return visit
            values: dict[str, Any] = {}
            if not video:
                values = {
                    "ended_at": datetime.now(UTC),
                    "end_reason": "victim chose in-person visit",
                }
            if not await transition(
                conn, visit, target, actor=actor, reason="victim's choice", values=values
            ):
                raise Conflict("the visit changed while recording the choice; retry")
        if not video:
            self._metrics.join_funnel.labels(step="chose_in_person").inc()
            if visit.room_name and visit.status in ROOM_STATES:
                await self._delete_room_or_defer(visit.room_name)
        return await self._reload(visit_id)

    async def _reload(self, visit_id: str) -> Visit:
        async with self._engine.connect() as conn:
            visit = await load_visit(conn, visit_id)
        if visit is None:
            raise NotFound(f"no visit {visit_id}")
        return visit

    async def record_eligibility(
        self,
        visit_id: str,
        *,
        items: Sequence[tuple[EligibilityItem, bool]],
        actor: str,
        note: str,
    ) -> Visit:
        """Record eligibility items, all in one transaction, each with who and when."""
        async with self._engine.begin() as conn:
            visit = await load_visit(conn, visit_id)
            if visit is None:
                raise NotFound(f"no visit {visit_id}")
            if visit.status in TERMINAL_STATES:
                raise Conflict(f"visit is {visit.status.value}; eligibility can no longer change")
            now = datetime.now(UTC)
            for item, value in items:
                await conn.execute(
                    insert(schema.eligibility_records).values(
                        visit_id=visit_id,
                        item=item.value,
                        value=value,
                        recorded_by=actor,
                        recorded_at=now,
                        note=note,
                    )
                )
                await append_event(
                    conn, visit_id, "eligibility", actor, {"item": item.value, "value": value}
                )
                await audit.record(
                    conn,
                    actor=actor,
                    action=AuditAction.ALTERATION,
                    subject=f"visit.eligibility.{item.value}",
                    visit_id=visit_id,
                    detail={"value": value},
                )
            visit = await load_visit(conn, visit_id)
        assert visit is not None
        return visit

    async def officer_record_eligibility(
        self, principal: Principal, visit_id: str, *, item: EligibilityItem, value: bool, note: str
    ) -> Visit:
        async with self._engine.connect() as conn:
            await self._visible(conn, principal, visit_id)
        return await self.record_eligibility(
            visit_id, items=[(item, value)], actor=principal.actor, note=note
        )

    async def officer_record_choice(
        self, principal: Principal, visit_id: str, *, video: bool
    ) -> Visit:
        async with self._engine.connect() as conn:
            await self._visible(conn, principal, visit_id)
        return await self.record_choice(visit_id, actor=principal.actor, video=video)

    async def start(self, principal: Principal, visit_id: str) -> Visit:
        """Open the visit's LiveKit room; the visit then waits for the victim to join."""
        async with self._engine.connect() as conn:
            visit = await self._visible(conn, principal, visit_id)
        if visit.status is not VisitState.ACCEPTED_VIDEO:
            raise Conflict(
                f"visit is {visit.status.value}; only a visit accepted as video can start",
                details={"status": visit.status.value},
            )
        missing = visit.missing_eligibility()
        if missing:
            raise Conflict(
                "eligibility is not fully recorded: " + ", ".join(missing),
                details={"missing": missing},
            )
        room = room_name_for(visit.id)
        await self._sfu.create_room(room, visit_id=visit.id, rooms=self._settings.rooms)
        async with self._engine.begin() as conn:
            ok = await transition(
                conn,
                visit,
                VisitState.WAITING,
                actor=principal.actor,
                reason="officer started the visit",
                values={"room_name": room, "started_at": datetime.now(UTC)},
            )
        if not ok:
            await self._sfu.delete_room(room)
            raise Conflict("the visit changed while starting; retry")
        return await self._reload(visit_id)

    async def _close(
        self, principal: Principal, visit_id: str, target: VisitState, reason: str
    ) -> Visit:
        # A webhook may move the visit between waiting and live at the same moment (the victim
        # dropping off 4G); the compare-and-set then fails and we retry on the fresh state.
        for _attempt in range(3):
            async with self._engine.connect() as conn:
                visit = await self._visible(conn, principal, visit_id)
            if visit.status is target:
                return visit
            if not can_transition(visit.status, target):
                raise Conflict(
                    f"visit is {visit.status.value}; it cannot become {target.value}",
                    details={"status": visit.status.value},
                )
            # Close the visit first, then the room: the room_finished webhook that deleting
            # causes then finds the visit already closed. If the SFU cannot be reached now,
            # the reconciler deletes rooms whose visit is closed.
            async with self._engine.begin() as conn:
                ok = await transition(
                    conn,
                    visit,
                    target,
                    actor=principal.actor,
                    reason=reason,
                    values={"ended_at": datetime.now(UTC), "end_reason": reason},
                )
            if ok:
                if visit.room_name and visit.status in ROOM_STATES:
                    await self._delete_room_or_defer(visit.room_name)
                return await self._reload(visit_id)
        raise Conflict("the visit kept changing while closing it; retry")

    async def _delete_room_or_defer(self, room: str) -> None:
        try:
            await self._sfu.delete_room(room)
        except DependencyUnavailable as exc:
            log.warning(
                "room left for the reconciler to delete", extra={"room": room, "error": str(exc)}
            )

    async def end(self, principal: Principal, visit_id: str, *, reason: str) -> Visit:
        return await self._close(principal, visit_id, VisitState.ENDED, reason)

    async def cancel(self, principal: Principal, visit_id: str, *, reason: str) -> Visit:
        return await self._close(principal, visit_id, VisitState.CANCELLED, reason)

    async def no_show(self, principal: Principal, visit_id: str) -> Visit:
        return await self._close(principal, visit_id, VisitState.NO_SHOW, "victim did not join")

    async def officer_token(self, principal: Principal, visit_id: str) -> IssuedToken:
        async with self._engine.connect() as conn:
            visit = await self._visible(conn, principal, visit_id)
        if visit.status not in ROOM_STATES or visit.room_name is None:
            raise Conflict(f"visit is {visit.status.value}; start it before joining")
        issued = mint(
            self._settings.livekit,
            role=TokenRole.OFFICER,
            room=visit.room_name,
            identity=identity_for(TokenRole.OFFICER, principal.officer_id),
            display_name=f"Officer {principal.collar_number}",
            ttl=self._settings.join.token_ttl,
        )
        self._metrics.tokens_issued.labels(role=TokenRole.OFFICER.value).inc()
        return issued

    async def count_by_state(self) -> dict[str, int]:
        v = schema.visits
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(v.c.status, func.count()).group_by(v.c.status))
            return {str(status): int(count) for status, count in rows}
