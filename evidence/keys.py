"""Ed25519 signing keys for the recorder.

The private key lives in a PEM file created with mode 0600 and never overwritten. The key
id is the SHA-256 of the public key's DER SubjectPublicKeyInfo, which anyone can recompute
with ``openssl pkey -pubin -in recorder-public.pem -outform DER | sha256sum``.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.evidence_errors import KeyFileError
from core.fingerprint import key_id
from evidence.hashing import fsync_directory

__all__ = [
    "generate_signing_key",
    "key_id",
    "load_or_create_signing_key",
    "load_public_key_pem",
    "load_signing_key",
    "public_key_pem",
    "trusted_fingerprints",
]


def generate_signing_key(path: Path, *, password: bytes | None = None) -> Ed25519PrivateKey:
    """Create a new key at ``path`` (mode 0600, atomic, refusing to replace an existing one)."""
    key = Ed25519PrivateKey.generate()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        # link() is atomic and fails if the target exists: a key is never replaced.
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise KeyFileError(f"{path} already exists; refusing to replace a key") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    fsync_directory(path.parent)
    return key


def load_signing_key(path: Path, *, password: bytes | None = None) -> Ed25519PrivateKey:
    """Load the key at ``path``; refuses files readable by group or others."""
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read signing key {path}: {exc}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"{path} has mode {stat.S_IMODE(mode):o}; it must be 0600")
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"{path} is not a usable PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 key")
    return key


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM, the form ``openssl pkeyutl -pubin`` reads."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key_pem(data: bytes) -> Ed25519PublicKey:
    """Parse a public key PEM, refusing anything but Ed25519."""
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError("public key is not Ed25519")
    return key


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """The platform's signing key at ``path``, created (0600) if absent.

    Two processes starting together (recorder and API) may both try to create it; the one
    that loses the race loads the winner's key instead.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(KeyFileError):
            return generate_signing_key(path)
    return load_signing_key(path)


def trusted_fingerprints(configured: tuple[str, ...], signing_key_path: Path) -> frozenset[str]:
    """The key fingerprints a deployment trusts: those it publishes in configuration, or
    failing that, only its own signing key's (never whatever key a bundle carries)."""
    if configured:
        return frozenset(configured)
    return frozenset({key_id(load_or_create_signing_key(signing_key_path).public_key())})
