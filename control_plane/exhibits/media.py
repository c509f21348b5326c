"""Evidential stills (taken by the officer from the call's video) and the victim's uploads.

Both arrive as a raw request body, streamed into the exhibit's spool folder and hashed as
it is written, checked by content, then sealed byte for byte. A still is hashed at capture:
the officer's browser takes the SHA-256 of the image bytes it grabbed from the video element
and sends it with them (with the capture time); the server's hash on arrival must equal it,
else the still is refused and nothing is kept. An upload is hashed on arrival. A body over
the limit, of the wrong type, or cut short is refused with a plain message and leaves nothing
behind.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import StreamReader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from control_plane.auth import Principal
from control_plane.errors import BadRequest, Gone, NotFound, PayloadTooLarge, ValidationFailed
from control_plane.exhibits.content import ContentError, Sniffed, sniff, sniff_image
from control_plane.exhibits.sealing import ExhibitSealer, PrimaryFile, exhibit_json, index_exhibit
from control_plane.joining import ParticipantSession
from control_plane.visibility import can_see_evidence, visible_visit
from control_plane.visit_records import Visit, load_visit
from core import audit, schema
from core.domain import TERMINAL_STATES, AuditAction
from core.exhibit_settings import ExhibitSettings
from evidence.exhibit import ExhibitFile, ExhibitKind
from evidence.hashing import HashingFileWriter
from evidence.manifest import Participant

log = logging.getLogger(__name__)

_CHUNK = 256 * 1024
STILL_SUBJECTS = ("victim", "officer", "other")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class BodyTooLarge(PayloadTooLarge):
    """Past the limit: the handler answers, then closes the connection instead of draining."""


async def receive(
    content: StreamReader, target: Path, *, limit: int, declared: int | None
) -> ExhibitFile:
    """Stream a request body into the new file ``target``, hashing as it is written.

    Raises :class:`BodyTooLarge` past ``limit`` and :class:`BadRequest` if the body ends
    before its declared length; the caller removes the folder in both cases.
    """
    if declared is not None and declared > limit:
        raise BodyTooLarge(f"the file is too large: at most {limit // (1024 * 1024)} MB")
    with HashingFileWriter(target) as out:
        try:
            while chunk := await content.readany():
                if out.bytes_written + len(chunk) > limit:
                    raise BodyTooLarge(
                        f"the file is too large: at most {limit // (1024 * 1024)} MB"
                    )
                out.write(chunk)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            raise BadRequest("the file did not arrive in full; please try again") from exc
    digest = out.close()
    if declared is not None and digest.size != declared:
        raise BadRequest("the file did not arrive in full; please try again")
    return ExhibitFile(target, digest.sha256, digest.size, "arrival")


def _capture_time(value: str | None) -> str:
    """The console's capture time, kept as given (the officer's clock, not the server's)."""
    text = (value or "").strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or len(text) > 40:
        raise ValidationFailed(
            "a still needs the time it was captured: X-Captured-At, ISO 8601 with a time zone"
        )
    return text


def _check(path: Path, *, image_only: bool) -> Sniffed:
    data = path.read_bytes()
    try:
        return sniff_image(data) if image_only else sniff(data)
    except ContentError as exc:
        raise ValidationFailed(str(exc), details={"reason": exc.reason}) from exc


class Media:
    """Stills and uploads, sealed by ``sealer``; see the module docstring."""

    def __init__(self, engine: AsyncEngine, settings: ExhibitSettings, sealer: ExhibitSealer):
        self._engine = engine
        self._settings = settings
        self._sealer = sealer

    async def _arrive(
        self, content: StreamReader, declared: int | None, *, limit: int, image_only: bool
    ) -> tuple[str, ExhibitFile, Sniffed]:
        evidence_id = str(uuid.uuid4())
        folder = await asyncio.to_thread(self._sealer.spool_for, evidence_id)
        try:
            arrived = await receive(content, folder / "received", limit=limit, declared=declared)
            kind = await asyncio.to_thread(_check, arrived.path, image_only=image_only)
        except BaseException:
            await asyncio.to_thread(self._sealer.discard, evidence_id)
            raise
        return evidence_id, arrived, kind

    async def _seal(
        self,
        visit: Visit,
        evidence_id: str,
        arrived: ExhibitFile,
        found: Sniffed,
        *,
        kind: ExhibitKind,
        name: str,
        actor: str,
        participant: Participant | None,
        caption: str | None,
        description: dict[str, Any],
    ) -> dict[str, Any]:
        at = datetime.now(UTC)
        named = arrived.path.with_name(name)
        await asyncio.to_thread(arrived.path.rename, named)
        file = ExhibitFile(named, arrived.sha256, arrived.bytes, arrived.hashed)
        sealed = await self._sealer.seal(
            visit,
            evidence_id=evidence_id,
            kind=kind,
            files=[file],
            description={
                "media_type": found.media_type,
                "received_at": at.isoformat(),
                "caption": caption,
                **description,
            },
            actor=actor,
            at=at,
            participants=(participant,) if participant is not None else (),
        )
        async with self._engine.begin() as conn:
            return await index_exhibit(
                conn,
                visit,
                evidence_id=evidence_id,
                kind=kind,
                primary=PrimaryFile(name, found.media_type, file.sha256, file.bytes),
                sealed=sealed,
                actor=actor,
                at=at,
                caption=caption,
            )

    async def capture_still(
        self,
        principal: Principal,
        visit_id: str,
        content: StreamReader,
        declared: int | None,
        *,
        caption: str,
        subject: str,
        track: str | None,
        capture_sha256: str | None,
        captured_at: str | None,
    ) -> dict[str, Any]:
        """Seal a still the officer grabbed from the call (JPEG or PNG), hashed at capture.

        ``capture_sha256`` and ``captured_at`` are what the console took when it grabbed
        the frame; a body whose hash differs is refused (422, reason ``capture_hash``).
        """
        if subject not in STILL_SUBJECTS:
            raise ValidationFailed(f"subject must be one of {', '.join(STILL_SUBJECTS)}")
        if not caption.strip() or len(caption) > 500:
            raise ValidationFailed("a still needs a caption (at most 500 characters)")
        expected = (capture_sha256 or "").strip().lower()
        if not _SHA256_HEX.match(expected):
            raise ValidationFailed(
                "a still needs the SHA-256 of its image taken at capture: "
                "X-Capture-SHA256, 64 hex digits"
            )
        taken = _capture_time(captured_at)
        async with self._engine.connect() as conn:
            visit = await visible_visit(conn, principal, visit_id)
        evidence_id, arrived, found = await self._arrive(
            content, declared, limit=self._settings.max_still_bytes, image_only=True
        )
        if not hmac.compare_digest(arrived.sha256, expected):
            await asyncio.to_thread(self._sealer.discard, evidence_id)
            log.warning(
                "still refused for visit %s: SHA-256 at capture %s, on arrival %s",
                visit_id,
                expected,
                arrived.sha256,
            )
            raise ValidationFailed(
                "the still changed between capture and arrival: its SHA-256 taken in the "
                f"browser ({expected}) does not match the bytes received ({arrived.sha256}); "
                "nothing was stored, please take it again",
                details={
                    "reason": "capture_hash",
                    "capture_sha256": expected,
                    "received_sha256": arrived.sha256,
                },
            )
        return await self._seal(
            visit,
            evidence_id,
            ExhibitFile(arrived.path, arrived.sha256, arrived.bytes, "capture"),
            found,
            kind=ExhibitKind.STILL,
            name=f"still.{found.extension}",
            actor=principal.actor,
            participant=None,
            caption=caption.strip(),
            description={
                "taken_by": principal.actor,
                "collar_number": principal.collar_number,
                "subject": subject,
                "track": track,
                "hashed": "at capture in the officer's browser, and again on arrival (equal)",
                "capture_sha256": expected,
                "captured_at": taken,
            },
        )

    async def upload(
        self,
        session: ParticipantSession,
        content: StreamReader,
        declared: int | None,
        *,
        file_name: str | None,
    ) -> dict[str, Any]:
        """Seal a photo or short video the victim sent from their phone."""
        async with self._engine.connect() as conn:
            visit = await load_visit(conn, session.visit_id)
        if visit is None:
            raise NotFound("the visit is gone")
        self._check_upload_window(visit)
        evidence_id, arrived, found = await self._arrive(
            content, declared, limit=self._settings.max_upload_bytes, image_only=False
        )
        original = (file_name or "").strip()[:200] or None
        return await self._seal(
            visit,
            evidence_id,
            arrived,
            found,
            kind=ExhibitKind.UPLOAD,
            name=f"upload.{found.extension}",
            actor=session.actor,
            participant=Participant(session.identity, session.role.value, "phone"),
            caption=original,
            description={
                "uploaded_by": session.identity,
                "session": session.session_id,
                "original_name": original,
                # "ended" etc. when it came after the call, under the session kept at closing.
                "visit_status": visit.status.value,
            },
        )

    def _check_upload_window(self, visit: Visit) -> None:
        """A closed visit takes uploads for `upload_minutes_after_close` more (the victim may
        find a doorbell clip once the call is over); then 410, which the page shows as
        "expired". Only the victim's newest session outlives the close (visit_records)."""
        if visit.status not in TERMINAL_STATES:
            return
        closed_at = visit.ended_at or visit.updated_at
        until = closed_at + timedelta(minutes=self._settings.upload_minutes_after_close)
        if datetime.now(UTC) >= until:
            raise Gone(
                "this visit has closed and no more files can be sent; if you have more"
                " evidence, contact the police to add it",
                details={
                    "reason": "closed",
                    "closed_at": closed_at.isoformat(),
                    "uploads_until": until.isoformat(),
                },
            )

    # -- listing ------------------------------------------------------------------------------

    async def for_participant(self, session: ParticipantSession) -> dict[str, Any]:
        """What the phone shows: stills taken during the call, and its own uploads."""
        e = schema.exhibits
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(e)
                .where(e.c.visit_id == session.visit_id, e.c.kind != ExhibitKind.STATEMENT.value)
                .order_by(e.c.created_at)
            )
            found = rows.mappings().all()
        stills = [
            {"evidence_id": r["id"], "taken_at": r["created_at"].isoformat()}
            for r in found
            if r["kind"] == ExhibitKind.STILL.value
        ]
        uploads = [
            {
                "evidence_id": r["id"],
                "received_at": r["created_at"].isoformat(),
                "file_name": r["caption"],
                "media_type": r["media_type"],
                "bytes": r["bytes"],
                "sha256": r["sha256"],
            }
            for r in found
            if r["kind"] == ExhibitKind.UPLOAD.value and r["created_by"] == session.actor
        ]
        return {"stills": stills, "uploads": uploads}

    async def for_visit(self, principal: Principal, visit_id: str) -> list[dict[str, Any]]:
        """Every sealed exhibit of the visit, for those who may see its evidence."""
        e = schema.exhibits
        async with self._engine.begin() as conn:
            visit = await load_visit(conn, visit_id)
            if visit is None or not can_see_evidence(
                principal, officer_id=visit.officer_id, unit=visit.unit
            ):
                raise NotFound(f"no visit {visit_id}")
            rows = await conn.execute(
                select(e).where(e.c.visit_id == visit.id).order_by(e.c.created_at)
            )
            listed = [exhibit_json(r) for r in rows.mappings()]
            await audit.record(
                conn,
                actor=principal.actor,
                action=AuditAction.CONSULTATION,
                subject="exhibits",
                visit_id=visit.id,
                detail={"listed": len(listed)},
            )
        return listed
