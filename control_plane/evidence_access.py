"""Access to sealed evidence: viewing, playback, export, and retention decisions.

Each needs the right to see the visit's evidence (`control_plane.visibility`) and a
justification, and each is written to the custody chain and the DPA s.62 audit log. The
retention rules themselves belong to the evidence store (`evidence.retention`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from control_plane.auth import Principal
from control_plane.errors import BadRequest, Conflict, Forbidden, NotFound, ValidationFailed
from control_plane.exhibits.sealing import exhibit_json
from control_plane.visibility import can_see_evidence
from control_plane.visit_records import load_visit
from core import audit, schema
from core.custody import CustodyEvent
from core.custody_db import DbCustodyLog
from core.domain import AuditAction, OfficerRole
from core.evidence_errors import (
    AuthorisationError,
    EvidenceError,
    IntegrityError,
    JustificationRequiredError,
    ObjectExistsError,
    RetentionError,
)
from core.recording_status import RecordingStatus
from core.settings import Settings
from evidence.export import export_bundle
from evidence.keys import load_or_create_signing_key, trusted_fingerprints
from evidence.retention import RetentionAction
from evidence.store import MANIFEST_NAME, MASTERS_DIR, EvidenceStore
from evidence.writer import SEGMENT_PATTERN

log = logging.getLogger(__name__)


def evidence_error(exc: EvidenceError) -> Exception:
    """Map the evidence library's errors onto API errors."""
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


class EvidenceAccess:
    """Justified, logged access to the sealed evidence in ``store``."""

    def __init__(
        self, engine: AsyncEngine, settings: Settings, custody: DbCustodyLog, store: EvidenceStore
    ) -> None:
        self._engine = engine
        self._settings = settings
        self.custody = custody
        self.store = store

    async def _evidence(
        self, conn: AsyncConnection, principal: Principal, evidence_id: str
    ) -> dict[str, Any]:
        r = schema.recordings
        row = (await conn.execute(select(r).where(r.c.id == evidence_id))).mappings().first()
        visit = await load_visit(conn, row["visit_id"]) if row is not None else None
        allowed = visit is not None and can_see_evidence(
            principal, officer_id=visit.officer_id, unit=visit.unit
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
        """Metadata of sealed evidence (manifest, retention, custody) and the visit's sealed
        exhibits; logged as a view (naming the exhibits listed)."""
        reason = self._justified(justification, "viewing")
        async with self._engine.connect() as conn:
            row = await self._evidence(conn, principal, evidence_id)
            # The visit's statements, stills and uploads: whoever may see this recording may
            # see them (the same rule, control_plane.visibility.can_see_evidence).
            e = schema.exhibits
            listed = await conn.execute(
                select(e).where(e.c.visit_id == row["visit_id"]).order_by(e.c.created_at)
            )
            exhibits = [exhibit_json(x) for x in listed.mappings()]
        await self._log_view(
            principal,
            row,
            reason,
            {"what": "metadata", "exhibits": [x["evidence_id"] for x in exhibits]},
        )
        try:
            directory = await asyncio.to_thread(self.store.directory_of, evidence_id)
            manifest = json.loads((directory / MANIFEST_NAME).read_bytes())
            retention = await asyncio.to_thread(self.store.retention, evidence_id)
        except (OSError, ValueError, EvidenceError) as exc:
            # The reason goes to the log only: it may name server paths.
            log.exception(
                "evidence cannot be read from the store",
                extra={"evidence_id": evidence_id, "error": type(exc).__name__},
            )
            raise Conflict(f"evidence {evidence_id} cannot be read from the store") from exc
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
                "category": retention.category,
                "pending": [
                    {
                        "action": r.action.value,
                        "requested_by": r.actor,
                        "reason": r.reason,
                        "custody_seq": r.seq,
                    }
                    for r in retention.pending
                ],
            },
            "custody": [e.to_json() for e in entries],
            "exhibits": exhibits,
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
        rs = self._settings.recording
        if principal.role.value not in rs.export_roles:
            raise Forbidden(
                f"disclosing evidence needs one of the roles {', '.join(rs.export_roles)}"
            )
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        destination = rs.export_dir / f"{evidence_id}-{stamp}"
        try:
            key = await asyncio.to_thread(load_or_create_signing_key, rs.signing_key)
            trusted = await asyncio.to_thread(
                trusted_fingerprints, rs.trusted_key_fingerprints, rs.signing_key
            )
            bundle = await asyncio.to_thread(
                export_bundle,
                self.store,
                evidence_id,
                destination,
                actor=principal.actor,
                justification=reason,
                recipient=recipient,
                signing_key=key,
                trusted_key_ids=trusted,
            )
        except EvidenceError as exc:
            raise evidence_error(exc) from exc
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
        self,
        principal: Principal,
        evidence_id: str,
        *,
        review_date: date,
        category: str,
        reason: str,
    ) -> dict[str, Any]:
        row = await self._retention_allowed(principal, evidence_id)
        minimums = self._settings.recording.review_minimum_years
        if category not in minimums:
            raise ValidationFailed(
                f"category must be one of {', '.join(sorted(minimums))} (MoPI), not {category!r}"
            )
        try:
            await asyncio.to_thread(
                self.store.set_review_date,
                evidence_id,
                review_date,
                category=category,
                actor=principal.actor,
                reason=reason,
            )
        except EvidenceError as exc:
            raise evidence_error(exc) from exc
        await self._retention_audit(
            principal,
            row,
            reason,
            {"review_date": review_date.isoformat(), "category": category},
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
            raise evidence_error(exc) from exc
        await self._retention_audit(principal, row, reason, {"legal_hold": hold})
        return await self.view(principal, evidence_id, f"legal hold decision: {reason}")

    async def request(
        self, principal: Principal, evidence_id: str, *, action: RetentionAction, reason: str
    ) -> dict[str, Any]:
        """Ask for a hold to be lifted or the item deleted; another person approves by doing
        it (``PUT .../legal-hold`` with ``hold: false``, ``POST .../delete``)."""
        row = await self._retention_allowed(principal, evidence_id)
        try:
            entry = await asyncio.to_thread(
                self.store.request,
                evidence_id,
                action,
                actor=principal.actor,
                role=principal.role.value,
                reason=reason,
            )
        except EvidenceError as exc:
            raise evidence_error(exc) from exc
        await self._retention_audit(
            principal, row, reason, {"requested": action.value, "custody_seq": entry.seq}
        )
        return {"action": action.value, "requested_by": entry.actor, "custody_seq": entry.seq}

    async def delete(self, principal: Principal, evidence_id: str, *, reason: str) -> int:
        """Delete the masters (custody kept): the roles the store allows, with a reason,
        approving another person's request."""
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
            raise evidence_error(exc) from exc
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
