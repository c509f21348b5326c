"""Seal a finished statement: sign its manifest and store masters, manifest and custody."""

from __future__ import annotations

import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.canonical import sha256_hex
from core.custody import CustodyEntry, CustodyEvent
from evidence.keys import key_id, public_key_pem
from evidence.manifest import (
    ConsentRecord,
    Gap,
    Manifest,
    Officer,
    Participant,
    RecorderInfo,
    manifest_for,
    sign_manifest,
)
from evidence.store import MANIFEST_NAME, PUBLIC_KEY_NAME, SIGNATURE_NAME, EvidenceStore
from evidence.writer import SegmentInfo


@dataclass(frozen=True)
class StatementDetails:
    """What the platform knows about the statement, beyond the media itself."""

    evidence_id: str
    visit_id: str
    crime_reference: str
    officer: Officer
    participants: Sequence[Participant]
    consents: Sequence[ConsentRecord]
    gaps: Sequence[Gap] = field(default_factory=tuple)


@dataclass(frozen=True)
class SealedStatement:
    """The outcome of :func:`seal_statement`."""

    manifest: Manifest
    manifest_sha256: str
    key_id: str
    custody: tuple[CustodyEntry, ...]


def seal_statement(
    store: EvidenceStore,
    *,
    details: StatementDetails,
    segments: Sequence[SegmentInfo],
    signing_key: Ed25519PrivateKey,
    actor: str,
    recorder_version: str,
    host: str | None = None,
    at: datetime | None = None,
    acquired: str = "statement recording acquired",
) -> SealedStatement:
    """Sign the manifest, then store the master segments and manifest, seal, and log custody.

    Masters are copied in and re-hashed against the hashes taken while recording, so a
    file altered between recording and sealing is refused with :class:`IntegrityError`.
    Custody gets ``created`` (segment hashes) then ``sealed`` (manifest hash, key id and
    per-field digests, which let a verifier name a tampered manifest field). ``acquired``
    is the ``created`` entry's reason (exhibits other than recordings say what they are).

    A retry after a failure part way (the store or database went away) is idempotent: the
    store accepts objects it already holds identical, and each custody step is logged once.
    """
    public = signing_key.public_key()
    kid = key_id(public)
    manifest = manifest_for(
        evidence_id=details.evidence_id,
        visit_id=details.visit_id,
        crime_reference=details.crime_reference,
        officer=details.officer,
        participants=details.participants,
        consents=details.consents,
        segments=segments,
        gaps=details.gaps,
        recorder=RecorderInfo(recorder_version, host or platform.node(), kid),
    )
    # Signed before anything is stored: a signer that fails (an unreachable HSM, a bad key)
    # leaves no unsealed item in the store and no custody entry for one.
    signature = sign_manifest(manifest, signing_key)
    for info in segments:
        store.put_master(details.evidence_id, info.path, sha256=info.sha256)
    data = manifest.canonical_bytes()
    store.put_object(details.evidence_id, MANIFEST_NAME, data)
    store.put_object(details.evidence_id, PUBLIC_KEY_NAME, public_key_pem(public))
    # The signature goes last: its presence is what marks the item as sealed.
    store.put_object(details.evidence_id, SIGNATURE_NAME, signature)
    store.seal(details.evidence_id)
    # Custody only once the item is whole in the store: a write that failed part way
    # (a full disk) leaves neither files (the local store removes its partial item) nor
    # a custody entry.
    created = store.custody.append(
        evidence_id=details.evidence_id,
        event=CustodyEvent.CREATED,
        actor=actor,
        reason=acquired,
        details={
            "segments": [
                {"name": s.name, "sha256": s.sha256, "bytes": s.bytes} for s in manifest.segments
            ]
        },
        at=at,
        once=True,
    )
    manifest_sha256 = sha256_hex(data)
    sealed = store.custody.append(
        evidence_id=details.evidence_id,
        event=CustodyEvent.SEALED,
        actor=actor,
        reason="manifest signed and masters sealed",
        details={
            "manifest_sha256": manifest_sha256,
            "key_id": kid,
            "manifest_fields": manifest.field_digests(),
        },
        at=at,
        once=True,
    )
    return SealedStatement(manifest, manifest_sha256, kid, (created, sealed))
