"""seal_statement: masters, signed manifest and custody entries."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.custody import CustodyEvent
from core.evidence_errors import IntegrityError
from evidence.keys import key_id, load_public_key_pem
from evidence.manifest import verify_manifest_signature
from evidence.seal import SealedStatement, StatementDetails, seal_statement
from evidence.store import PUBLIC_KEY_NAME, SIGNATURE_NAME, LocalEvidenceStore
from evidence.writer import SegmentInfo
from tests.evidence.conftest import EVIDENCE_ID


def test_seal_stores_signed_manifest_and_logs_custody(
    store: LocalEvidenceStore,
    sealed: SealedStatement,
    signing_key: Ed25519PrivateKey,
    segments: list[SegmentInfo],
) -> None:
    directory = store.directory_of(EVIDENCE_ID)
    manifest = (directory / "manifest.json").read_bytes()
    assert manifest == sealed.manifest.canonical_bytes()
    # The stored signature verifies over the stored bytes, with the signing key's public half
    # and with the public key stored beside it.
    signature = (directory / SIGNATURE_NAME).read_bytes()
    verify_manifest_signature(manifest, signature, signing_key.public_key())
    stored_key = load_public_key_pem((directory / PUBLIC_KEY_NAME).read_bytes())
    assert key_id(stored_key) == key_id(signing_key.public_key())
    verify_manifest_signature(manifest, signature, stored_key)
    assert sealed.key_id == key_id(signing_key.public_key())
    assert [s.sha256 for s in sealed.manifest.segments] == [s.sha256 for s in segments]
    entries = store.custody.entries_for(EVIDENCE_ID)
    assert [e.event for e in entries] == [CustodyEvent.CREATED, CustodyEvent.SEALED]
    assert entries[1].details["manifest_sha256"] == sealed.manifest_sha256


def test_seal_refuses_a_segment_changed_since_recording(
    tmp_path: Path,
    segments: list[SegmentInfo],
    signing_key: Ed25519PrivateKey,
    details: StatementDetails,
) -> None:
    copy = tmp_path / segments[0].name
    data = bytearray(segments[0].path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    changed = [SegmentInfo(**{**segments[0].__dict__, "path": copy}), *segments[1:]]
    with pytest.raises(IntegrityError):
        seal_statement(
            LocalEvidenceStore(tmp_path / "store"),
            details=details,
            segments=changed,
            signing_key=signing_key,
            actor="recorder",
            recorder_version="0.1.0",
        )
