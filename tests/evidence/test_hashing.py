"""HashingFileWriter: hash while writing, never overwrite, non-seekable."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from core.evidence_errors import IntegrityError
from evidence.hashing import HashingFileWriter, copy_verified, hash_file


def test_digest_matches_bytes_written(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    with HashingFileWriter(path) as out:
        out.write(b"abc")
        out.write(memoryview(b"def"))
        assert out.bytes_written == 6
    digest = out.close()
    assert digest.sha256 == hashlib.sha256(b"abcdef").hexdigest()
    assert digest.size == 6
    assert hash_file(path) == digest
    assert not hasattr(out, "seek")


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    path.write_bytes(b"original")
    with pytest.raises(FileExistsError):
        HashingFileWriter(path)
    assert path.read_bytes() == b"original"


def test_copy_verified_detects_a_mismatch(tmp_path: Path) -> None:
    source = tmp_path / "a"
    source.write_bytes(b"evidence")
    good = hashlib.sha256(b"evidence").hexdigest()
    assert copy_verified(source, tmp_path / "b", expected_sha256=good).sha256 == good
    with pytest.raises(IntegrityError) as info:
        copy_verified(source, tmp_path / "c", expected_sha256="0" * 64)
    assert info.value.where == "file a"
