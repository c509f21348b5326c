"""CLI: verify bundles and store entries, export, and say where verification fails."""

from __future__ import annotations

import io
from pathlib import Path

from evidence.cli import main
from evidence.seal import SealedStatement
from evidence.store import LocalEvidenceStore
from tests.evidence.conftest import EVIDENCE_ID


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_export_then_verify_bundle(
    store: LocalEvidenceStore, sealed: SealedStatement, tmp_path: Path, signing_key_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    code, text = cli(
        "export",
        EVIDENCE_ID,
        "--store",
        str(store.root),
        "--out",
        str(bundle),
        "--actor",
        "u-5",
        "--justification",
        "disclosure to defence",
        "--recipient",
        "Defence",
        "--signing-key",
        str(signing_key_path),
    )
    assert code == 0, text
    code, text = cli("verify", str(bundle), "--trusted-key-id", sealed.key_id)
    assert code == 0, text
    assert text.rstrip().endswith("VERIFIED")


def test_verify_store_entry_reports_where_it_fails(
    store: LocalEvidenceStore, sealed: SealedStatement
) -> None:
    code, text = cli("verify", str(store.directory_of(EVIDENCE_ID)), "--trusted-key", sealed.key_id)
    assert code == 0, text
    segment = store.directory_of(EVIDENCE_ID) / "masters" / "segment-00001.mp4"
    segment.chmod(0o644)
    segment.write_bytes(segment.read_bytes() + b"\x00")
    code, text = cli(
        "verify", "--store", str(store.root), EVIDENCE_ID, "--trusted-key", sealed.key_id
    )
    assert code == 1
    assert "FAIL  segment segment-00001.mp4: SHA-256" in text
    assert "NOT VERIFIED (1 failures)" in text


def test_export_without_justification_is_refused(
    store: LocalEvidenceStore, sealed: SealedStatement, tmp_path: Path, signing_key_path: Path
) -> None:
    code, _ = cli(
        "export",
        EVIDENCE_ID,
        "--store",
        str(store.root),
        "--out",
        str(tmp_path / "b"),
        "--actor",
        "u-5",
        "--justification",
        "",
        "--recipient",
        "Defence",
        "--signing-key",
        str(signing_key_path),
    )
    assert code == 1
    assert cli("verify", str(tmp_path / "nowhere"), "--trusted-key", sealed.key_id)[0] == 2
    assert cli("bogus")[0] == 2
