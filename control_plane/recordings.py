"""Statement recording, as the control plane sees it: consent, start and stop.

The control plane never touches media. Starting a recording (1) checks consent, (2) flags the
LiveKit room so every participant's page shows that recording is on, then (3) writes a job
row that a recorder worker (`recorder.claim`) claims. Stopping marks the job `stopping`;
the worker seals. Access to the sealed evidence is `control_plane.evidence_access`; the
watch on whether each recording is secured is `control_plane.recording_watch`.

Consent rules (documented in evidence/README.md): before a start, the victim
(`victim:<visit id>`) and every other non-officer participant in the room must have a
consent record. A participant gives it on their own page (method "self"), or the officer
records a participant's spoken consent on their behalf (method "verbal", with the officer
as `recorded_by`). The officer who starts the recording is recorded as consenting
(method "initiated"). The manifest carries every record.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from control_plane.auth import Principal
from control_plane.consultation import consulted_polled
from control_plane.errors import Conflict, DependencyUnavailable, NotFound, ValidationFailed
from control_plane.evidence_access import EvidenceAccess
from control_plane.joining import ParticipantSession
from control_plane.sfu import Sfu
from control_plane.visibility import visible_visit
from control_plane.visit_records import Visit, append_event, load_visit
from core import audit, schema
from core.custody_db import DbCustodyLog
from core.domain import ROOM_STATES, TERMINAL_STATES, AuditAction, TokenRole
from core.recording_status import ACTIVE_STATUSES, RecordingStatus, latest_for_visit
from core.settings import Settings
from core.telemetry import current_traceparent
from core.tokens import identity_for, role_of_identity
from evidence.store import EvidenceStore

log = logging.getLogger(__name__)

METHOD_SELF, METHOD_VERBAL, METHOD_INITIATED = "self", "verbal", "initiated"


def _consent_json(row: Any) -> dict[str, Any]:
    return {
        "identity": row["identity"],
        "at": row["at"].isoformat(),
        "text_version": row["text_version"],
        "method": row["method"],
        "recorded_by": row["recorded_by"],
    }


async def consents_for(conn: AsyncConnection, visit_id: str) -> list[dict[str, Any]]:
    c = schema.recording_consents
    rows = await conn.execute(select(c).where(c.c.visit_id == visit_id).order_by(c.c.id))
    return [_consent_json(r) for r in rows.mappings()]


async def _standing_consents(conn: AsyncConnection, visit_id: str) -> set[str]:
    """Identities whose consent still stands: given to an officer, or on the page by a
    session that has not been revoked (a replaced session's consent does not carry over to
    whoever holds the identity next)."""
    c, p = schema.recording_consents, schema.participant_sessions
    rows = await conn.execute(
        select(c.c.identity)
        .select_from(c.outerjoin(p, p.c.id == c.c.session_id))
        .where(c.c.visit_id == visit_id, or_(c.c.session_id.is_(None), p.c.revoked_at.is_(None)))
    )
    return set(rows.scalars())


class RecordingService(EvidenceAccess):
    """Consent, and starting and stopping statement recordings; the access to what they
    sealed is :class:`EvidenceAccess`'s."""

    def __init__(
        self,
        engine: AsyncEngine,
        sfu: Sfu,
        settings: Settings,
        custody: DbCustodyLog,
        store: EvidenceStore,
    ) -> None:
        super().__init__(engine, settings, custody, store)
        self._sfu = sfu

    # -- consent -------------------------------------------------------------------------------

    async def _known_identities(self, conn: AsyncConnection, visit: Visit) -> set[str]:
        p = schema.participant_sessions
        rows = await conn.execute(select(p.c.identity).where(p.c.visit_id == visit.id))
        return {
            *rows.scalars(),
            identity_for(TokenRole.VICTIM, visit.id),
            identity_for(TokenRole.OFFICER, visit.officer_id),
        }

    async def _insert_consent(
        self,
        conn: AsyncConnection,
        visit: Visit,
        *,
        identity: str,
        method: str,
        recorded_by: str,
        text_version: str,
        session_id: str | None = None,
    ) -> None:
        now = datetime.now(UTC)
        await conn.execute(
            insert(schema.recording_consents).values(
                visit_id=visit.id,
                identity=identity,
                at=now,
                text_version=text_version,
                method=method,
                recorded_by=recorded_by,
                session_id=session_id,
            )
        )
        detail = {"identity": identity, "method": method, "text_version": text_version}
        await append_event(conn, visit.id, "recording_consent", recorded_by, detail)
        await audit.record(
            conn,
            actor=recorded_by,
            action=AuditAction.COLLECTION,
            subject="recording.consent",
            visit_id=visit.id,
            detail=detail,
        )

    async def officer_consent(
        self, principal: Principal, visit_id: str, *, identity: str, text_version: str | None
    ) -> list[dict[str, Any]]:
        """Record a participant's spoken consent, given to the officer on the call."""
        async with self._engine.begin() as conn:
            visit = await visible_visit(conn, principal, visit_id)
            if visit.status in TERMINAL_STATES:
                raise Conflict(f"visit is {visit.status.value}; consent can no longer be taken")
            known = await self._known_identities(conn, visit)
            if identity not in known:
                raise ValidationFailed(
                    f"{identity!r} is not a participant of this visit; "
                    f"known: {', '.join(sorted(known))}",
                    details=[{"field": "identity", "problem": "not a participant of this visit"}],
                )
            await self._insert_consent(
                conn,
                visit,
                identity=identity,
                method=METHOD_VERBAL,
                recorded_by=principal.actor,
                text_version=text_version or self._settings.recording.consent_text_version,
            )
            return await consents_for(conn, visit_id)

    async def participant_consent(
        self, session: ParticipantSession, *, text_version: str | None
    ) -> list[dict[str, Any]]:
        """The participant consents on their own page."""
        async with self._engine.begin() as conn:
            visit = await load_visit(conn, session.visit_id)
            if visit is None:
                raise NotFound("no such visit")
            if visit.status in TERMINAL_STATES:
                raise Conflict(f"this visit is {visit.status.value.replace('_', ' ')}")
            await self._insert_consent(
                conn,
                visit,
                identity=session.identity,
                method=METHOD_SELF,
                recorded_by=session.actor,
                text_version=text_version or self._settings.recording.consent_text_version,
                session_id=session.session_id,
            )
            return [
                c for c in await consents_for(conn, visit.id) if c["identity"] == session.identity
            ]

    # -- start and stop --------------------------------------------------------------------------

    async def state(
        self, principal: Principal, visit_id: str, *, justification: str | None = None
    ) -> dict[str, Any]:
        """The visit's latest recording (or null) and every consent record."""
        async with self._engine.connect() as conn:
            visit = await visible_visit(conn, principal, visit_id)
            snap = await latest_for_visit(conn, visit_id)
            state = {
                "recording": snap.to_json() if snap else None,
                "consents": await consents_for(conn, visit_id),
            }
        await consulted_polled(
            self._engine,
            principal,
            subject="recording.state",
            visit_id=visit_id,
            owner=visit.officer_id,
            justification=justification,
        )
        return state

    async def _missing_consent(self, conn: AsyncConnection, visit: Visit) -> list[str]:
        consented = await _standing_consents(conn, visit.id)
        needed = {identity_for(TokenRole.VICTIM, visit.id)}
        assert visit.room_name is not None
        in_room = await self._sfu.participants(visit.room_name) or []
        for p in in_room:
            role = role_of_identity(p.identity)
            if role not in (TokenRole.OFFICER, TokenRole.RECORDER):
                needed.add(p.identity)
        return sorted(needed - consented)

    async def start(self, principal: Principal, visit_id: str) -> dict[str, Any]:
        """Flag the room as recording, then queue the job for a recorder."""
        async with self._engine.connect() as conn:
            visit = await visible_visit(conn, principal, visit_id)
            if visit.status not in ROOM_STATES or visit.room_name is None:
                raise Conflict(
                    f"visit is {visit.status.value}; recording needs a live or waiting visit",
                    details={"status": visit.status.value},
                )
            current = await latest_for_visit(conn, visit_id)
            if current is not None and current.status in ACTIVE_STATUSES:
                raise Conflict(
                    "a statement is already being recorded in this visit; stop it first",
                    details={"recording": current.to_json()},
                )
            missing = await self._missing_consent(conn, visit)
        if missing:
            raise Conflict(
                "recording needs the consent of: " + ", ".join(missing),
                details={"missing_consent": missing},
            )
        # Everyone is told before anything is recorded: the job row only exists afterwards.
        await self._sfu.set_recording_flag(visit.room_name, visit_id=visit.id, recording=True)
        recording_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        rs = self._settings.recording
        async with self._engine.begin() as conn:
            await self._insert_consent(
                conn,
                visit,
                identity=identity_for(TokenRole.OFFICER, principal.officer_id),
                method=METHOD_INITIATED,
                recorded_by=principal.actor,
                text_version=rs.consent_text_version,
            )
            await conn.execute(
                insert(schema.recordings).values(
                    id=recording_id,
                    visit_id=visit.id,
                    status=RecordingStatus.REQUESTED.value,
                    requested_by=principal.actor,
                    requested_at=now,
                    start_timeout=rs.start_timeout,
                    stale_after=rs.stale_after,
                    attempts=0,
                    participants=[],
                    gaps=[],
                    # The recorder continues this request's trace (telemetry.RecordingSpans).
                    traceparent=current_traceparent(),
                )
            )
            await append_event(
                conn, visit.id, "recording_requested", principal.actor, {"recording": recording_id}
            )
            await audit.record(
                conn,
                actor=principal.actor,
                action=AuditAction.COLLECTION,
                subject="recording",
                visit_id=visit.id,
                detail={"recording": recording_id},
            )
        log.info(
            "statement recording requested",
            extra={"visit_id": visit.id, "recording_id": recording_id, "actor": principal.actor},
        )
        return await self.state(principal, visit_id)

    async def stop(self, principal: Principal, visit_id: str) -> dict[str, Any]:
        """Ask the recorder to finish and seal; the room stops showing "recording"."""
        r = schema.recordings
        async with self._engine.begin() as conn:
            visit = await visible_visit(conn, principal, visit_id)
            current = await latest_for_visit(conn, visit_id)
            if current is None or current.status not in ACTIVE_STATUSES:
                raise Conflict("no statement is being recorded in this visit")
            if current.status in (RecordingStatus.REQUESTED, RecordingStatus.RECORDING):
                await conn.execute(
                    update(r)
                    .where(r.c.id == current.row["id"], r.c.status == current.status.value)
                    .values(
                        status=RecordingStatus.STOPPING.value,
                        stop_requested_by=principal.actor,
                        stop_requested_at=datetime.now(UTC),
                    )
                )
                await append_event(
                    conn,
                    visit.id,
                    "recording_stop_requested",
                    principal.actor,
                    {"recording": current.row["id"]},
                )
        if visit.room_name and visit.status in ROOM_STATES:
            try:
                await self._sfu.set_recording_flag(
                    visit.room_name, visit_id=visit.id, recording=False
                )
            except DependencyUnavailable as exc:
                log.warning("could not clear the room's recording flag", extra={"error": str(exc)})
        return await self.state(principal, visit_id)
