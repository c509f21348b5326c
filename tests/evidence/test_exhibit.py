"""Exhibits that are not recordings (statements, stills, uploads) sealed with the recordings'
manifest signing and custody: verified by the same verifier, and a change to any file, or to
what is said about it, is found and named."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.canonical import sha256_hex
from core.custody import CustodyEvent
from evidence.exhibit import EXHIBIT_NAME, ExhibitDetails, ExhibitKind, seal_exhibit, write_hashed
from evidence.keys import key_id
from evidence.manifest import Officer
from evidence.pdfa import StatementDocument, declaration_text, render_statement_pdf
from evidence.store import MASTERS_DIR, LocalEvidenceStore
from evidence.verify import verify_store_entry

AT = datetime(2026, 11, 28, 21, 30, tzinfo=UTC)
# The smallest valid PNG: 1x1 transparent pixel.
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e5270ddc0000000049454e44ae426082"
)


@pytest.fixture
def trusted_ids(signing_key: Ed25519PrivateKey) -> frozenset[str]:
    """The fingerprint a force would publish for its platform key."""
    return frozenset({key_id(signing_key.public_key())})


def document(text: str, language: str) -> StatementDocument:
    return StatementDocument(
        statement_id="st-1",
        crime_reference="CR/12345/24",
        witness_name="Jane Witness",
        over_18=True,
        age=None,
        language=language,
        text=text,
        text_sha256=sha256_hex(text.encode()),
        signature_png=PNG_1X1,
        signed_at=AT,
        officer_collar="4471",
        officer_name="PC Smith",
    )


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("cy", "Clywais wydr yn torri tua naw o'r gloch."),
        ("pl", "Słyszałam tłuczone szkło około godziny dziewiątej."),
        ("ro", "Am auzit sticlă spartă în jurul orei nouă."),
        ("ur", "میں نے تقریباً نو بجے شیشہ ٹوٹنے کی آواز سنی"),
    ],
)
def test_a_statement_renders_as_pdfa_2b_with_fonts_embedded(
    tmp_path: Path, language: str, text: str
) -> None:
    pdf = tmp_path / "s.pdf"
    pdf.write_bytes(render_statement_pdf(document(text, language)))
    meta = subprocess.run(
        ["pdfinfo", "-meta", str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    assert 'pdfaid:part="2"' in meta
    assert 'pdfaid:conformance="B"' in meta
    fonts = subprocess.run(
        ["pdffonts", str(pdf)], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    assert fonts
    assert all(" yes yes " in line for line in fonts), fonts
    body = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert declaration_text()[:40] in " ".join(body.split())
    assert "Jane Witness" in body


def _seal(
    tmp_path: Path, key: Ed25519PrivateKey, trusted_ids: frozenset[str]
) -> tuple[LocalEvidenceStore, str]:
    store = LocalEvidenceStore(tmp_path / "store")
    spool = tmp_path / "spool"
    spool.mkdir()
    files = [
        write_hashed(spool / "statement.txt", b"I heard glass break.", hashed="signing"),
        write_hashed(spool / "signature.png", PNG_1X1, hashed="signing"),
    ]
    sealed = seal_exhibit(
        store,
        details=ExhibitDetails(
            evidence_id="ex-1",
            visit_id="visit-42",
            crime_reference="CR/12345/24",
            officer=Officer("local:4471", "4471"),
            kind=ExhibitKind.STATEMENT,
            description={"signed_by": "victim:visit-42", "signing_session": "sess-1"},
        ),
        files=files,
        spool=spool,
        signing_key=key,
        actor="participant:victim:visit-42",
        version="test",
        at=AT,
    )
    assert sealed.key_id in trusted_ids
    return store, "ex-1"


def test_an_exhibit_is_sealed_like_a_recording(
    tmp_path: Path, signing_key: Ed25519PrivateKey, trusted_ids: frozenset[str]
) -> None:
    store, eid = _seal(tmp_path, signing_key, trusted_ids)
    report = verify_store_entry(store, eid, trusted_key_ids=trusted_ids)
    assert report.ok, report.failures
    entries = store.custody.entries_for(eid)
    assert [e.event for e in entries] == [CustodyEvent.CREATED, CustodyEvent.SEALED]
    assert entries[0].reason == "statement acquired"
    described = json.loads((store.directory_of(eid) / MASTERS_DIR / EXHIBIT_NAME).read_bytes())
    assert described["kind"] == "statement"
    assert described["signing_session"] == "sess-1"
    assert [f["name"] for f in described["files"]] == ["statement.txt", "signature.png"]


@pytest.mark.parametrize("name", ["statement.txt", "signature.png", EXHIBIT_NAME])
def test_a_changed_file_is_found_and_named(
    tmp_path: Path, signing_key: Ed25519PrivateKey, trusted_ids: frozenset[str], name: str
) -> None:
    store, eid = _seal(tmp_path, signing_key, trusted_ids)
    masters = store.directory_of(eid) / MASTERS_DIR
    masters.chmod(0o755)
    target = masters / name
    target.chmod(0o644)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    report = verify_store_entry(store, eid, trusted_key_ids=trusted_ids)
    assert [f.where for f in report.failures] == [f"segment {name}"]


def test_nothing_can_be_added_once_sealed(
    tmp_path: Path, signing_key: Ed25519PrivateKey, trusted_ids: frozenset[str]
) -> None:
    store, eid = _seal(tmp_path, signing_key, trusted_ids)
    with pytest.raises(Exception, match="sealed"):
        store.put_object(eid, "statement-2.txt", b"a quiet edit")


class FailingSigner(Ed25519PrivateKey):
    """A signer whose signing step fails (as an HSM that stops answering would); it still
    knows its public key, so everything before the signature is computed as usual."""

    def __init__(self, real: Ed25519PrivateKey) -> None:
        self._real = real

    def public_key(self) -> Ed25519PublicKey:
        return self._real.public_key()

    def sign(self, data: bytes | bytearray | memoryview) -> bytes:
        raise OSError("the signing module did not answer")

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        raise NotImplementedError

    def private_bytes_raw(self) -> bytes:
        raise NotImplementedError

    def __copy__(self) -> Ed25519PrivateKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Ed25519PrivateKey:
        return self


def test_a_failed_signing_leaves_nothing_in_the_store(
    tmp_path: Path, signing_key: Ed25519PrivateKey
) -> None:
    store = LocalEvidenceStore(tmp_path / "store")
    spool = tmp_path / "spool"
    spool.mkdir()
    files = [write_hashed(spool / "still.png", PNG_1X1)]
    details = ExhibitDetails(
        evidence_id="ex-2",
        visit_id="visit-42",
        crime_reference="CR/12345/24",
        officer=Officer("local:4471", "4471"),
        kind=ExhibitKind.STILL,
        description={"caption": "the broken window"},
    )
    with pytest.raises(OSError, match="signing module"):
        seal_exhibit(
            store,
            details=details,
            files=files,
            spool=spool,
            signing_key=FailingSigner(signing_key),
            actor="officer:local:4471",
            version="test",
            at=AT,
        )
    assert not store.directory_of("ex-2").exists()
    assert store.custody.entries_for("ex-2") == []
    assert list((tmp_path / "store" / "evidence").iterdir()) == []
    # Nothing half-made blocks the id either: the same files seal once a signer answers.
    (spool / EXHIBIT_NAME).unlink()
    seal_exhibit(
        store,
        details=details,
        files=files,
        spool=spool,
        signing_key=signing_key,
        actor="officer:local:4471",
        version="test",
        at=AT,
    )
    trusted = frozenset({key_id(signing_key.public_key())})
    assert verify_store_entry(store, "ex-2", trusted_key_ids=trusted).ok
