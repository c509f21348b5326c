"""End-to-end verification of a sealed item: signature, segment hashes, custody chain.

Every check runs and every failure is reported with *where* it is, because an examiner
needs the full picture (a swapped segment and a broken chain are different stories).
Verification always needs the fingerprints of the keys the force publishes: a signature by
a key the evidence carries about itself proves nothing.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.canonical import JsonValue, sha256_hex
from core.custody import CustodyEntry, CustodyEvent, parse_jsonl, verify_chain
from core.evidence_errors import EvidenceError, IntegrityError, KeyFileError
from evidence.bundle import check_trusted, inside, verify_statement
from evidence.hashing import hash_file
from evidence.keys import key_id, load_public_key_pem
from evidence.manifest import Manifest, verify_manifest_signature
from evidence.store import (
    MANIFEST_NAME,
    MASTERS_DIR,
    PUBLIC_KEY_NAME,
    SIGNATURE_NAME,
    EvidenceStore,
)

CUSTODY_NAME = "custody.jsonl"
SUMS_NAME = "SHA256SUMS"


@dataclass
class VerificationReport:
    """What was checked and what failed; ``ok`` only if nothing failed."""

    directory: Path
    passed: list[str] = field(default_factory=list)
    failures: list[IntegrityError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, where: str, message: str) -> None:
        self.failures.append(IntegrityError(where, message))

    def raise_for_failure(self) -> None:
        """Raise the first failure, if any."""
        if self.failures:
            raise self.failures[0]


def _read(report: VerificationReport, path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError as exc:
        report.fail(path.name, f"cannot read: {exc.strerror}")
        return None


def _check_segments(report: VerificationReport, manifest: Manifest) -> None:
    masters = report.directory / MASTERS_DIR
    listed = {s.name for s in manifest.segments}
    for segment in manifest.segments:
        where = f"segment {segment.name}"
        path = masters / segment.name
        if not path.is_file():
            report.fail(where, "missing")
            continue
        digest = hash_file(path)
        if not hmac.compare_digest(digest.sha256, segment.sha256.lower()):
            report.fail(where, f"SHA-256 {digest.sha256} differs from manifest {segment.sha256}")
        elif digest.size != segment.bytes:
            report.fail(where, f"{digest.size} bytes, manifest says {segment.bytes}")
        else:
            report.passed.append(f"{where}: SHA-256 matches")
    if masters.is_dir():
        for extra in sorted(p.name for p in masters.iterdir() if p.name not in listed):
            report.fail(f"segment {extra}", "present but not listed in the manifest")


def _explain_manifest(
    report: VerificationReport,
    data: bytes,
    manifest: Manifest | None,
    sealed: CustodyEntry | None,
) -> None:
    """Compare manifest.json with the digests the ``sealed`` custody entry recorded."""
    if sealed is None:
        report.fail("custody", "no 'sealed' entry: manifest cannot be cross-checked")
        return
    recorded = sealed.details.get("manifest_sha256")
    if isinstance(recorded, str) and hmac.compare_digest(sha256_hex(data), recorded):
        report.passed.append(f"manifest.json: matches custody seq {sealed.seq}")
        return
    report.fail(MANIFEST_NAME, f"SHA-256 differs from the one sealed at custody seq {sealed.seq}")
    fields = sealed.details.get("manifest_fields")
    if manifest is None or not isinstance(fields, Mapping):
        return
    current: Mapping[str, JsonValue] = manifest.field_digests()
    for name in sorted(set(fields) | set(current)):
        then, now = fields.get(name), current.get(name)
        if not (isinstance(then, str) and isinstance(now, str)):
            report.fail(f"manifest field '{name}'", "added or removed since sealing")
        elif not hmac.compare_digest(then, now):
            report.fail(f"manifest field '{name}'", "changed since sealing")


def verify_directory(
    directory: Path,
    custody: Sequence[CustodyEntry],
    *,
    trusted_key_ids: Collection[str],
) -> VerificationReport:
    """Verify a store entry or bundle laid out as ``manifest.json``, ``masters/``, ...

    The manifest's signing key must be one of ``trusted_key_ids`` (key fingerprints);
    an empty collection fails, since then nothing says whose signature it is.
    """
    report = VerificationReport(directory)
    data = _read(report, directory / MANIFEST_NAME)
    signature = _read(report, directory / SIGNATURE_NAME)
    pem = _read(report, directory / PUBLIC_KEY_NAME)
    manifest: Manifest | None = None
    if data is not None:
        try:
            manifest = Manifest.from_bytes(data)
        except IntegrityError as exc:
            report.failures.append(exc)

    if data is not None and signature is not None and pem is not None:
        try:
            public = load_public_key_pem(pem)
        except KeyFileError as exc:
            report.fail(PUBLIC_KEY_NAME, str(exc))
        else:
            kid = key_id(public)
            if manifest is not None and not hmac.compare_digest(kid, manifest.recorder.key_id):
                report.fail(PUBLIC_KEY_NAME, f"key id {kid} is not the manifest's recorder.key_id")
            problem = check_trusted(kid, trusted_key_ids, "manifest")
            if problem is not None:
                report.fail(PUBLIC_KEY_NAME, problem)
            try:
                verify_manifest_signature(data, signature, public)
                report.passed.append(f"manifest.sig: valid Ed25519 signature by key {kid}")
            except IntegrityError as exc:
                report.failures.append(exc)

    if manifest is not None:
        _check_segments(report, manifest)

    evidence_id = manifest.evidence_id if manifest is not None else None
    try:
        verify_chain(custody, evidence_id=evidence_id)
        report.passed.append(f"custody: {len(custody)} entries, chain intact")
    except IntegrityError as exc:
        report.failures.append(exc)
    sealed = next((e for e in reversed(custody) if e.event is CustodyEvent.SEALED), None)
    if data is not None:
        _explain_manifest(report, data, manifest, sealed)
    return report


def _check_sums(report: VerificationReport) -> None:
    sums = _read(report, report.directory / SUMS_NAME)
    if sums is None:
        return
    for number, line in enumerate(sums.decode("utf-8", "replace").splitlines(), start=1):
        expected, _, name = line.partition("  ")
        where = f"{SUMS_NAME} line {number} ({name!r})"
        try:
            path = inside(report.directory, name)
        except ValueError as exc:
            report.fail(where, f"{exc}: only relative paths inside the bundle are accepted")
            continue
        if not path.is_file():
            report.fail(where, "names no file in the bundle")
        elif not hmac.compare_digest(hash_file(path).sha256, expected.lower()):
            report.fail(where, "SHA-256 does not match")


def verify_bundle(directory: Path, *, trusted_key_ids: Collection[str]) -> VerificationReport:
    """Verify an exported disclosure bundle: manifest, masters, custody extract, the
    platform's signed bundle statement (custody head, every file) and ``SHA256SUMS``.

    Both signatures must be by keys in ``trusted_key_ids``."""
    report = VerificationReport(directory)
    raw = _read(report, directory / CUSTODY_NAME)
    custody: list[CustodyEntry] = []
    if raw is not None:
        try:
            custody = parse_jsonl(raw.splitlines())
        except IntegrityError as exc:
            report.failures.append(exc)
    inner = verify_directory(directory, custody, trusted_key_ids=trusted_key_ids)
    report.passed += inner.passed
    report.failures += inner.failures
    manifest = _read(report, directory / MANIFEST_NAME)
    passed, failures = verify_statement(
        directory,
        custody,
        manifest_sha256=sha256_hex(manifest) if manifest is not None else None,
        trusted=trusted_key_ids,
    )
    report.passed += passed
    report.failures += failures
    _check_sums(report)
    return report


def verify_store_entry(
    store: EvidenceStore, evidence_id: str, *, trusted_key_ids: Collection[str]
) -> VerificationReport:
    """Verify an item in place against the store's custody log."""
    directory = store.directory_of(evidence_id)
    if not directory.is_dir():
        raise EvidenceError(f"no evidence {evidence_id} in the store")
    try:
        custody = store.custody.entries_for(evidence_id)
    except IntegrityError as exc:
        report = verify_directory(directory, [], trusted_key_ids=trusted_key_ids)
        report.failures.insert(0, exc)
        return report
    return verify_directory(directory, custody, trusted_key_ids=trusted_key_ids)
