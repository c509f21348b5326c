"""verify: every kind of tampering is detected and located."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.canonical import canonical_json
from evidence.keys import key_id
from evidence.seal import SealedStatement
from evidence.store import LocalEvidenceStore
from evidence.verify import verify_store_entry
from tests.evidence.conftest import EVIDENCE_ID


def rewrite(path: Path, data: bytes) -> None:
    """Overwrite a read-only file the way an attacker with file access would."""
    path.chmod(0o644)
    path.write_bytes(data)
    path.chmod(0o444)


def failed_at(store: LocalEvidenceStore, trusted: frozenset[str]) -> list[str]:
    report = verify_store_entry(store, EVIDENCE_ID, trusted_key_ids=trusted)
    assert not report.ok
    return [f.where for f in report.failures]


def test_untouched_item_verifies(
    store: LocalEvidenceStore, sealed: SealedStatement, signing_key: Ed25519PrivateKey
) -> None:
    report = verify_store_entry(
        store, EVIDENCE_ID, trusted_key_ids={key_id(signing_key.public_key())}
    )
    assert report.ok, report.failures
    assert any("segment-00002.mp4" in line for line in report.passed)


def test_untrusted_key_is_reported(store: LocalEvidenceStore, sealed: SealedStatement) -> None:
    report = verify_store_entry(store, EVIDENCE_ID, trusted_key_ids={"f" * 64})
    assert [f.where for f in report.failures] == ["recorder-public.pem"]


def test_flipped_byte_in_a_master_names_the_segment(
    store: LocalEvidenceStore, sealed: SealedStatement, trusted: frozenset[str]
) -> None:
    path = store.directory_of(EVIDENCE_ID) / "masters" / "segment-00002.mp4"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    rewrite(path, bytes(data))
    assert failed_at(store, trusted) == ["segment segment-00002.mp4"]


def test_changed_manifest_field_names_signature_and_field(
    store: LocalEvidenceStore, sealed: SealedStatement, trusted: frozenset[str]
) -> None:
    path = store.directory_of(EVIDENCE_ID) / "manifest.json"
    manifest = json.loads(path.read_bytes())
    manifest["crime_reference"] = "CR/99999/24"
    rewrite(path, canonical_json(manifest))
    assert failed_at(store, trusted) == [
        "manifest.sig",
        "manifest.json",
        "manifest field 'crime_reference'",
    ]


def test_replaced_signature_is_reported(
    store: LocalEvidenceStore, sealed: SealedStatement, trusted: frozenset[str]
) -> None:
    rewrite(store.directory_of(EVIDENCE_ID) / "manifest.sig", bytes(64))
    assert failed_at(store, trusted) == ["manifest.sig"]


def _custody_lines(store: LocalEvidenceStore) -> tuple[Path, list[str]]:
    store.view(EVIDENCE_ID, actor="u-1", justification="review")
    store.view(EVIDENCE_ID, actor="u-2", justification="second review")
    path = store.root / "custody" / f"{EVIDENCE_ID}.jsonl"
    return path, path.read_text().splitlines()


def test_deleted_chain_entry_names_the_seq(
    store: LocalEvidenceStore, sealed: SealedStatement, trusted: frozenset[str]
) -> None:
    path, lines = _custody_lines(store)
    path.write_text("\n".join(lines[:2] + lines[3:]) + "\n")
    assert failed_at(store, trusted) == ["custody seq 3"]


def test_altered_chain_entry_names_the_seq(
    store: LocalEvidenceStore, sealed: SealedStatement, trusted: frozenset[str]
) -> None:
    path, lines = _custody_lines(store)
    entry = json.loads(lines[2])
    entry["actor"] = "someone-else"
    lines[2] = canonical_json(entry).decode()
    path.write_text("\n".join(lines) + "\n")
    assert failed_at(store, trusted) == ["custody seq 3"]
