"""The written witness statement (MG11): drafted by the officer, read and signed on the phone.

Life of a statement: the officer creates a draft (`draft`), types it with autosave (each save
carries the revision it was based on, so two tabs cannot overwrite each other), and shows it
to the witness (`shared_at`). The witness reads it, may ask for corrections (the officer sees
each request), and signs a given revision: the MG11 declaration, their typed name and a drawn
signature. Signing is refused if the text changed since the witness's copy. The row is
claimed (`signing`) before the slow part, so a save racing the signature loses; it becomes
`signed` once the exhibit is sealed, and never changes again. A correction after signing is
a further statement that `supersedes` the signed one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from control_plane.auth import Principal
from control_plane.errors import Conflict, NotFound, ValidationFailed
from control_plane.exhibits.content import PNG, ContentError, sniff
from control_plane.exhibits.sealing import ExhibitSealer, PrimaryFile, index_exhibit
from control_plane.joining import ParticipantSession
from control_plane.visibility import visible_visit
from control_plane.visit_records import Visit, append_event, load_visit
from core import audit, schema
from core.canonical import JsonValue, sha256_hex
from core.domain import AuditAction
from core.exhibit_settings import ExhibitSettings
from core.recording_status import latest_for_visit
from evidence.exhibit import ExhibitFile, ExhibitKind, write_hashed
from evidence.manifest import Participant
from evidence.pdfa import StatementDocument, declaration_text, render_statement_pdf


class StatementStatus(StrEnum):
    DRAFT = "draft"
    SIGNING = "signing"
    SIGNED = "signed"


PDF_NAME, TEXT_NAME, SIGNATURE_NAME = "statement.pdf", "statement.txt", "signature.png"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _correction_json(row: Any) -> dict[str, Any]:
    return {
        "identity": row["identity"],
        "at": row["at"].isoformat(),
        "revision": row["revision"],
        "request": row["request"],
    }


def statement_json(row: Any, corrections: list[dict[str, Any]]) -> dict[str, Any]:
    """A statement as both the console and the phone see it."""
    return {
        "id": row["id"],
        "visit_id": row["visit_id"],
        "number": row["number"],
        "supersedes": row["supersedes"],
        "language": row["language"],
        "text": row["text"],
        "revision": row["revision"],
        "status": row["status"],
        "shared": row["shared_at"] is not None,
        "updated_at": row["updated_at"].isoformat(),
        "signed_at": _iso(row["signed_at"]),
        "signed_name": row["signed_name"],
        "text_sha256": row["text_sha256"],
        "evidence_id": row["evidence_id"],
        "declaration": declaration_text(),
        "corrections": corrections,
    }


async def _corrections(conn: AsyncConnection, statement_id: str) -> list[dict[str, Any]]:
    c = schema.statement_corrections
    rows = await conn.execute(select(c).where(c.c.statement_id == statement_id).order_by(c.c.id))
    return [_correction_json(r) for r in rows.mappings()]


async def _row(conn: AsyncConnection, visit_id: str, statement_id: str) -> dict[str, Any]:
    s = schema.statements
    row = (
        (await conn.execute(select(s).where(s.c.id == statement_id, s.c.visit_id == visit_id)))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no statement {statement_id} on this visit")
    return dict(row)


class Statements:
    """Drafting, reading, correcting and signing statements; see the module docstring."""

    def __init__(
        self, engine: AsyncEngine, settings: ExhibitSettings, sealer: ExhibitSealer
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._sealer = sealer

    async def _json(self, conn: AsyncConnection, row: Any) -> dict[str, Any]:
        return statement_json(row, await _corrections(conn, row["id"]))

    # -- the officer ---------------------------------------------------------------------------

    async def create(
        self, principal: Principal, visit_id: str, *, language: str, supersedes: str | None
    ) -> dict[str, Any]:
        """A new draft (number n+1); a correction starts from the signed text it replaces."""
        s = schema.statements
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            visit = await visible_visit(conn, principal, visit_id)
            text = ""
            if supersedes is not None:
                old = await _row(conn, visit.id, supersedes)
                if old["status"] != StatementStatus.SIGNED:
                    raise Conflict("only a signed statement is corrected by a further statement")
                text = old["text"]
            number = (
                await conn.execute(
                    select(func.coalesce(func.max(s.c.number), 0)).where(s.c.visit_id == visit.id)
                )
            ).scalar_one() + 1
            row = {
                "id": str(uuid.uuid4()),
                "visit_id": visit.id,
                "number": number,
                "supersedes": supersedes,
                "language": language,
                "text": text,
                "revision": 0,
                "status": StatementStatus.DRAFT.value,
                "created_by": principal.actor,
                "created_at": now,
                "updated_at": now,
                "shared_at": None,
                "signed_at": None,
                "signed_name": None,
                "signed_session_id": None,
                "text_sha256": None,
                "evidence_id": None,
            }
            await conn.execute(insert(s).values(**row))
            await audit.record(
                conn,
                actor=principal.actor,
                action=AuditAction.COLLECTION,
                subject="statement",
                visit_id=visit.id,
                detail={"statement_id": row["id"], "number": number, "supersedes": supersedes},
            )
            return await self._json(conn, row)

    async def list(self, principal: Principal, visit_id: str) -> list[dict[str, Any]]:
        s = schema.statements
        async with self._engine.connect() as conn:
            visit = await visible_visit(conn, principal, visit_id)
            rows = await conn.execute(
                select(s).where(s.c.visit_id == visit.id).order_by(s.c.number)
            )
            return [await self._json(conn, r) for r in rows.mappings().all()]

    async def save(
        self,
        principal: Principal,
        visit_id: str,
        statement_id: str,
        *,
        text: str,
        revision: int,
        share: bool,
    ) -> dict[str, Any]:
        """Autosave: replace the text if ``revision`` is still current; returns the new row."""
        if len(text) > self._settings.max_statement_chars:
            raise ValidationFailed(
                f"a statement is at most {self._settings.max_statement_chars} characters"
            )
        s = schema.statements
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            visit = await visible_visit(conn, principal, visit_id)
            row = await _row(conn, visit.id, statement_id)
            if row["status"] != StatementStatus.DRAFT:
                raise Conflict(
                    f"statement {row['number']} is {row['status']} and cannot change;"
                    " start a further statement to correct it"
                )
            values: dict[str, Any] = {"text": text, "revision": revision + 1, "updated_at": now}
            if share and row["shared_at"] is None:
                values["shared_at"] = now
            done = await conn.execute(
                update(s)
                .where(
                    s.c.id == statement_id,
                    s.c.revision == revision,
                    s.c.status == StatementStatus.DRAFT.value,
                )
                .values(**values)
            )
            if done.rowcount != 1:
                raise Conflict(
                    "the statement was changed elsewhere since revision"
                    f" {revision}; reload it before saving",
                    details={"revision": row["revision"]},
                )
            return await self._json(conn, {**row, **values})

    # -- the witness on the phone --------------------------------------------------------------

    async def for_witness(self, session: ParticipantSession) -> dict[str, Any] | None:
        """The latest statement shown to the witness (draft or signed), or None."""
        s = schema.statements
        async with self._engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(s)
                        .where(s.c.visit_id == session.visit_id, s.c.shared_at.is_not(None))
                        .order_by(s.c.number.desc())
                        .limit(1)
                    )
                )
                .mappings()
                .first()
            )
            return await self._json(conn, row) if row is not None else None

    async def _shared(
        self, conn: AsyncConnection, session: ParticipantSession, statement_id: str
    ) -> dict[str, Any]:
        row = await _row(conn, session.visit_id, statement_id)
        if row["shared_at"] is None:
            raise NotFound(f"no statement {statement_id} on this visit")
        return row

    async def request_correction(
        self, session: ParticipantSession, statement_id: str, *, request: str, revision: int
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            row = await self._shared(conn, session, statement_id)
            if row["status"] != StatementStatus.DRAFT:
                raise Conflict("this statement is already signed; tell the officer what to change")
            await conn.execute(
                insert(schema.statement_corrections).values(
                    statement_id=statement_id,
                    identity=session.identity,
                    at=now,
                    revision=revision,
                    request=request,
                )
            )
            await append_event(
                conn,
                session.visit_id,
                "statement_correction_requested",
                session.actor,
                {"statement_id": statement_id, "revision": revision},
            )
            return await self._json(conn, row)

    async def sign(
        self,
        session: ParticipantSession,
        statement_id: str,
        *,
        revision: int,
        name: str,
        over_18: bool,
        age: int | None,
        signature_png: bytes,
    ) -> dict[str, Any]:
        """Sign ``revision``: claim the row, render the PDF/A, seal, then mark it signed."""
        self._check_signature(signature_png)
        if not over_18 and age is None:
            raise ValidationFailed("give the witness's age when they are under 18")
        s = schema.statements
        async with self._engine.begin() as conn:
            row = await self._shared(conn, session, statement_id)
            claimed = await conn.execute(
                update(s)
                .where(
                    s.c.id == statement_id,
                    s.c.revision == revision,
                    s.c.status == StatementStatus.DRAFT.value,
                )
                .values(status=StatementStatus.SIGNING.value)
            )
            if claimed.rowcount != 1:
                if row["status"] != StatementStatus.DRAFT:
                    raise Conflict("this statement is already signed")
                raise Conflict(
                    "the statement changed since you read it; please read it again before signing",
                    details={"revision": row["revision"]},
                )
            if not row["text"].strip():
                raise ValidationFailed("the statement is empty; there is nothing to sign yet")
            visit = await load_visit(conn, session.visit_id)
            if visit is None:
                raise NotFound("the visit is gone")
            recording = await latest_for_visit(conn, session.visit_id)
            o = schema.officers
            officer = (
                (await conn.execute(select(o).where(o.c.id == visit.officer_id))).mappings().first()
            )
        try:
            return await self._seal(
                visit,
                row,
                session=session,
                name=name,
                over_18=over_18,
                age=age,
                signature_png=signature_png,
                recording=recording.row if recording is not None else None,
                officer_name=officer["display_name"] if officer is not None else visit.officer_id,
            )
        except BaseException:
            # Not sealed: the draft is the witness's to sign again (under a new evidence id).
            async with self._engine.begin() as conn:
                await conn.execute(
                    update(s)
                    .where(s.c.id == statement_id, s.c.status == StatementStatus.SIGNING.value)
                    .values(status=StatementStatus.DRAFT.value)
                )
            raise

    def _check_signature(self, data: bytes) -> None:
        if len(data) > self._settings.max_signature_bytes:
            raise ValidationFailed("the signature image is too large")
        try:
            if sniff(data) is not PNG:
                raise ValidationFailed("the signature must be a PNG image")
        except ContentError as exc:
            raise ValidationFailed(f"the signature image is not usable: {exc}") from exc

    async def _seal(
        self,
        visit: Visit,
        row: dict[str, Any],
        *,
        session: ParticipantSession,
        name: str,
        over_18: bool,
        age: int | None,
        signature_png: bytes,
        recording: Mapping[str, Any] | None,
        officer_name: str,
    ) -> dict[str, Any]:
        evidence_id = str(uuid.uuid4())
        signed_at = datetime.now(UTC)
        text_bytes = row["text"].encode("utf-8")
        text_sha256 = sha256_hex(text_bytes)
        document = StatementDocument(
            statement_id=row["id"],
            crime_reference=visit.crime_reference,
            witness_name=name,
            over_18=over_18,
            age=age,
            language=row["language"],
            text=row["text"],
            text_sha256=text_sha256,
            signature_png=signature_png,
            signed_at=signed_at,
            officer_collar=visit.officer_collar,
            officer_name=officer_name,
            supersedes=row["supersedes"],
        )
        pdf = await asyncio.to_thread(render_statement_pdf, document)
        async with self._engine.connect() as conn:
            corrections = await _corrections(conn, row["id"])
        folder = await asyncio.to_thread(self._sealer.spool_for, evidence_id)
        files = [
            write_hashed(folder / PDF_NAME, pdf, hashed="signing"),
            write_hashed(folder / TEXT_NAME, text_bytes, hashed="signing"),
            write_hashed(folder / SIGNATURE_NAME, signature_png, hashed="signing"),
        ]
        description: dict[str, JsonValue] = {
            "statement_id": row["id"],
            "number": row["number"],
            "supersedes": row["supersedes"],
            "language": row["language"],
            "revision": row["revision"],
            "text_file": TEXT_NAME,
            "text_sha256": text_sha256,
            "declaration": declaration_text(),
            "witness": {"name": name, "over_18": over_18, "age": age},
            "signed_at": signed_at.isoformat(),
            "signed_by": session.identity,
            "signing_session": session.session_id,
            "taken_by": {"officer": row["created_by"], "collar_number": visit.officer_collar},
            "recording": (
                {"evidence_id": recording["id"], "status": recording["status"]}
                if recording is not None
                else None
            ),
            "corrections_requested": [dict(c) for c in corrections],
        }
        sealed = await self._sealer.seal(
            visit,
            evidence_id=evidence_id,
            kind=ExhibitKind.STATEMENT,
            files=files,
            description=description,
            actor=session.actor,
            at=signed_at,
            participants=(Participant(session.identity, session.role.value, "phone"),),
        )
        pdf_file: ExhibitFile = files[0]
        s = schema.statements
        async with self._engine.begin() as conn:
            values = {
                "status": StatementStatus.SIGNED.value,
                "signed_at": signed_at,
                "signed_name": name,
                "signed_session_id": session.session_id,
                "text_sha256": text_sha256,
                "evidence_id": evidence_id,
            }
            await conn.execute(update(s).where(s.c.id == row["id"]).values(**values))
            await index_exhibit(
                conn,
                visit,
                evidence_id=evidence_id,
                kind=ExhibitKind.STATEMENT,
                primary=PrimaryFile(PDF_NAME, "application/pdf", pdf_file.sha256, pdf_file.bytes),
                sealed=sealed,
                actor=session.actor,
                at=signed_at,
                caption=f"Statement {row['number']} of {name}",
            )
            await audit.record(
                conn,
                actor=session.actor,
                action=AuditAction.COLLECTION,
                subject="statement",
                visit_id=visit.id,
                detail={
                    "statement_id": row["id"],
                    "evidence_id": evidence_id,
                    "text_sha256": text_sha256,
                    "manifest_sha256": sealed.manifest_sha256,
                },
            )
            return await self._json(conn, {**row, **values})
