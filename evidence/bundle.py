"""The signed statement of a disclosure bundle: what it contains, and the custody head.

The manifest is signed when a statement is sealed, long before any export, so it cannot
name the custody entries that follow (views, exports). ``bundle.json`` does: the head of
the custody extract (seq and hash, which through the hash links covers every entry), the
manifest's SHA-256 and the SHA-256 of every other file, signed with the platform's key in
``bundle.sig`` (raw Ed25519, like ``manifest.sig``). Whoever edits, drops or re-hashes a
custody entry, or swaps a file, must forge that signature too. A verifier accepts only keys
whose fingerprint the force publishes, never the key a bundle carries about itself.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Self

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.canonical import JsonValue, canonical_json
from core.custody import CustodyEntry
from core.evidence_errors import IntegrityError, KeyFileError
from evidence.hashing import hash_file
from evidence.keys import key_id, load_public_key_pem
from evidence.manifest import verify_manifest_signature

BUNDLE_NAME = "bundle.json"
BUNDLE_SIG_NAME = "bundle.sig"
PLATFORM_KEY_NAME = "platform-public.pem"
BUNDLE_FORMAT = "evr-bundle/1"


def safe_relative(name: str) -> PurePosixPath:
    """``name`` as a relative path inside a bundle, or :class:`ValueError`.

    Absolute paths, ``..``, backslashes and empty parts are refused, so a list of names can
    never make a verifier read (or vouch for) a file outside the bundle.
    """
    path = PurePosixPath(name)
    if (
        not name
        or "\\" in name
        or "\x00" in name
        or path.is_absolute()
        or any(part in ("", ".", "..") for part in name.split("/"))
    ):
        raise ValueError(f"{name!r} is not a relative path inside the bundle")
    return path


def inside(directory: Path, name: str) -> Path:
    """The regular file ``name`` inside ``directory`` (no symlinks out), or ValueError."""
    path = directory / safe_relative(name)
    if path.is_symlink() or not path.resolve().is_relative_to(directory.resolve()):
        raise ValueError(f"{name!r} leads outside the bundle")
    return path


@dataclass(frozen=True)
class BundleStatement:
    """What the platform signs about a bundle."""

    evidence_id: str
    exported_at: str
    manifest_sha256: str
    custody_seq: int
    custody_hash: str
    key_id: str
    files: Mapping[str, str]
    format: str = BUNDLE_FORMAT

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "format": self.format,
            "evidence_id": self.evidence_id,
            "exported_at": self.exported_at,
            "manifest_sha256": self.manifest_sha256,
            "custody_head": {"seq": self.custody_seq, "hash": self.custody_hash},
            "key_id": self.key_id,
            "files": dict(self.files),
        }

    def canonical_bytes(self) -> bytes:
        """The exact bytes stored as ``bundle.json`` and signed."""
        return canonical_json(self.to_json())

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Parse ``bundle.json``, raising :class:`IntegrityError` at the bad field."""
        try:
            raw: Any = json.loads(data.decode("utf-8"))
            head = raw["custody_head"]
            files = raw["files"]
            statement = cls(
                format=str(raw["format"]),
                evidence_id=str(raw["evidence_id"]),
                exported_at=str(raw["exported_at"]),
                manifest_sha256=str(raw["manifest_sha256"]),
                custody_seq=int(head["seq"]),
                custody_hash=str(head["hash"]),
                key_id=str(raw["key_id"]),
                files={str(k): str(v) for k, v in files.items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise IntegrityError(BUNDLE_NAME, f"malformed: {exc!r}") from exc
        if statement.format != BUNDLE_FORMAT:
            raise IntegrityError(BUNDLE_NAME, f"unknown format {statement.format!r}")
        return statement


def sign_statement(statement: BundleStatement, key: Ed25519PrivateKey) -> bytes:
    """Raw Ed25519 signature over ``statement``'s canonical bytes."""
    return key.sign(statement.canonical_bytes())


def check_trusted(kid: str, trusted: Collection[str], what: str) -> str | None:
    """A failure message unless ``kid`` is one of the ``trusted`` fingerprints."""
    if not trusted:
        return f"no trusted key fingerprint given: a {what} cannot be trusted without one"
    if not any(hmac.compare_digest(kid, t) for t in trusted):
        return (
            f"{what} is signed by key {kid}, which is not a trusted key "
            f"(trusted: {', '.join(sorted(trusted))}); it may be forged"
        )
    return None


def verify_statement(
    directory: Path,
    custody: list[CustodyEntry],
    *,
    manifest_sha256: str | None,
    trusted: Collection[str],
) -> tuple[list[str], list[IntegrityError]]:
    """Check ``bundle.json``/``bundle.sig`` in ``directory``: signature by a trusted key,
    custody head, manifest hash and every listed file; (passed, failures)."""
    passed: list[str] = []
    failures: list[IntegrityError] = []
    try:
        data = (directory / BUNDLE_NAME).read_bytes()
        signature = (directory / BUNDLE_SIG_NAME).read_bytes()
        pem = (directory / PLATFORM_KEY_NAME).read_bytes()
    except OSError as exc:
        return passed, [IntegrityError(BUNDLE_NAME, f"missing signed bundle statement: {exc}")]
    try:
        public = load_public_key_pem(pem)
    except KeyFileError as exc:
        return passed, [IntegrityError(PLATFORM_KEY_NAME, str(exc))]
    kid = key_id(public)
    problem = check_trusted(kid, trusted, "bundle")
    if problem is not None:
        failures.append(IntegrityError(BUNDLE_SIG_NAME, problem))
    try:
        verify_manifest_signature(data, signature, public)
    except IntegrityError:
        failures.append(IntegrityError(BUNDLE_SIG_NAME, "signature does not match bundle.json"))
        return passed, failures
    passed.append(f"bundle.sig: valid Ed25519 signature by key {kid}")
    try:
        statement = BundleStatement.from_bytes(data)
    except IntegrityError as exc:
        return passed, [*failures, exc]
    if statement.key_id != kid:
        failures.append(IntegrityError(BUNDLE_NAME, "key_id is not the key that signed it"))
    head = custody[-1] if custody else None
    if (
        head is None
        or head.seq != statement.custody_seq
        or not hmac.compare_digest(head.hash, statement.custody_hash)
    ):
        failures.append(
            IntegrityError(
                "custody.jsonl",
                f"its head differs from the signed head (seq {statement.custody_seq}): "
                "entries were added, removed or rewritten after export",
            )
        )
    else:
        passed.append(f"custody head seq {head.seq} matches the signed bundle statement")
    if manifest_sha256 is None or not hmac.compare_digest(
        manifest_sha256, statement.manifest_sha256
    ):
        failures.append(IntegrityError("manifest.json", "differs from the signed bundle statement"))
    failures += _check_files(directory, statement)
    if not failures:
        passed.append(f"bundle.json: {len(statement.files)} files match")
    return passed, failures


def _check_files(directory: Path, statement: BundleStatement) -> list[IntegrityError]:
    """Every file is listed in ``statement``, and every listed file is there, unchanged."""
    failures: list[IntegrityError] = []
    unsigned = {BUNDLE_NAME, BUNDLE_SIG_NAME, "SHA256SUMS"}
    present = {
        p.relative_to(directory).as_posix()
        for p in directory.rglob("*")
        if p.is_file() or p.is_symlink()
    }
    for name in sorted(present - unsigned - set(statement.files)):
        failures.append(IntegrityError(name, "present but not in the signed bundle statement"))
    for name, digest in sorted(statement.files.items()):
        try:
            path = inside(directory, name)
        except ValueError as exc:
            failures.append(IntegrityError(BUNDLE_NAME, str(exc)))
            continue
        if not path.is_file():
            failures.append(IntegrityError(name, "in the signed bundle statement, but missing"))
        elif not hmac.compare_digest(hash_file(path).sha256, digest):
            failures.append(IntegrityError(name, "SHA-256 differs from the signed statement"))
    return failures
