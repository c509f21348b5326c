"""Viewing a sealed exhibit (its manifest, custody and file), justified and logged.

The same rule as recordings (`control_plane.visibility.can_see_evidence`): the visit's
officer, their unit's supervisor, and evidence managers; anyone else is told it does not
exist. Each view is a custody `viewed` entry and a DPA s.62 `consultation`, in one
transaction.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from control_plane.auth import Principal
from control_plane.errors import BadRequest, Conflict, NotFound
from control_plane.exhibits.sealing import exhibit_json
from control_plane.visibility import can_see_evidence
from control_plane.visit_records import load_visit
from core import audit, schema
from core.custody import CustodyEvent
from core.custody_db import DbCustodyLog
from core.domain import AuditAction
from core.evidence_errors import EvidenceError, IntegrityError
from core.recording_status import RecordingStatus
from evidence.store import MANIFEST_NAME, MASTERS_DIR, EvidenceStore
from evidence.visit_bundle import export_visit_bundle


class ExhibitAccess:
    def __init__(
        self,
        engine: AsyncEngine,
        custody: DbCustodyLog,
        store: EvidenceStore,
        *,
        export_dir: Path,
        signing_key: Ed25519PrivateKey,
        trusted_key_ids: frozenset[str],
    ) -> None:
        self._engine = engine
        self._custody = custody
        self._store = store
        self._export_dir = export_dir
        self._key = signing_key
        self._trusted = trusted_key_ids

    async def _exhibit(self, principal: Principal, evidence_id: str) -> dict[str, Any]:
        e = schema.exhibits
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(e).where(e.c.id == evidence_id))).mappings().first()
            visit = await load_visit(conn, row["visit_id"]) if row is not None else None
        if (
            row is None
            or visit is None
            or not can_see_evidence(principal, officer_id=visit.officer_id, unit=visit.unit)
        ):
            raise NotFound(f"no exhibit {evidence_id}")
        return dict(row)

    async def _log(
        self, principal: Principal, row: dict[str, Any], reason: str | None, what: str
    ) -> None:
        if reason is None or not reason.strip():
            raise BadRequest("viewing evidence requires a justification (X-Justification header)")
        async with self._engine.begin() as conn:
            entry = await self._custody.append_async(
                evidence_id=row["id"],
                event=CustodyEvent.VIEWED,
                actor=principal.actor,
                reason=reason.strip(),
                details={"what": what},
                conn=conn,
            )
            await audit.record(
                conn,
                actor=principal.actor,
                action=AuditAction.CONSULTATION,
                subject="evidence",
                visit_id=row["visit_id"],
                justification=reason.strip(),
                detail={"evidence_id": row["id"], "custody_seq": entry.seq, "what": what},
            )

    async def view(
        self, principal: Principal, evidence_id: str, justification: str | None
    ) -> dict[str, Any]:
        """The exhibit's index entry, its signed manifest, exhibit.json and custody."""
        row = await self._exhibit(principal, evidence_id)
        await self._log(principal, row, justification, "metadata")
        try:
            directory = await asyncio.to_thread(self._store.directory_of, evidence_id)
            manifest = json.loads((directory / MANIFEST_NAME).read_bytes())
            described = json.loads((directory / MASTERS_DIR / "exhibit.json").read_bytes())
        except (OSError, ValueError, EvidenceError) as exc:
            raise Conflict(f"exhibit {evidence_id} cannot be read from the store: {exc}") from exc
        entries = await self._custody.entries_for_async(evidence_id)
        return {
            "exhibit": exhibit_json(row),
            "manifest": manifest,
            "description": described,
            "custody": [e.to_json() for e in entries],
        }

    async def file(
        self, principal: Principal, evidence_id: str, justification: str | None
    ) -> tuple[Path, str]:
        """The exhibit's own file (PDF, still or upload) and its media type; logged."""
        row = await self._exhibit(principal, evidence_id)
        await self._log(principal, row, justification, row["file_name"])
        directory = await asyncio.to_thread(self._store.directory_of, evidence_id)
        path = directory / MASTERS_DIR / row["file_name"]
        if not path.is_file():
            raise Conflict(f"exhibit {evidence_id} has no {row['file_name']} in the store")
        return path, row["media_type"]

    async def export_visit(
        self, principal: Principal, visit_id: str, *, justification: str, recipient: str
    ) -> dict[str, Any]:
        """One disclosure bundle of every sealed item of the visit (recordings and exhibits),
        each verified and logged as exported, and a DPA s.62 disclosure."""
        r, e = schema.recordings, schema.exhibits
        async with self._engine.connect() as conn:
            visit = await load_visit(conn, visit_id)
            if visit is None or not can_see_evidence(
                principal, officer_id=visit.officer_id, unit=visit.unit
            ):
                raise NotFound(f"no visit {visit_id}")
            recordings = await conn.execute(
                select(r.c.id)
                .where(r.c.visit_id == visit.id, r.c.status == RecordingStatus.SEALED.value)
                .order_by(r.c.requested_at)
            )
            items = [(row.id, "recording") for row in recordings]
            exhibits = await conn.execute(
                select(e.c.id, e.c.kind).where(e.c.visit_id == visit.id).order_by(e.c.created_at)
            )
            items += [(row.id, row.kind) for row in exhibits]
        if not items:
            raise Conflict("this visit has no sealed evidence to export yet")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        destination = self._export_dir / f"visit-{visit.id}-{stamp}"
        try:
            bundle = await asyncio.to_thread(
                export_visit_bundle,
                self._store,
                items,
                destination,
                visit_id=visit.id,
                actor=principal.actor,
                justification=justification,
                recipient=recipient,
                signing_key=self._key,
                trusted_key_ids=self._trusted,
            )
        except IntegrityError as exc:
            raise Conflict(f"evidence failed verification at {exc.where}: {exc.message}") from exc
        except EvidenceError as exc:
            raise Conflict(str(exc)) from exc
        async with self._engine.begin() as conn:
            await audit.record(
                conn,
                actor=principal.actor,
                action=AuditAction.DISCLOSURE,
                subject="evidence",
                visit_id=visit.id,
                justification=justification,
                recipients=recipient,
                detail={"bundle": bundle.name, "items": [i for i, _ in items]},
            )
        return {
            "bundle": str(bundle),
            "items": [{"evidence_id": i, "kind": k} for i, k in items],
        }
