"""One disclosure bundle for a whole visit: its recording, statements, stills and uploads.

Each item is exported as the ordinary bundle it would be on its own
(:func:`evidence.export.export_bundle`, in a folder named by its evidence id), so each one is
checked exactly as before. Around them, ``visit-bundle.json`` lists the items (evidence id,
kind, and the SHA-256 of the item's own ``SHA256SUMS``), signed with the platform's key in
``visit-bundle.sig``, and a top-level ``SHA256SUMS`` covers every file. A verifier therefore
notices an item added, removed or swapped, not only a changed byte inside one, and every
failure is named with the item it is in.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.canonical import JsonValue, canonical_json
from core.evidence_errors import IntegrityError, KeyFileError
from evidence.bundle import PLATFORM_KEY_NAME
from evidence.export import export_bundle
from evidence.hashing import HashingFileWriter, fsync_directory, hash_file
from evidence.keys import key_id, load_public_key_pem, public_key_pem
from evidence.store import EvidenceStore
from evidence.verify import SUMS_NAME, VerificationReport, verify_bundle

INDEX_NAME = "visit-bundle.json"
INDEX_SIG_NAME = "visit-bundle.sig"
INDEX_FORMAT = "evr-visit-bundle/1"


def _write(path: Path, data: bytes) -> None:
    with HashingFileWriter(path) as out:
        out.write(data)


def export_visit_bundle(
    store: EvidenceStore,
    items: Sequence[tuple[str, str]],
    destination: Path,
    *,
    visit_id: str,
    actor: str,
    justification: str,
    recipient: str,
    signing_key: Ed25519PrivateKey,
    trusted_key_ids: Collection[str],
) -> Path:
    """Export every ``(evidence_id, kind)`` of a visit into the new folder ``destination``.

    Each item is verified and logged (custody ``exported``) by ``export_bundle``; an item that
    fails verification stops the export with its :class:`IntegrityError`.
    """
    if not items:
        raise ValueError("a visit bundle needs at least one sealed item")
    destination.mkdir(mode=0o700, parents=True, exist_ok=False)
    listed: list[JsonValue] = []
    for evidence_id, kind in items:
        folder = export_bundle(
            store,
            evidence_id,
            destination / evidence_id,
            actor=actor,
            justification=justification,
            recipient=recipient,
            signing_key=signing_key,
            trusted_key_ids=trusted_key_ids,
        )
        listed.append(
            {
                "evidence_id": evidence_id,
                "kind": kind,
                "sums_sha256": hash_file(folder / SUMS_NAME).sha256,
            }
        )
    index = canonical_json(
        {
            "format": INDEX_FORMAT,
            "visit_id": visit_id,
            "exported_at": datetime.now(UTC).isoformat(),
            "recipient": recipient,
            "items": listed,
        }
    )
    _write(destination / INDEX_NAME, index)
    _write(destination / INDEX_SIG_NAME, signing_key.sign(index))
    _write(destination / PLATFORM_KEY_NAME, public_key_pem(signing_key.public_key()))
    files = sorted(p for p in destination.rglob("*") if p.is_file())
    sums = "".join(
        f"{hash_file(p).sha256}  {p.relative_to(destination).as_posix()}\n" for p in files
    )
    _write(destination / SUMS_NAME, sums.encode("utf-8"))
    (destination / SUMS_NAME).chmod(0o444)
    for path in (destination / INDEX_NAME, destination / INDEX_SIG_NAME):
        path.chmod(0o444)
    fsync_directory(destination)
    return destination


def is_visit_bundle(directory: Path) -> bool:
    return (directory / INDEX_NAME).is_file()


def _index(
    report: VerificationReport, directory: Path, trusted: Collection[str]
) -> list[dict[str, object]]:
    try:
        data = (directory / INDEX_NAME).read_bytes()
        signature = (directory / INDEX_SIG_NAME).read_bytes()
        public = load_public_key_pem((directory / PLATFORM_KEY_NAME).read_bytes())
    except (OSError, KeyFileError) as exc:
        report.fail(INDEX_NAME, f"cannot be read with its signature and key: {exc}")
        return []
    kid = key_id(public)
    if kid not in trusted:
        report.fail(PLATFORM_KEY_NAME, f"key id {kid} is not a trusted platform key")
    try:
        public.verify(signature, data)
        report.passed.append(f"{INDEX_NAME}: valid Ed25519 signature by key {kid}")
    except InvalidSignature:
        report.fail(INDEX_SIG_NAME, f"Ed25519 signature does not match {INDEX_NAME}")
    try:
        decoded = json.loads(data)
        items = decoded["items"]
        assert isinstance(items, list)
    except (ValueError, KeyError, AssertionError):
        report.fail(INDEX_NAME, "not a visit bundle index")
        return []
    return [i for i in items if isinstance(i, dict)]


def verify_visit_bundle(directory: Path, *, trusted_key_ids: Collection[str]) -> VerificationReport:
    """Verify every item as its own bundle, the signed index, and the top ``SHA256SUMS``.

    Failures inside an item are reported as ``item <evidence id> (<kind>): <where>``.
    """
    report = VerificationReport(directory)
    items = _index(report, directory, trusted_key_ids)
    listed = set()
    for item in items:
        evidence_id, kind = str(item.get("evidence_id")), str(item.get("kind"))
        listed.add(evidence_id)
        folder = directory / evidence_id
        label = f"item {evidence_id} ({kind})"
        if "/" in evidence_id or evidence_id.startswith(".") or not folder.is_dir():
            report.fail(label, "listed in the index but missing")
            continue
        inner = verify_bundle(folder, trusted_key_ids=trusted_key_ids)
        report.passed += [f"{label}: {line}" for line in inner.passed]
        report.failures += [
            IntegrityError(f"{label}: {f.where}", f.message) for f in inner.failures
        ]
        sums = folder / SUMS_NAME
        expected = str(item.get("sums_sha256", ""))
        if sums.is_file() and not hmac.compare_digest(hash_file(sums).sha256, expected):
            report.fail(f"{label}: {SUMS_NAME}", "differs from the one the signed index lists")
    for extra in sorted(p.name for p in directory.iterdir() if p.is_dir()):
        if extra not in listed:
            report.fail(f"item {extra}", "present but not listed in the signed index")
    top = directory / SUMS_NAME
    if not top.is_file():
        report.fail(SUMS_NAME, "missing")
        return report
    for number, line in enumerate(top.read_text("utf-8", "replace").splitlines(), start=1):
        expected, _, name = line.partition("  ")
        path = directory / name
        where = f"{SUMS_NAME} line {number} ({name})"
        if not name or ".." in Path(name).parts or not path.is_file():
            report.fail(where, "names no file in the bundle")
        elif not hmac.compare_digest(hash_file(path).sha256, expected.lower()):
            report.fail(where, "SHA-256 does not match")
    return report
