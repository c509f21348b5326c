"""export: a bundle a third party can check with sha256sum, openssl and jq/python3."""

from __future__ import annotations

import functools
import hashlib
import json
import stat
import subprocess
import textwrap
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.custody import CustodyEvent, parse_jsonl
from core.evidence_errors import IntegrityError, JustificationRequiredError
from evidence.export import VERIFY_NAME, export_bundle
from evidence.seal import SealedStatement
from evidence.store import LocalEvidenceStore
from evidence.verify import verify_bundle
from tests.evidence.conftest import EVIDENCE_ID


@pytest.fixture
def bundle(
    store: LocalEvidenceStore,
    sealed: SealedStatement,
    tmp_path: Path,
    signing_key: Ed25519PrivateKey,
    trusted: frozenset[str],
) -> Path:
    return export_bundle(
        store,
        EVIDENCE_ID,
        tmp_path / "bundle",
        actor="u-77",
        justification="pre-charge file for CPS",
        recipient="CPS Wessex",
        signing_key=signing_key,
        trusted_key_ids=trusted,
    )


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, capture_output=True, text=True, check=False
    )


def command_block(text: str, first: str, last: str) -> str:
    """The indented command lines of VERIFY.txt from ``first`` to ``last`` (inclusive)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if first in line)
    end = next(i for i in range(start, len(lines)) if last in lines[i])
    return textwrap.dedent("\n".join(lines[start : end + 1]))


def test_bundle_layout_and_custody(
    bundle: Path, store: LocalEvidenceStore, trusted: frozenset[str]
) -> None:
    names = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert names == [
        "SHA256SUMS",
        "VERIFY.txt",
        "bundle.json",
        "bundle.sig",
        "custody.jsonl",
        "manifest.json",
        "manifest.sig",
        "masters/segment-00001.mp4",
        "masters/segment-00002.mp4",
        "platform-public.pem",
        "recorder-public.pem",
    ]
    assert all(stat.S_IMODE((bundle / n).stat().st_mode) == 0o444 for n in names)
    extract = parse_jsonl((bundle / "custody.jsonl").read_bytes().splitlines())
    assert extract == store.custody.entries_for(EVIDENCE_ID)
    assert extract[-1].event is CustodyEvent.EXPORTED
    assert extract[-1].actor == "u-77"
    assert extract[-1].reason == "pre-charge file for CPS"
    assert extract[-1].details["recipient"] == "CPS Wessex"
    report = verify_bundle(bundle, trusted_key_ids=trusted)
    assert report.ok, report.failures


def test_verify_txt_commands_really_verify(bundle: Path) -> None:
    text = (bundle / VERIFY_NAME).read_text()
    assert run("sha256sum -c SHA256SUMS", bundle).returncode == 0

    openssl = next(line.strip() for line in text.splitlines() if "openssl pkeyutl" in line)
    result = run(openssl, bundle)
    assert result.returncode == 0, result.stderr
    assert "Signature Verified Successfully" in result.stdout

    fingerprint = next(line.strip() for line in text.splitlines() if "-outform DER" in line)
    kid = json.loads((bundle / "manifest.json").read_bytes())["recorder"]["key_id"]
    assert run(fingerprint, bundle).stdout.split()[0] == kid

    python_check = next(line.strip() for line in text.splitlines() if "python3 -c" in line)
    result = run(python_check, bundle)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("OK") == 3
    assert "FAILED" not in result.stdout

    sealed = parse_jsonl((bundle / "custody.jsonl").read_bytes().splitlines())[1]
    digest = hashlib.sha256((bundle / "manifest.json").read_bytes()).hexdigest()
    assert sealed.details["manifest_sha256"] == digest


def test_verify_txt_jq_recipes(bundle: Path) -> None:
    text = (bundle / VERIFY_NAME).read_text()
    segments = next(line.strip() for line in text.splitlines() if "jq -r '.segments" in line)
    assert run(segments, bundle).returncode == 0
    walk = command_block(text, "prev=0000", "done < custody.jsonl")
    result = run(walk, bundle)
    assert result.stdout.split("\n")[:3] == ["seq 1 OK", "seq 2 OK", "seq 3 OK"]


def test_openssl_rejects_a_tampered_manifest(bundle: Path, trusted: frozenset[str]) -> None:
    manifest = bundle / "manifest.json"
    manifest.chmod(0o644)
    manifest.write_bytes(manifest.read_bytes().replace(b"CR/12345/24", b"CR/12345/25"))
    text = (bundle / VERIFY_NAME).read_text()
    openssl = next(line.strip() for line in text.splitlines() if "openssl pkeyutl" in line)
    assert run(openssl, bundle).returncode != 0
    assert run("sha256sum -c SHA256SUMS", bundle).returncode != 0
    wheres = [f.where for f in verify_bundle(bundle, trusted_key_ids=trusted).failures]
    assert "manifest.sig" in wheres
    assert "manifest field 'crime_reference'" in wheres
    assert "SHA256SUMS line 5 ('manifest.json')" in wheres


def test_export_requires_justification_and_recipient(
    store: LocalEvidenceStore,
    sealed: SealedStatement,
    tmp_path: Path,
    signing_key: Ed25519PrivateKey,
    trusted: frozenset[str],
) -> None:
    export = functools.partial(
        export_bundle, store, EVIDENCE_ID, tmp_path / "b", signing_key=signing_key
    )
    with pytest.raises(JustificationRequiredError):
        export(actor="u", justification="", recipient="CPS", trusted_key_ids=trusted)
    with pytest.raises(JustificationRequiredError):
        export(actor="u", justification="why", recipient=" ", trusted_key_ids=trusted)
    assert not (tmp_path / "b").exists()
    assert len(store.custody.entries_for(EVIDENCE_ID)) == 2


def test_export_refuses_tampered_evidence(
    store: LocalEvidenceStore,
    sealed: SealedStatement,
    tmp_path: Path,
    signing_key: Ed25519PrivateKey,
    trusted: frozenset[str],
) -> None:
    path = store.directory_of(EVIDENCE_ID) / "masters" / "segment-00001.mp4"
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError) as info:
        export_bundle(
            store,
            EVIDENCE_ID,
            tmp_path / "b",
            actor="u",
            justification="j",
            recipient="CPS",
            signing_key=signing_key,
            trusted_key_ids=trusted,
        )
    assert info.value.where == "segment segment-00001.mp4"
