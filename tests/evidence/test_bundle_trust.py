"""Issue 12, finding 2: a disclosure bundle cannot be forged and still verify.

Each test plays an attacker who holds a bundle (or the files of a store) but not the
platform's signing key, and checks that verification names what was forged.
"""

from __future__ import annotations

import hashlib
import io
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.canonical import canonical_json
from core.custody import parse_jsonl, to_jsonl
from evidence.cli import main
from evidence.export import VERIFY_NAME, export_bundle
from evidence.keys import generate_signing_key, key_id
from evidence.seal import SealedStatement, StatementDetails, seal_statement
from evidence.store import LocalEvidenceStore
from evidence.verify import verify_bundle
from evidence.writer import SegmentInfo
from tests.evidence.conftest import EVIDENCE_ID

HOSTILE_RECIPIENT = 'CPS Wessex"\n\n7. Step 3 is optional: any key will do.\n\u202eevil'


def _export(
    store: LocalEvidenceStore, key: Ed25519PrivateKey, trusted: frozenset[str], out: Path
) -> Path:
    return export_bundle(
        store,
        EVIDENCE_ID,
        out,
        actor="u-77",
        justification="pre-charge file",
        recipient=HOSTILE_RECIPIENT,
        signing_key=key,
        trusted_key_ids=trusted,
    )


@pytest.fixture
def bundle(
    store: LocalEvidenceStore,
    sealed: SealedStatement,
    signing_key: Ed25519PrivateKey,
    trusted: frozenset[str],
    tmp_path: Path,
) -> Path:
    return _export(store, signing_key, trusted, tmp_path / "exports" / "bundle")


def _writable(path: Path) -> Path:
    path.chmod(0o644)
    return path


def _resum(bundle: Path) -> None:
    """What an attacker does after editing: recompute SHA256SUMS (it is not signed)."""
    files = sorted(p for p in bundle.rglob("*") if p.is_file() and p.name != "SHA256SUMS")
    sums = "".join(
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(bundle).as_posix()}\n"
        for p in files
    )
    _writable(bundle / "SHA256SUMS").write_text(sums)


def test_a_genuine_bundle_verifies_against_the_published_fingerprint(
    bundle: Path, trusted: frozenset[str]
) -> None:
    report = verify_bundle(bundle, trusted_key_ids=trusted)
    assert report.ok, report.failures
    assert any("custody head" in line for line in report.passed)


def test_a_bundle_signed_by_another_key_fails_and_says_so(
    segments: list[SegmentInfo],
    details: StatementDetails,
    trusted: frozenset[str],
    tmp_path: Path,
) -> None:
    # The forger seals and exports a self-consistent item with a key of their own.
    forger = generate_signing_key(tmp_path / "forger.pem")
    forged_store = LocalEvidenceStore(tmp_path / "forged-store")
    seal_statement(
        forged_store,
        details=details,
        segments=segments,
        signing_key=forger,
        actor="recorder@evil",
        recorder_version="0.1.0",
    )
    forger_trusts = frozenset({key_id(forger.public_key())})
    forged = _export(forged_store, forger, forger_trusts, tmp_path / "forged")
    assert verify_bundle(forged, trusted_key_ids=forger_trusts).ok  # consistent in itself
    assert verify_bundle(forged, trusted_key_ids=frozenset()).ok is False
    report = verify_bundle(forged, trusted_key_ids=trusted)
    messages = {f.where: f.message for f in report.failures}
    assert "not a trusted key" in messages["recorder-public.pem"]
    assert "not a trusted key" in messages["bundle.sig"]


def test_verification_needs_a_trusted_fingerprint(bundle: Path) -> None:
    err = io.StringIO()
    assert main(["verify", str(bundle)], out=err) == 2
    report = verify_bundle(bundle, trusted_key_ids=frozenset())
    assert not report.ok
    assert any("no trusted key fingerprint" in f.message for f in report.failures)


def test_a_rewritten_custody_extract_is_detected(bundle: Path, trusted: frozenset[str]) -> None:
    # Change who the export went to and re-hash every link, so the chain itself is valid.
    path = _writable(bundle / "custody.jsonl")
    entries = parse_jsonl(path.read_bytes().splitlines())
    data = [e.to_json() for e in entries]
    data[-1]["details"] = {**data[-1]["details"], "recipient": "Someone else"}  # type: ignore[dict-item]
    relinked = []
    prev = "0" * 64
    for item in data:
        body = {k: v for k, v in item.items() if k != "hash"}
        body["prev_hash"] = prev
        prev = hashlib.sha256(canonical_json(body)).hexdigest()
        relinked.append({**body, "hash": prev})
    path.write_bytes(b"".join(canonical_json(e) + b"\n" for e in relinked))
    assert to_jsonl(parse_jsonl(path.read_bytes().splitlines()))  # still a valid chain
    _resum(bundle)
    report = verify_bundle(bundle, trusted_key_ids=trusted)
    wheres = [f.where for f in report.failures]
    assert "custody.jsonl" in wheres
    assert not any(w.startswith("custody seq") for w in wheres)


def test_only_relative_paths_inside_the_bundle_are_accepted(
    bundle: Path, trusted: frozenset[str], tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("not evidence")
    digest = hashlib.sha256(outside.read_bytes()).hexdigest()
    sums = _writable(bundle / "SHA256SUMS")
    sums.write_text(sums.read_text() + f"{digest}  {outside}\n{digest}  ../outside.txt\n")
    report = verify_bundle(bundle, trusted_key_ids=trusted)
    refused = [f for f in report.failures if "only relative paths" in f.message]
    assert len(refused) == 2, report.failures


def test_user_text_is_quoted_in_verify_txt(bundle: Path) -> None:
    text = (bundle / VERIFY_NAME).read_text("utf-8")
    assert json.dumps(HOSTILE_RECIPIENT, ensure_ascii=True) in text
    assert "7. Step 3 is optional" not in text.splitlines()
    assert not any(line.startswith("7.") for line in text.splitlines())
    assert "\u202e" not in text


def test_bundle_folders_are_private(bundle: Path) -> None:
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o700
    assert stat.S_IMODE(bundle.parent.stat().st_mode) == 0o700
