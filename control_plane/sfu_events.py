"""Visit state driven by the SFU: LiveKit webhooks, and reconciliation with its listings.

Webhooks are retried (so they repeat), can arrive late, and are dropped after 30 s in
LiveKit's queue (so they can be lost). Each is applied at most once (its id is recorded in
the same transaction), every transition is compare-and-set, and a periodic reconciliation
against the SFU's own room and participant listings repairs anything missed.

Late webhooks are ordered by LiveKit's own creation time (whole seconds): a participant's
`participant_joined` created no later than their last recorded departure is recorded but
does not make the visit live (the SFU's listing then decides), and a departure older than
their last recorded join does not end the live state. Someone who joins under a participant
session that has since been revoked (a newer link replaced it) is removed from the room.
"""

import asyncio
import logging
from datetime import UTC, datetime

from livekit import api
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from control_plane.errors import BadRequest, DependencyUnavailable, Unauthenticated
from control_plane.metrics import Metrics
from control_plane.room_watch import recreate_room
from control_plane.sfu import Sfu
from control_plane.visits import Visit, append_event, load_visit, transition
from core import schema
from core.domain import ROOM_STATES, TERMINAL_STATES, TokenRole, VisitState, visit_id_from_room
from core.driver_sql import DriverStatement
from core.settings import RoomSettings
from core.tokens import role_of_identity, session_of_metadata

log = logging.getLogger(__name__)

SFU_ACTOR = "system:sfu"
JOINED = "participant_joined"
DEPARTED = ("participant_left", "participant_connection_aborted")
RECONCILE_ACTOR = "system:reconcile"
ROOM_FINISHED = "room_finished"
ACTS_ON_VISIT = frozenset({JOINED, *DEPARTED, ROOM_FINISHED})
_RECORD = DriverStatement(
    insert(schema.webhook_events).values(
        {
            name: bindparam(name)
            for name in ("event_id", "event", "received_at", "created_at", "visit_id", "identity")
        }
    )
)


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


async def _revoked_session(conn: AsyncConnection, metadata: str) -> bool:
    """Whether the participant joined with a token minted for a session since revoked."""
    session_id = session_of_metadata(metadata)
    if session_id is None:
        return False
    p = schema.participant_sessions
    revoked_at = await conn.scalar(select(p.c.revoked_at).where(p.c.id == session_id))
    return revoked_at is not None


async def _superseded(
    conn: AsyncConnection, event: api.WebhookEvent, visit_id: str, identity: str, created: int
) -> bool:
    """Whether an opposite event for the same participant, created later, was already
    recorded. For a join, a departure created in the same second counts as later: LiveKit's
    times are whole seconds, and the SFU's listing then settles it."""
    w = schema.webhook_events
    if event.event == JOINED:
        newer = [w.c.event.in_(DEPARTED), w.c.created_at >= created]
    elif event.event in DEPARTED:
        newer = [w.c.event == JOINED, w.c.created_at > created]
    else:
        return False
    found = await conn.scalar(
        select(w.c.event_id)
        .where(w.c.visit_id == visit_id, w.c.identity == identity, w.c.event_id != event.id, *newer)
        .limit(1)
    )
    return found is not None


class SfuEvents:
    def __init__(
        self, engine: AsyncEngine, sfu: Sfu, metrics: Metrics, rooms: RoomSettings
    ) -> None:
        self._engine = engine
        self._sfu = sfu
        self._metrics = metrics
        self._rooms = rooms

    async def apply_webhook(self, event: api.WebhookEvent) -> bool:
        """Apply one verified webhook. Return False if it was already applied (a retry)."""
        if not event.id:
            raise BadRequest("webhook event has no id")
        lag = datetime.now(UTC).timestamp() - event.created_at if event.created_at else None
        if lag is not None and lag >= 0:
            self._metrics.webhook_lag.observe(lag)
        visit_id = visit_id_from_room(event.room.name) if event.HasField("room") else None
        identity = event.participant.identity if event.HasField("participant") else ""
        created = int(event.created_at) if event.created_at else None
        revoked = stale = False
        record = {
            "event_id": event.id,
            "event": event.event,
            "received_at": datetime.now(UTC),
            "created_at": created,
            "visit_id": visit_id,
            "identity": identity or None,
        }
        try:
            async with self._engine.begin() as conn:
                await conn.run_sync(_RECORD.run, record)
                # Only these events can change a visit; the others (room_started,
                # track_published, ...) are recorded and nothing more, so their write holds
                # SQLite's one writer lock for as short a time as it can (issue 14: the
                # room_started of a visit's start arrives as `start` writes its transition).
                visit = None
                if visit_id is not None and event.event in ACTS_ON_VISIT:
                    visit = await load_visit(conn, visit_id)
                if visit is not None:
                    if event.event == JOINED:
                        revoked = await _revoked_session(conn, event.participant.metadata)
                    if identity and created is not None:
                        stale = await _superseded(conn, event, visit.id, identity, created)
                    act = not (revoked or stale)
                    await self._apply(conn, visit, event.event, identity, act=act)
        except IntegrityError:
            return False
        self._metrics.webhooks_received.labels(event=event.event or "unknown").inc()
        if visit is None or not visit.room_name:
            return True
        if revoked:
            log.warning("removing a participant whose session was revoked")
            await self._sfu.remove_participant(visit.room_name, identity)
        if event.event in DEPARTED or stale or revoked:
            # A victim who left may already have rejoined (a new session of the same identity),
            # and an event out of order decides nothing: the SFU's listing is the truth.
            await self.reconcile_visit(visit.id)
        return True

    async def _apply(
        self, conn: AsyncConnection, visit: Visit, kind: str, identity: str, *, act: bool = True
    ) -> None:
        """Record the event on the visit; change the visit's state only if `act` (the event
        is neither out of order nor from a revoked session)."""
        role = role_of_identity(identity) if identity else None
        now = datetime.now(UTC)
        if kind == JOINED or kind in DEPARTED:
            detail: dict[str, object] = {"identity": identity}
            if not act:
                detail["ignored"] = True
            await append_event(conn, visit.id, kind, SFU_ACTOR, detail)
            if not act:
                return
        if role is TokenRole.VICTIM and kind == JOINED:
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
        elif role is TokenRole.VICTIM and kind in DEPARTED:
            if visit.status is VisitState.LIVE:
                await transition(
                    conn, visit, VisitState.WAITING, actor=SFU_ACTOR, reason="victim left"
                )
        elif kind == ROOM_FINISHED and visit.status in ROOM_STATES:
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
        if participants:
            # Anyone in the room under a session a newer link replaced is removed (the removal
            # when the link was issued may have failed, or they rejoined with an old token).
            async with self._engine.connect() as conn:
                revoked = [p for p in participants if await _revoked_session(conn, p.metadata)]
            for p in revoked:
                log.warning("removing a participant whose session was revoked")
                await self._sfu.remove_participant(visit.room_name, p.identity)
                participants.remove(p)
        if participants is None:
            # The SFU lost the room (a restart, a dead node): an infrastructure fault never
            # ends a visit, so the room comes back and the pages rejoin it.
            await recreate_room(self._engine, self._sfu, self._metrics, visit, self._rooms)
            return
        async with self._engine.begin() as conn:
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
        """Delete EVR rooms whose visit is closed (or unknown): an ended visit has no room.

        A room whose visit is still open stays, whatever its state: `start` creates the room
        before it commits the visit as waiting, so a visit not yet waiting may be one being
        started right now (a failed start's room closes itself after LiveKit's empty timeout).
        """
        v = schema.visits
        rooms = {r: vid for r in await self._sfu.room_names() if (vid := visit_id_from_room(r))}
        if not rooms:
            return
        async with self._engine.connect() as conn:
            open_visits = set(
                (
                    await conn.execute(
                        select(v.c.id).where(
                            v.c.id.in_(set(rooms.values())),
                            v.c.status.not_in([s.value for s in TERMINAL_STATES]),
                        )
                    )
                ).scalars()
            )
        for room, visit_id in rooms.items():
            if visit_id not in open_visits:
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
