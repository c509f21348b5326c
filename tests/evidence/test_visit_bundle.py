"""One bundle for a visit: each item verifies as its own bundle, and a change to any item,
an item removed or one slipped in, is found and named with the item."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from evidence.cli import main as examiner
from evidence.exhibit import ExhibitDetails, ExhibitKind, seal_exhibit, write_hashed
from evidence.keys import key_id
from evidence.manifest import Officer
from evidence.store import MASTERS_DIR, LocalEvidenceStore
from evidence.visit_bundle import export_visit_bundle, verify_visit_bundle
from tests.evidence.test_exhibit import AT, PNG_1X1


@pytest.fixture
def bundle(tmp_path: Path, signing_key: Ed25519PrivateKey) -> tuple[Path, frozenset[str]]:
    store = LocalEvidenceStore(tmp_path / "store")
    for evidence_id, kind, name, data in (
        ("st-1", ExhibitKind.STATEMENT, "statement.txt", b"I heard glass break."),
        ("still-1", ExhibitKind.STILL, "still.png", PNG_1X1),
    ):
        spool = tmp_path / "spool" / evidence_id
        spool.mkdir(parents=True)
        seal_exhibit(
            store,
            details=ExhibitDetails(
                evidence_id=evidence_id,
                visit_id="visit-42",
                crime_reference="CR/12345/24",
                officer=Officer("local:4471", "4471"),
                kind=kind,
                description={},
            ),
            files=[write_hashed(spool / name, data)],
            spool=spool,
            signing_key=signing_key,
            actor="officer:local:4471",
            version="test",
            at=AT,
        )
    trusted = frozenset({key_id(signing_key.public_key())})
    out = export_visit_bundle(
        store,
        [("st-1", "statement"), ("still-1", "still")],
        tmp_path / "out" / "visit-42",
        visit_id="visit-42",
        actor="officer:local:4471",
        justification="file for the CPS",
        recipient="CPS Wessex",
        signing_key=signing_key,
        trusted_key_ids=trusted,
    )
    return out, trusted


def test_a_visit_bundle_verifies_offline(bundle: tuple[Path, frozenset[str]]) -> None:
    directory, trusted = bundle
    report = verify_visit_bundle(directory, trusted_key_ids=trusted)
    assert report.ok, report.failures
    (kid,) = trusted
    assert examiner(["verify", "--trusted-key", kid, str(directory)]) == 0


def test_a_changed_file_is_named_with_its_item(bundle: tuple[Path, frozenset[str]]) -> None:
    directory, trusted = bundle
    target = directory / "st-1" / MASTERS_DIR / "statement.txt"
    target.chmod(0o644)
    target.write_bytes(b"I heard nothing.")
    report = verify_visit_bundle(directory, trusted_key_ids=trusted)
    wheres = [f.where for f in report.failures]
    assert "item st-1 (statement): segment statement.txt" in wheres
    assert all(w.startswith(("item st-1", "SHA256SUMS")) for w in wheres), wheres


def test_an_item_removed_or_added_is_found(bundle: tuple[Path, frozenset[str]]) -> None:
    directory, trusted = bundle
    shutil.copytree(directory / "still-1", directory / "still-2")
    for path in (directory / "still-1").rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    (directory / "still-1").chmod(0o755)
    shutil.rmtree(directory / "still-1")
    wheres = [f.where for f in verify_visit_bundle(directory, trusted_key_ids=trusted).failures]
    assert "item still-1 (still)" in wheres
    assert "item still-2" in wheres


def test_an_untrusted_key_fails(bundle: tuple[Path, frozenset[str]]) -> None:
    directory, _ = bundle
    report = verify_visit_bundle(directory, trusted_key_ids={"0" * 64})
    assert not report.ok
    assert any("not a trusted" in f.message for f in report.failures)
