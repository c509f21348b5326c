"""Statement recording, as the control plane sees it: consent, start/stop, evidence access.

The control plane never touches media. Starting a recording (1) checks consent, (2) flags the
LiveKit room so every participant's page shows that recording is on, then (3) writes a job
row that a recorder worker (`recorder.worker`) claims. Stopping marks the job `stopping`;
the worker seals. Viewing and exporting sealed evidence need rights and a justification, and
each one is written to the custody chain and the DPA s.62 audit log.

Consent rules (documented in evidence/README.md): before a start, the victim
(`victim:<visit id>`) and every other non-officer participant in the room must have a
consent record. A participant gives it on their own page (method "self"), or the officer
records a participant's spoken consent on their behalf (method "verbal", with the officer
as `recorded_by`). The officer who starts the recording is recorded as consenting
(method "initiated"). The manifest carries every record.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from control_plane.auth import Principal, can_see
from control_plane.errors import (
    BadRequest,
    Conflict,
    DependencyUnavailable,
    Forbidden,
    NotFound,
    ValidationFailed,
)
from control_plane.joining import ParticipantSession
from control_plane.sfu import Sfu
from control_plane.visits import Visit, append_event, load_visit
from core import audit, schema
from core.custody import CustodyEvent
from core.custody_db import DbCustodyLog
from core.domain import ROOM_STATES, TERMINAL_STATES, AuditAction, OfficerRole, TokenRole
from core.evidence_errors import (
    AuthorisationError,
    EvidenceError,
    IntegrityError,
    JustificationRequiredError,
    ObjectExistsError,
    RetentionError,
)
from core.recording_status import ACTIVE_STATUSES, RecordingStatus, latest_for_visit, snapshot
from core.settings import Settings
from core.telemetry import current_traceparent
from core.tokens import identity_for, role_of_identity
from evidence.export import export_bundle
from evidence.store import MANIFEST_NAME, MASTERS_DIR, EvidenceStore
from evidence.writer import SEGMENT_PATTERN

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


def _evidence_error(exc: EvidenceError) -> Exception:
    """Map the recording package's errors onto API errors."""
    if isinstance(exc, JustificationRequiredError):
        return ValidationFailed(str(exc))
    if isinstance(exc, AuthorisationError):
        return Forbidden(str(exc))
    if isinstance(exc, IntegrityError):
        return Conflict(f"evidence failed verification at {exc.where}: {exc.message}")
    if isinstance(exc, RetentionError | ObjectExistsError):
        return Conflict(str(exc))
    return Conflict(str(exc))


@dataclass(frozen=True)
class Export:
    bundle: Path
    files: list[str]
    custody_seq: int


class RecordingService:
    def __init__(
        self,
        engine: AsyncEngine,
        sfu: Sfu,
        settings: Settings,
        custody: DbCustodyLog,
        store: EvidenceStore,
    ) -> None:
        self._engine = engine
        self._sfu = sfu
        self._settings = settings
        self.custody = custody
        self.store = store
        self._reported: dict[str, str] = {}

    # -- visits and consent --------------------------------------------------------------------

    async def _visible(self, conn: AsyncConnection, principal: Principal, visit_id: str) -> Visit:
        visit = await load_visit(conn, visit_id)
        if visit is None or not can_see(principal, officer_id=visit.officer_id, unit=visit.unit):
            raise NotFound(f"no visit {visit_id}")
        return visit

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
            visit = await self._visible(conn, principal, visit_id)
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
            )
            return [
                c for c in await consents_for(conn, visit.id) if c["identity"] == session.identity
            ]

    # -- start and stop --------------------------------------------------------------------------

    async def state(self, principal: Principal, visit_id: str) -> dict[str, Any]:
        """The visit's latest recording (or null) and every consent record."""
        async with self._engine.connect() as conn:
            await self._visible(conn, principal, visit_id)
            snap = await latest_for_visit(conn, visit_id)
            return {
                "recording": snap.to_json() if snap else None,
                "consents": await consents_for(conn, visit_id),
            }

    async def _missing_consent(self, conn: AsyncConnection, visit: Visit) -> list[str]:
        consented = {c["identity"] for c in await consents_for(conn, visit.id)}
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
            visit = await self._visible(conn, principal, visit_id)
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
            visit = await self._visible(conn, principal, visit_id)
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

    # -- evidence access -------------------------------------------------------------------------

    async def _evidence(
        self, conn: AsyncConnection, principal: Principal, evidence_id: str
    ) -> dict[str, Any]:
        r = schema.recordings
        row = (await conn.execute(select(r).where(r.c.id == evidence_id))).mappings().first()
        visit = await load_visit(conn, row["visit_id"]) if row is not None else None
        allowed = visit is not None and (
            principal.role is OfficerRole.EVIDENCE_MANAGER
            or can_see(principal, officer_id=visit.officer_id, unit=visit.unit)
        )
        # Evidence the caller has no right to is reported as absent, like visits.
        if row is None or not allowed:
            raise NotFound(f"no evidence {evidence_id}")
        if row["status"] != RecordingStatus.SEALED.value:
            raise Conflict(f"evidence {evidence_id} is {row['status']}, not sealed yet")
        return dict(row)

    @staticmethod
    def _justified(justification: str | None, what: str) -> str:
        if justification is None or not justification.strip():
            raise BadRequest(
                f"{what} evidence requires a justification "
                "(X-Justification header, or 'justification' in the body)"
            )
        return justification.strip()

    async def _log_view(
        self, principal: Principal, row: dict[str, Any], reason: str, details: dict[str, Any]
    ) -> int:
        async with self._engine.begin() as conn:
            entry = await self.custody.append_async(
                evidence_id=row["id"],
                event=CustodyEvent.VIEWED,
                actor=principal.actor,
                reason=reason,
                details=details,
                conn=conn,
            )
            await audit.record(
                conn,
                actor=principal.actor,
                action=AuditAction.CONSULTATION,
                subject="evidence",
                visit_id=row["visit_id"],
                justification=reason,
                detail={"evidence_id": row["id"], "custody_seq": entry.seq, **details},
            )
        return entry.seq

    async def view(
        self, principal: Principal, evidence_id: str, justification: str | None
    ) -> dict[str, Any]:
        """Metadata of sealed evidence (manifest, retention, custody); logged as a view."""
        reason = self._justified(justification, "viewing")
        async with self._engine.connect() as conn:
            row = await self._evidence(conn, principal, evidence_id)
        await self._log_view(principal, row, reason, {"what": "metadata"})
        try:
            directory = await asyncio.to_thread(self.store.directory_of, evidence_id)
            manifest = json.loads((directory / MANIFEST_NAME).read_bytes())
            retention = await asyncio.to_thread(self.store.retention, evidence_id)
        except (OSError, ValueError, EvidenceError) as exc:
            raise Conflict(f"evidence {evidence_id} cannot be read from the store: {exc}") from exc
        entries = await self.custody.entries_for_async(evidence_id)
        return {
            "evidence_id": evidence_id,
            "visit_id": row["visit_id"],
            "sealed_at": row["sealed_at"].isoformat() if row["sealed_at"] else None,
            "manifest_sha256": row["manifest_sha256"],
            "key_id": row["key_id"],
            "manifest": manifest,
            "retention": {
                "review_date": retention.review_date.isoformat() if retention.review_date else None,
                "legal_hold": retention.legal_hold,
            },
            "custody": [e.to_json() for e in entries],
        }

    async def segment(
        self, principal: Principal, evidence_id: str, name: str, justification: str | None
    ) -> Path:
        """A master segment's path, for playback; logged as a view of that segment."""
        reason = self._justified(justification, "viewing")
        if not SEGMENT_PATTERN.match(name):
            raise BadRequest(f"{name!r} is not a segment name (segment-NNNNN.mp4)")
        async with self._engine.connect() as conn:
            row = await self._evidence(conn, principal, evidence_id)
        directory = await asyncio.to_thread(self.store.directory_of, evidence_id)
        path = directory / MASTERS_DIR / name
        if not path.is_file():
            raise NotFound(f"evidence {evidence_id} has no segment {name}")
        await self._log_view(principal, row, reason, {"what": "segment", "segment": name})
        return path

    async def export(
        self,
        principal: Principal,
        evidence_id: str,
        *,
        justification: str,
        recipient: str,
    ) -> Export:
        """Verify, then write a disclosure bundle; logged in custody and as a disclosure."""
        reason = self._justified(justification, "exporting")
        async with self._engine.connect() as conn:
            row = await self._evidence(conn, principal, evidence_id)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        destination = self._settings.recording.export_dir / f"{evidence_id}-{stamp}"
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            bundle = await asyncio.to_thread(
                export_bundle,
                self.store,
                evidence_id,
                destination,
                actor=principal.actor,
                justification=reason,
                recipient=recipient,
            )
        except EvidenceError as exc:
            raise _evidence_error(exc) from exc
        entries = await self.custody.entries_for_async(evidence_id)
        exported = [e for e in entries if e.event is CustodyEvent.EXPORTED][-1]
        async with self._engine.begin() as conn:
            await audit.record(
                conn,
                actor=principal.actor,
                action=AuditAction.DISCLOSURE,
                subject="evidence",
                visit_id=row["visit_id"],
                justification=reason,
                recipients=recipient,
                detail={
                    "evidence_id": evidence_id,
                    "bundle": bundle.name,
                    "custody_seq": exported.seq,
                },
            )
        files = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
        return Export(bundle=bundle, files=files, custody_seq=exported.seq)

    # -- retention ------------------------------------------------------------------------------

    async def _retention_allowed(self, principal: Principal, evidence_id: str) -> dict[str, Any]:
        async with self._engine.connect() as conn:
            row = await self._evidence(conn, principal, evidence_id)
        if principal.role not in (OfficerRole.SUPERVISOR, OfficerRole.EVIDENCE_MANAGER):
            raise Forbidden("retention decisions need a supervisor or an evidence manager")
        return row

    async def _retention_audit(
        self, principal: Principal, row: dict[str, Any], reason: str, detail: dict[str, Any]
    ) -> None:
        async with self._engine.begin() as conn:
            await audit.record(
                conn,
                actor=principal.actor,
                action=AuditAction.ALTERATION,
                subject="evidence.retention",
                visit_id=row["visit_id"],
                justification=reason,
                detail={"evidence_id": row["id"], **detail},
            )

    async def set_review_date(
        self, principal: Principal, evidence_id: str, *, review_date: date, reason: str
    ) -> dict[str, Any]:
        row = await self._retention_allowed(principal, evidence_id)
        try:
            await asyncio.to_thread(
                self.store.set_review_date,
                evidence_id,
                review_date,
                actor=principal.actor,
                reason=reason,
            )
        except EvidenceError as exc:
            raise _evidence_error(exc) from exc
        await self._retention_audit(
            principal, row, reason, {"review_date": review_date.isoformat()}
        )
        return await self.view(principal, evidence_id, f"retention decision: {reason}")

    async def set_legal_hold(
        self, principal: Principal, evidence_id: str, *, hold: bool, reason: str
    ) -> dict[str, Any]:
        row = await self._retention_allowed(principal, evidence_id)
        try:
            await asyncio.to_thread(
                self.store.set_legal_hold, evidence_id, hold, actor=principal.actor, reason=reason
            )
        except EvidenceError as exc:
            raise _evidence_error(exc) from exc
        await self._retention_audit(principal, row, reason, {"legal_hold": hold})
        return await self.view(principal, evidence_id, f"legal hold decision: {reason}")

    async def delete(self, principal: Principal, evidence_id: str, *, reason: str) -> int:
        """Delete the masters (custody kept); only the roles the store allows, with a reason."""
        async with self._engine.connect() as conn:
            row = await self._evidence(conn, principal, evidence_id)
        try:
            entry = await asyncio.to_thread(
                self.store.delete,
                evidence_id,
                actor=principal.actor,
                role=principal.role.value,
                reason=reason,
            )
        except EvidenceError as exc:
            raise _evidence_error(exc) from exc
        async with self._engine.begin() as conn:
            await audit.record(
                conn,
                actor=principal.actor,
                action=AuditAction.ERASURE,
                subject="evidence",
                visit_id=row["visit_id"],
                justification=reason,
                detail={"evidence_id": evidence_id, "custody_seq": entry.seq},
            )
        return entry.seq

    # -- the control plane's own watch on recorders ----------------------------------------------

    async def check_once(self) -> list[tuple[str, str]]:
        """Log each active recording that has newly become not secured; return all problems."""
        r = schema.recordings
        async with self._engine.connect() as conn:
            rows = (
                (
                    await conn.execute(
                        select(r.c.id).where(r.c.status.in_([s.value for s in ACTIVE_STATUSES]))
                    )
                )
                .scalars()
                .all()
            )
            snaps = [s for s in [await snapshot(conn, i) for i in rows] if s is not None]
        problems: list[tuple[str, str]] = []
        for snap in snaps:
            _, problem = snap.judge()
            rid = str(snap.row["id"])
            if problem is None:
                self._reported.pop(rid, None)
                continue
            problems.append((rid, problem))
            kind = re.sub(r"\d+", "N", problem)  # "...after 12 s" and "...after 13 s" are one
            if self._reported.get(rid) == kind:
                continue
            self._reported[rid] = kind
            log.error(
                "statement recording not secured",
                extra={
                    "visit_id": snap.row["visit_id"],
                    "recording_id": rid,
                    "problem": problem,
                    "status": snap.row["status"],
                },
            )
            async with self._engine.begin() as conn:
                await append_event(
                    conn,
                    snap.row["visit_id"],
                    "recording_not_secured",
                    "system:control-plane",
                    {"recording": rid, "problem": problem},
                )
        return problems

    async def watch(self, interval: float) -> None:
        """Run :meth:`check_once` forever; failures are logged and retried."""
        while True:
            try:
                await self.check_once()
            except Exception:
                log.exception("recording watch failed")
            await asyncio.sleep(interval)


async def stop_task(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
