"""Visit state driven by the SFU: LiveKit webhooks, and reconciliation with its listings.

Webhooks are retried (so they repeat), can arrive late, and are dropped after 30 s in
LiveKit's queue (so they can be lost). Each is applied at most once (its id is recorded in
the same transaction), every transition is compare-and-set, and a periodic reconciliation
against the SFU's own room and participant listings repairs anything missed.
"""

import asyncio
import logging
from datetime import UTC, datetime

from livekit import api
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from control_plane.errors import BadRequest, DependencyUnavailable, Unauthenticated
from control_plane.metrics import Metrics
from control_plane.sfu import Sfu
from control_plane.visits import Visit, append_event, load_visit, transition
from core import schema
from core.domain import ROOM_STATES, TokenRole, VisitState, visit_id_from_room
from core.tokens import role_of_identity

log = logging.getLogger(__name__)

SFU_ACTOR = "system:sfu"
RECONCILE_ACTOR = "system:reconcile"


def verify_webhook(
    receiver: api.WebhookReceiver, body: bytes, auth_header: str | None
) -> api.WebhookEvent:
    """Check the signature over the exact raw body. LiveKit sends the JWT with no 'Bearer'."""
    if not auth_header:
        raise Unauthenticated("webhook has no Authorization header")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("webhook body is not UTF-8") from exc
    try:
        return receiver.receive(text, auth_header)
    except Exception as exc:
        # livekit-api raises bare Exceptions (hash mismatch) and jwt errors alike.
        raise Unauthenticated(f"webhook signature rejected: {exc}") from exc


class SfuEvents:
    def __init__(self, engine: AsyncEngine, sfu: Sfu, metrics: Metrics) -> None:
        self._engine = engine
        self._sfu = sfu
        self._metrics = metrics

    async def apply_webhook(self, event: api.WebhookEvent) -> bool:
        """Apply one verified webhook. Return False if it was already applied (a retry)."""
        if not event.id:
            raise BadRequest("webhook event has no id")
        lag = datetime.now(UTC).timestamp() - event.created_at if event.created_at else None
        if lag is not None and lag >= 0:
            self._metrics.webhook_lag.observe(lag)
        visit_id = visit_id_from_room(event.room.name) if event.HasField("room") else None
        identity = event.participant.identity if event.HasField("participant") else ""
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(schema.webhook_events).values(
                        event_id=event.id, event=event.event, received_at=datetime.now(UTC)
                    )
                )
                visit = await load_visit(conn, visit_id) if visit_id else None
                if visit is not None:
                    await self._apply(conn, visit, event.event, identity)
        except IntegrityError:
            return False
        self._metrics.webhooks_received.labels(event=event.event or "unknown").inc()
        if visit is not None and event.event == "participant_left" and visit.room_name:
            # A victim who left may already have rejoined (a new session of the same identity):
            # the SFU's listing is the truth.
            await self.reconcile_visit(visit.id)
        return True

    async def _apply(self, conn: AsyncConnection, visit: Visit, kind: str, identity: str) -> None:
        role = role_of_identity(identity) if identity else None
        now = datetime.now(UTC)
        if kind in ("participant_joined", "participant_left", "participant_connection_aborted"):
            await append_event(conn, visit.id, kind, SFU_ACTOR, {"identity": identity})
        if role is TokenRole.VICTIM and kind == "participant_joined":
            if visit.status is VisitState.WAITING:
                await transition(
                    conn,
                    visit,
                    VisitState.LIVE,
                    actor=SFU_ACTOR,
                    reason="victim joined",
                    values={"victim_joined_at": visit.victim_joined_at or now},
                )
                self._metrics.join_funnel.labels(step="joined").inc()
        elif role is TokenRole.VICTIM and kind in (
            "participant_left",
            "participant_connection_aborted",
        ):
            if visit.status is VisitState.LIVE:
                await transition(
                    conn, visit, VisitState.WAITING, actor=SFU_ACTOR, reason="victim left"
                )
        elif kind == "room_finished" and visit.status in ROOM_STATES:
            await transition(
                conn,
                visit,
                VisitState.ENDED,
                actor=SFU_ACTOR,
                reason="room closed by the SFU",
                values={"ended_at": now, "end_reason": "room closed by the SFU"},
            )

    async def reconcile_visit(self, visit_id: str) -> None:
        async with self._engine.connect() as conn:
            visit = await load_visit(conn, visit_id)
        if visit is None or visit.status not in ROOM_STATES or visit.room_name is None:
            return
        participants = await self._sfu.participants(visit.room_name)
        async with self._engine.begin() as conn:
            if participants is None:
                reason = "room no longer exists on the SFU"
                await transition(
                    conn,
                    visit,
                    VisitState.ENDED,
                    actor=RECONCILE_ACTOR,
                    reason=reason,
                    values={"ended_at": datetime.now(UTC), "end_reason": reason},
                )
                return
            victim_in = any(role_of_identity(p.identity) is TokenRole.VICTIM for p in participants)
            if victim_in and visit.status is VisitState.WAITING:
                await transition(
                    conn,
                    visit,
                    VisitState.LIVE,
                    actor=RECONCILE_ACTOR,
                    reason="victim is in the room",
                    values={"victim_joined_at": visit.victim_joined_at or datetime.now(UTC)},
                )
            elif not victim_in and visit.status is VisitState.LIVE:
                await transition(
                    conn,
                    visit,
                    VisitState.WAITING,
                    actor=RECONCILE_ACTOR,
                    reason="victim not in the room",
                )

    async def reconcile_all(self) -> None:
        v = schema.visits
        await self._close_orphan_rooms()
        async with self._engine.connect() as conn:
            ids = (
                (
                    await conn.execute(
                        select(v.c.id).where(v.c.status.in_([s.value for s in ROOM_STATES]))
                    )
                )
                .scalars()
                .all()
            )
        for visit_id in ids:
            await self.reconcile_visit(visit_id)

    async def _close_orphan_rooms(self) -> None:
        """Delete EVR rooms whose visit is closed (or unknown): an ended visit has no room."""
        v = schema.visits
        rooms = {r for r in await self._sfu.room_names() if visit_id_from_room(r)}
        if not rooms:
            return
        async with self._engine.connect() as conn:
            open_rooms = set(
                (
                    await conn.execute(
                        select(v.c.room_name).where(
                            v.c.room_name.in_(rooms), v.c.status.in_([s.value for s in ROOM_STATES])
                        )
                    )
                ).scalars()
            )
        for room in rooms - open_rooms:
            log.warning("deleting a room whose visit is closed", extra={"room": room})
            await self._sfu.delete_room(room)

    async def run_reconciler(self, interval: float) -> None:
        """Reconcile forever; a failing SFU is logged and retried, never fatal."""
        while True:
            try:
                await self.reconcile_all()
            except DependencyUnavailable as exc:
                log.warning("reconciliation skipped: %s", exc)
            except Exception:
                log.exception("reconciliation failed")
            await asyncio.sleep(interval)
