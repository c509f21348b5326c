"""Sealing exhibits into the evidence store, and the `exhibits` index rows that list them.

Files arrive into a spool folder of their own (`<spool_dir>/exhibits/<evidence id>/`), hashed
as they are written; `evidence.exhibit.seal_exhibit` then copies them into the store (re-hashed
against those hashes), signs the manifest and writes custody, exactly as for a recording.
Only then is the index row written, so the API never lists an exhibit that is not sealed.
The spool folder is removed whatever happens: a refused or failed exhibit leaves nothing.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from control_plane.errors import DependencyUnavailable
from control_plane.visit_records import Visit, append_event
from core import __version__, schema
from core.canonical import JsonValue
from core.evidence_errors import EvidenceError
from evidence.exhibit import ExhibitDetails, ExhibitFile, ExhibitKind, seal_exhibit
from evidence.manifest import Officer, Participant
from evidence.seal import SealedStatement
from evidence.store import EvidenceStore

log = logging.getLogger(__name__)

SIGNER_VERSION = f"evr-control-plane {__version__}"
"""Who signed an exhibit's manifest, in the manifest's `recorder.version`."""


@dataclass(frozen=True)
class PrimaryFile:
    """The file an exhibit is about (the PDF, the still, the upload), for its index row."""

    name: str
    media_type: str
    sha256: str
    bytes: int


class ExhibitSealer:
    """Seals exhibits with the platform's signing key into the configured evidence store."""

    def __init__(self, store: EvidenceStore, spool: Path, signing_key: Ed25519PrivateKey) -> None:
        self._store = store
        self._spool = spool
        self._key = signing_key

    def spool_for(self, evidence_id: str) -> Path:
        """A new, empty folder for one exhibit's files (the caller fills it, then seals)."""
        folder = self._spool / "exhibits" / evidence_id
        folder.mkdir(parents=True, exist_ok=False)
        return folder

    def discard(self, evidence_id: str) -> None:
        shutil.rmtree(self._spool / "exhibits" / evidence_id, ignore_errors=True)

    async def seal(
        self,
        visit: Visit,
        *,
        evidence_id: str,
        kind: ExhibitKind,
        files: Sequence[ExhibitFile],
        description: Mapping[str, JsonValue],
        actor: str,
        at: datetime,
        participants: Sequence[Participant] = (),
    ) -> SealedStatement:
        """Seal ``files`` (already in :meth:`spool_for`'s folder) as one item; the folder goes.

        Store and custody calls block (the custody log talks to the loop from its thread),
        so sealing runs in a worker thread.
        """
        details = ExhibitDetails(
            evidence_id=evidence_id,
            visit_id=visit.id,
            crime_reference=visit.crime_reference,
            officer=Officer(visit.officer_id, visit.officer_collar),
            kind=kind,
            description=description,
            participants=participants,
        )
        try:
            return await asyncio.to_thread(
                seal_exhibit,
                self._store,
                details=details,
                files=files,
                spool=self._spool / "exhibits" / evidence_id,
                signing_key=self._key,
                actor=actor,
                version=SIGNER_VERSION,
                at=at,
            )
        except (EvidenceError, OSError) as exc:
            # Loud: the officer sees the 503, the log has the reason for the evidence unit.
            log.exception(
                "exhibit could not be sealed",
                extra={"visit_id": visit.id, "evidence_id": evidence_id, "reason": str(exc)},
            )
            raise DependencyUnavailable(
                f"the {kind.value} could not be sealed as evidence: {exc}"
            ) from exc
        finally:
            await asyncio.to_thread(self.discard, evidence_id)


async def index_exhibit(
    conn: AsyncConnection,
    visit: Visit,
    *,
    evidence_id: str,
    kind: ExhibitKind,
    primary: PrimaryFile,
    sealed: SealedStatement,
    actor: str,
    at: datetime,
    caption: str | None = None,
) -> dict[str, Any]:
    """Insert the index row of a sealed exhibit and a visit event; return its JSON."""
    row = {
        "id": evidence_id,
        "visit_id": visit.id,
        "kind": kind.value,
        "created_by": actor,
        "created_at": at,
        "caption": caption,
        "media_type": primary.media_type,
        "file_name": primary.name,
        "sha256": primary.sha256,
        "bytes": primary.bytes,
        "manifest_sha256": sealed.manifest_sha256,
        "key_id": sealed.key_id,
    }
    await conn.execute(insert(schema.exhibits).values(**row))
    await append_event(
        conn,
        visit.id,
        f"{kind.value}_sealed",
        actor,
        {"evidence_id": evidence_id, "sha256": primary.sha256},
    )
    return exhibit_json(row)


def exhibit_json(row: Any) -> dict[str, Any]:
    """An exhibit as the API shows it."""
    return {
        "evidence_id": row["id"],
        "visit_id": row["visit_id"],
        "kind": row["kind"],
        "created_by": row["created_by"],
        "created_at": row["created_at"].isoformat(),
        "caption": row["caption"],
        "media_type": row["media_type"],
        "file_name": row["file_name"],
        "sha256": row["sha256"],
        "bytes": row["bytes"],
        "manifest_sha256": row["manifest_sha256"],
        "key_id": row["key_id"],
    }
