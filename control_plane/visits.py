"""Visits: the virtual attendance for one crime or incident reference, and its lifecycle.

Every change is one transaction that updates the visit, appends to its event history and
writes the audit entry, so nothing is half-written. The stored visit and its compare-and-set
transition are in `control_plane.visit_records`; who may see a visit is
`control_plane.visibility`.
"""

import logging
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from control_plane.auth import Principal
from control_plane.bandwidth import records as bandwidth_records
from control_plane.consultation import consulted, consulted_polled
from control_plane.errors import Conflict, DependencyUnavailable, NotFound
from control_plane.metrics import Metrics
from control_plane.sfu import Sfu
from control_plane.visibility import visible_visit, visible_visits
from control_plane.visit_records import (
    EligibilityEntry,
    Visit,
    append_event,
    load_visit,
    transition,
)
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
from core.recording_status import latest_for_visits
from core.settings import Settings
from core.tokens import IssuedToken, identity_for, mint

__all__ = [
    # Re-exported: the stored visit's home is control_plane.visit_records.
    "EligibilityEntry",
    "Visit",
    "VisitService",
    "append_event",
    "load_visit",
    "transition",
]

log = logging.getLogger(__name__)


class VisitService:
    def __init__(self, engine: AsyncEngine, sfu: Sfu, settings: Settings, metrics: Metrics) -> None:
        self._engine = engine
        self._sfu = sfu
        self._settings = settings
        self._metrics = metrics

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
            visit = await visible_visit(conn, principal, visit_id)
            await consulted(
                conn,
                principal,
                subject="visit",
                visit_id=visit_id,
                owner=visit.officer_id,
                justification=justification,
            )
        return visit

    async def list_for(
        self,
        principal: Principal,
        *,
        day: date | None,
        status: VisitState | None,
        justification: str | None = None,
    ) -> list[Visit]:
        """The visits the principal may see (of a day, in a state), the read audited."""
        v = schema.visits
        query = select(v).where(visible_visits(principal)).order_by(v.c.scheduled_at)
        if day is not None:
            start = datetime.combine(day, time.min, tzinfo=UTC)
            query = query.where(
                v.c.scheduled_at >= start, v.c.scheduled_at < start + timedelta(days=1)
            )
        if status is not None:
            query = query.where(v.c.status == status.value)
        async with self._engine.begin() as conn:
            rows = (await conn.execute(query)).mappings().all()
            await consulted(
                conn,
                principal,
                subject="visit.list",
                visit_id=None,
                owner=None,
                justification=justification,
                detail={
                    "visit_ids": [r["id"] for r in rows],
                    "date": day.isoformat() if day else None,
                    "status": status.value if status else None,
                },
            )
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

    async def events(
        self, principal: Principal, visit_id: str, *, justification: str | None = None
    ) -> list[dict[str, Any]]:
        e = schema.visit_events
        async with self._engine.connect() as conn:
            visit = await visible_visit(conn, principal, visit_id)
            rows = await conn.execute(select(e).where(e.c.visit_id == visit_id).order_by(e.c.id))
            events = [
                {
                    "at": r["at"].isoformat(),
                    "kind": r["kind"],
                    "actor": r["actor"],
                    "detail": r["detail"],
                }
                for r in rows.mappings()
            ]
        await consulted_polled(
            self._engine,
            principal,
            subject="visit.events",
            visit_id=visit_id,
            owner=visit.officer_id,
            justification=justification,
        )
        return events

    async def audit_trail(
        self, principal: Principal, visit_id: str, *, justification: str | None = None
    ) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            visit = await visible_visit(conn, principal, visit_id)
            entries = await audit.entries_for_visit(conn, visit_id)
        # Written after the read, so the trail shown ends with what came before it.
        await consulted_polled(
            self._engine,
            principal,
            subject="visit.audit",
            visit_id=visit_id,
            owner=visit.officer_id,
            justification=justification,
        )

        return entries

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
            await visible_visit(conn, principal, visit_id)
        return await self.record_eligibility(
            visit_id, items=[(item, value)], actor=principal.actor, note=note
        )

    async def officer_record_choice(
        self, principal: Principal, visit_id: str, *, video: bool
    ) -> Visit:
        async with self._engine.connect() as conn:
            await visible_visit(conn, principal, visit_id)
        return await self.record_choice(visit_id, actor=principal.actor, video=video)

    async def start(self, principal: Principal, visit_id: str) -> Visit:
        """Open the visit's LiveKit room; the visit then waits for the victim to join."""
        async with self._engine.connect() as conn:
            visit = await visible_visit(conn, principal, visit_id)
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
            row = await transition(
                conn,
                visit,
                VisitState.WAITING,
                actor=principal.actor,
                reason="officer started the visit",
                values={"room_name": room, "started_at": datetime.now(UTC)},
            )
        if row is None:
            await self._sfu.delete_room(room)
            raise Conflict("the visit changed while starting; retry")
        # A status change touches only the visit's own row: its eligibility, recording and
        # connection check are carried over.
        return replace(
            Visit.from_row(row, visit.eligibility, visit.recording),
            connection_check=visit.connection_check,
        )

    async def _close(
        self, principal: Principal, visit_id: str, target: VisitState, reason: str
    ) -> Visit:
        # A webhook may move the visit between waiting and live at the same moment (the victim
        # dropping off 4G); the compare-and-set then fails and we retry on the fresh state.
        for _attempt in range(3):
            async with self._engine.connect() as conn:
                visit = await visible_visit(conn, principal, visit_id)
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
            visit = await visible_visit(conn, principal, visit_id)
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
