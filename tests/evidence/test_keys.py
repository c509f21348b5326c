"""Signing keys: 0600, never replaced, stable key id."""

from __future__ import annotations

import hashlib
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from core.evidence_errors import KeyFileError
from evidence.keys import (
    generate_signing_key,
    key_id,
    load_public_key_pem,
    load_signing_key,
    public_key_pem,
)


def test_generate_writes_0600_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "recorder.pem"
    key = generate_signing_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_signing_key(path)
    assert key_id(loaded.public_key()) == key_id(key.public_key())
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_never_replaces_an_existing_key(tmp_path: Path) -> None:
    path = tmp_path / "recorder.pem"
    generate_signing_key(path)
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="already exists"):
        generate_signing_key(path)
    assert path.read_bytes() == before


def test_refuses_a_group_readable_key(tmp_path: Path) -> None:
    path = tmp_path / "recorder.pem"
    generate_signing_key(path)
    path.chmod(0o640)
    with pytest.raises(KeyFileError, match="0600"):
        load_signing_key(path)


def test_password_protected_key(tmp_path: Path) -> None:
    path = tmp_path / "recorder.pem"
    generate_signing_key(path, password=b"s3cret")
    with pytest.raises(KeyFileError):
        load_signing_key(path)
    load_signing_key(path, password=b"s3cret")


def test_key_id_is_sha256_of_der_and_matches_openssl(tmp_path: Path) -> None:
    public = generate_signing_key(tmp_path / "k.pem").public_key()
    pem = public_key_pem(public)
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert key_id(public) == hashlib.sha256(der).hexdigest()
    assert key_id(load_public_key_pem(pem)) == key_id(public)
    (tmp_path / "pub.pem").write_bytes(pem)
    openssl_der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-in", str(tmp_path / "pub.pem"), "-outform", "DER"],
        capture_output=True,
        check=True,
    ).stdout
    assert hashlib.sha256(openssl_der).hexdigest() == key_id(public)
