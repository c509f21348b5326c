"""Seal an exhibit that is not a recording: a signed statement, a still, a victim's upload.

An exhibit is sealed exactly like a statement recording (:func:`evidence.seal.seal_statement`):
its files are the item's "masters", listed with their SHA-256 in an Ed25519-signed
``manifest.json``, with ``created`` and ``sealed`` custody entries. What kind of exhibit it
is, and everything said about it (who signed and when, the caption, who took it, the
session, the recording it belongs with), is in ``exhibit.json``, itself one of the masters,
so it is covered by the manifest's signature too. Nothing else changes: ``evr evidence
verify`` and ``export_bundle`` treat an exhibit like any other item, and a change to any
file names that file.

Each file's ``hashed`` in the manifest says when its hash was taken: ``"capture"`` (in the
officer's browser as a still was grabbed, checked again on arrival), ``"arrival"`` (as the
bytes reached the server, for uploads) or ``"signing"`` (when the witness signed, for a
statement's files).
"""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.canonical import JsonValue, canonical_json
from evidence.hashing import HashingFileWriter
from evidence.manifest import Officer, Participant
from evidence.seal import SealedStatement, StatementDetails, seal_statement
from evidence.store import EvidenceStore
from evidence.writer import SegmentInfo

EXHIBIT_NAME = "exhibit.json"
EXHIBIT_FORMAT = "evr-exhibit/1"


class ExhibitKind(StrEnum):
    STATEMENT = "statement"
    STILL = "still"
    UPLOAD = "upload"


@dataclass(frozen=True)
class ExhibitFile:
    """A file of the exhibit, already written and hashed (see :func:`write_hashed`)."""

    path: Path
    sha256: str
    bytes: int
    hashed: str = "arrival"


def write_hashed(path: Path, data: bytes, *, hashed: str = "arrival") -> ExhibitFile:
    """Write ``data`` to the new file ``path``, hashing as it is written."""
    with HashingFileWriter(path) as out:
        out.write(data)
    digest = out.close()
    return ExhibitFile(path, digest.sha256, digest.size, hashed)


@dataclass(frozen=True)
class ExhibitDetails:
    """What is known about an exhibit beyond its files."""

    evidence_id: str
    visit_id: str
    crime_reference: str
    officer: Officer
    kind: ExhibitKind
    description: Mapping[str, JsonValue]
    """Kind-specific facts (signer, caption, session...), stored in ``exhibit.json``."""
    participants: Sequence[Participant] = ()


def seal_exhibit(
    store: EvidenceStore,
    *,
    details: ExhibitDetails,
    files: Sequence[ExhibitFile],
    spool: Path,
    signing_key: Ed25519PrivateKey,
    actor: str,
    version: str,
    at: datetime,
    host: str | None = None,
) -> SealedStatement:
    """Write ``exhibit.json`` beside ``files`` in ``spool`` and seal them all as one item.

    The files' hashes are re-checked as the store copies them in, so a file changed
    between arrival and sealing is refused (:class:`core.evidence_errors.IntegrityError`).
    """
    names = [f.path.name for f in files]
    if EXHIBIT_NAME in names or len(set(names)) != len(names):
        raise ValueError(f"exhibit file names must be unique and not {EXHIBIT_NAME}")
    record: dict[str, JsonValue] = {
        "format": EXHIBIT_FORMAT,
        "kind": details.kind.value,
        "evidence_id": details.evidence_id,
        "visit_id": details.visit_id,
        "files": [
            {"name": f.path.name, "sha256": f.sha256, "bytes": f.bytes, "hashed": f.hashed}
            for f in files
        ],
        **details.description,
    }
    described = write_hashed(spool / EXHIBIT_NAME, canonical_json(record), hashed="sealing")
    segments = [
        SegmentInfo(i, f.path, f.sha256, f.bytes, at, at, f.hashed)
        for i, f in enumerate((*files, described), start=1)
    ]
    return seal_statement(
        store,
        details=StatementDetails(
            evidence_id=details.evidence_id,
            visit_id=details.visit_id,
            crime_reference=details.crime_reference,
            officer=details.officer,
            participants=details.participants,
            consents=(),
        ),
        segments=segments,
        signing_key=signing_key,
        actor=actor,
        recorder_version=version,
        host=host or platform.node(),
        at=at,
        acquired=f"{details.kind.value} acquired",
    )
