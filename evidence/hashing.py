"""Write-once files hashed while they are written.

The digest is computed over exactly the bytes handed to the kernel, so the recorded hash
is the hash at acquisition (ISO/IEC 27037) and the file is never re-read to produce it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from core.evidence_errors import IntegrityError
from evidence import progress

_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileDigest:
    """The SHA-256 (lower-case hex) and byte count of a file."""

    path: Path
    sha256: str
    size: int


def fsync_directory(directory: Path) -> None:
    """Flush a directory entry so a newly created or removed name survives power loss."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def private_directory(directory: Path) -> Path:
    """Make ``directory`` (and missing parents) and restrict it to its owner (0700):
    evidence, custody and exports are personal data, not for other host users."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    return directory


class HashingFileWriter:
    """A binary, append-only, non-seekable file writer that hashes as it writes.

    The file is created with ``O_EXCL`` so an existing file is never overwritten, and it
    deliberately has no ``seek``/``tell``: a muxer that seeks back would make a streaming
    hash meaningless, and without them PyAV treats the output as a pipe.
    """

    def __init__(self, path: Path, *, mode: int = 0o640) -> None:
        self.path = path
        # O_EXCL: refuse to clobber; a master is created once.
        self._fd: int | None = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode
        )
        self._hash = hashlib.sha256()
        self._size = 0
        self._digest: FileDigest | None = None

    @property
    def bytes_written(self) -> int:
        """Bytes written so far."""
        return self._size

    def writable(self) -> bool:
        """Always true while open; PyAV checks this before muxing."""
        return self._fd is not None

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Write all of ``data`` and fold it into the running hash."""
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        view = memoryview(data).cast("B")
        self._hash.update(view)
        written = 0
        while written < len(view):
            written += os.write(self._fd, view[written:])
        self._size += written
        return written

    def flush(self) -> None:
        """Nothing is buffered in user space; present for file-like callers."""

    def close(self) -> FileDigest:
        """fsync the file and its directory, close it and return its digest (idempotent)."""
        if self._digest is not None:
            return self._digest
        if self._fd is None:
            raise ValueError(f"{self.path} was aborted")
        fd, self._fd = self._fd, None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_directory(self.path.parent)
        self._digest = FileDigest(self.path, self._hash.hexdigest(), self._size)
        return self._digest

    def abort(self) -> None:
        """Close without fsync after a failure; the partial file is left for inspection."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def hash_file(path: Path) -> FileDigest:
    """Hash an existing file by streaming it (used to re-verify at every transfer)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            progress.advance(len(chunk))
    return FileDigest(path, digest.hexdigest(), size)


def copy_verified(source: Path, destination: Path, *, expected_sha256: str) -> FileDigest:
    """Copy ``source`` to a new file, hashing the bytes written, and check the hash.

    Raises :class:`IntegrityError` when the copy's hash differs from ``expected_sha256``;
    the bad copy is kept for investigation.
    """
    with HashingFileWriter(destination) as out, source.open("rb") as src:
        while chunk := src.read(_CHUNK):
            out.write(chunk)
            progress.advance(len(chunk))
    result = out.close()
    if not hmac.compare_digest(result.sha256, expected_sha256.lower()):
        raise IntegrityError(
            f"file {source.name}",
            f"SHA-256 {result.sha256} does not match recorded {expected_sha256}",
        )
    return result
