"""Write-once storage for master recordings, with retention and logged deletion.

Layout of a :class:`LocalEvidenceStore` rooted at ``root``::

    evidence/<evidence_id>/masters/segment-00001.mp4   master segments (0444)
    evidence/<evidence_id>/manifest.json                sealed manifest (0444)
    evidence/<evidence_id>/manifest.sig                 Ed25519 signature (0444)
    evidence/<evidence_id>/recorder-public.pem          key that signed it (0444)
    custody/<evidence_id>.jsonl                         chain of custody (outlives deletion;
                                                        the database chain in the platform)

An item is assembled in ``evidence/.partial-<evidence_id>/`` beside its final place and renamed
into place by :meth:`LocalEvidenceStore.seal` only once complete (one rename on one
filesystem), so an item under ``evidence/<evidence_id>/`` is always whole. A write that fails
(a full disk mid-copy) removes the partial folder.

Folders are 0700. Retention state (review date, legal hold, pending requests) is read from the
custody chain, never from a file beside the item.

Write-once semantics (the retention policy itself is :mod:`evidence.retention`):

* every object is created once (``O_EXCL``) and made read-only; putting a name that
  exists raises :class:`ObjectExistsError`, and nothing can be added after sealing;
* deletion follows the retention policy, and appends a ``deleted`` custody entry *before*
  removing files, so an interrupted deletion is visible in the log and can simply be
  repeated;
* an evidence id whose custody log exists but whose files are gone (deleted) cannot be
  reused.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol

from core.custody import CustodyEntry, CustodyEvent, CustodyLog, JsonlCustodyLog
from core.custody import validate_evidence_id as _valid_id
from core.evidence_errors import EvidenceError, JustificationRequiredError, ObjectExistsError
from core.recording_settings import DEFAULT_REVIEW_MINIMUM_YEARS
from evidence import retention as policy
from evidence.hashing import (
    FileDigest,
    HashingFileWriter,
    copy_verified,
    fsync_directory,
    private_directory,
)
from evidence.retention import DEFAULT_DELETE_ROLES, RETENTION_NAME, Retention, RetentionAction

MASTERS_DIR = "masters"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
PUBLIC_KEY_NAME = "recorder-public.pem"
PARTIAL_PREFIX = ".partial-"
_OBJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
_READ_ONLY_FILE, _READ_ONLY_DIR, _WRITABLE_DIR = 0o444, 0o500, 0o700


@dataclass(frozen=True)
class StoreCapacity:
    """Free and total bytes of the filesystem holding the store."""

    free_bytes: int
    total_bytes: int

    @property
    def used_fraction(self) -> float:
        return 1.0 - self.free_bytes / self.total_bytes if self.total_bytes else 1.0


class EvidenceStore(Protocol):
    """Write-once evidence storage. See :class:`LocalEvidenceStore` for the semantics."""

    @property
    def custody(self) -> CustodyLog: ...

    def put_master(self, evidence_id: str, source: Path, *, sha256: str) -> FileDigest:
        """Copy a master segment in, verifying it against its acquisition hash."""
        ...

    def put_object(self, evidence_id: str, name: str, data: bytes) -> FileDigest:
        """Store a small sealed object (manifest, signature, public key)."""
        ...

    def seal(self, evidence_id: str) -> None:
        """Make the item read-only; nothing can be added afterwards."""
        ...

    def directory_of(self, evidence_id: str) -> Path:
        """Where the item's files are, for verification and export (no access logged)."""
        ...

    def view(self, evidence_id: str, *, actor: str, justification: str) -> Path:
        """Log a justified consultation and return the item's directory."""
        ...

    def retention(self, evidence_id: str) -> Retention:
        """Current retention state, from the custody chain."""
        ...

    def set_review_date(
        self, evidence_id: str, review_date: date, *, category: str, actor: str, reason: str
    ) -> None: ...

    def set_legal_hold(self, evidence_id: str, hold: bool, *, actor: str, reason: str) -> None: ...

    def request(
        self, evidence_id: str, action: RetentionAction, *, actor: str, role: str, reason: str
    ) -> CustodyEntry: ...

    def delete(
        self, evidence_id: str, *, actor: str, role: str, reason: str, today: date | None = None
    ) -> CustodyEntry: ...

    def capacity(self) -> StoreCapacity: ...


class LocalEvidenceStore(policy.RetentionRequests):
    """An :class:`EvidenceStore` on a local (or mounted) filesystem; see module docstring."""

    def __init__(
        self,
        root: Path,
        *,
        custody: CustodyLog | None = None,
        delete_roles: frozenset[str] = DEFAULT_DELETE_ROLES,
        review_minimum_years: Mapping[str, int] = DEFAULT_REVIEW_MINIMUM_YEARS,
    ) -> None:
        self.root = root
        self._review_minimum_years = review_minimum_years
        private_directory(root)
        private_directory(root / "evidence")
        self._custody: CustodyLog = custody or JsonlCustodyLog(private_directory(root / "custody"))
        self._delete_roles = delete_roles

    @property
    def custody(self) -> CustodyLog:
        """The custody log every access and retention decision is written to."""
        return self._custody

    def directory_of(self, evidence_id: str) -> Path:
        """See :meth:`EvidenceStore.directory_of`."""
        return self.root / "evidence" / _valid_id(evidence_id)

    def is_sealed(self, evidence_id: str) -> bool:
        """True once :meth:`seal` ran (the item is in its final place only when sealed)."""
        return (self.directory_of(evidence_id) / SIGNATURE_NAME).exists()

    def partial_directory_of(self, evidence_id: str) -> Path:
        """Where an item is assembled before :meth:`seal` renames it into place."""
        return self.root / "evidence" / f"{PARTIAL_PREFIX}{_valid_id(evidence_id)}"

    # -- writing ---------------------------------------------------------------------------

    def _writable_dir(self, evidence_id: str, sub: str | None = None) -> Path:
        if self.directory_of(evidence_id).exists():
            raise ObjectExistsError(f"evidence {evidence_id} is sealed; nothing can be added")
        if self._custody.entries_for(evidence_id):
            raise ObjectExistsError(f"evidence id {evidence_id} was used before; not reusing it")
        directory = self.partial_directory_of(evidence_id)
        target = directory / sub if sub else directory
        target.mkdir(mode=0o700, parents=True, exist_ok=True)
        return target

    def _discard_partial(self, evidence_id: str) -> None:
        # A failed write (disk full, I/O error) leaves nothing half stored: the partial
        # folder goes, and the item can be sealed again from its spool.
        partial = self.partial_directory_of(evidence_id)
        if partial.exists():
            for sub in (partial, *(p for p in partial.rglob("*") if p.is_dir())):
                sub.chmod(_WRITABLE_DIR)
            shutil.rmtree(partial)

    @staticmethod
    def _checked_name(name: str) -> str:
        if not _OBJECT_NAME.match(name) or name == RETENTION_NAME:
            raise ValueError(f"invalid object name {name!r}")
        return name

    def put_master(self, evidence_id: str, source: Path, *, sha256: str) -> FileDigest:
        """Copy ``source`` into ``masters/``, re-hashing it (re-verify at every transfer).

        Raises :class:`ObjectExistsError` if the name exists, :class:`IntegrityError` if
        the copy does not match ``sha256`` (the bad copy is kept, unsealed, for
        investigation), and ``OSError`` (after removing the partial item) if writing fails.
        """
        target = self._writable_dir(evidence_id, MASTERS_DIR) / self._checked_name(source.name)
        try:
            digest = copy_verified(source, target, expected_sha256=sha256)
        except FileExistsError:
            raise ObjectExistsError(f"{evidence_id}/{MASTERS_DIR}/{source.name} exists") from None
        except OSError:
            self._discard_partial(evidence_id)
            raise
        target.chmod(_READ_ONLY_FILE)
        return digest

    def put_object(self, evidence_id: str, name: str, data: bytes) -> FileDigest:
        """Store ``data`` as ``name`` (write-once, then 0444)."""
        target = self._writable_dir(evidence_id) / self._checked_name(name)
        try:
            with HashingFileWriter(target) as out:
                out.write(data)
        except FileExistsError:
            raise ObjectExistsError(f"{evidence_id}/{name} exists") from None
        except OSError:
            self._discard_partial(evidence_id)
            raise
        target.chmod(_READ_ONLY_FILE)
        return out.close()

    def seal(self, evidence_id: str) -> None:
        """Make the masters read-only and rename the complete item into its final place.

        Requires the signature to be stored. Nothing can be added afterwards.
        """
        partial = self.partial_directory_of(evidence_id)
        if self.is_sealed(evidence_id):
            raise ObjectExistsError(f"evidence {evidence_id} is sealed already")
        if not (partial / SIGNATURE_NAME).exists():
            raise EvidenceError(f"{evidence_id} has no {SIGNATURE_NAME}; sign before sealing")
        try:
            masters = partial / MASTERS_DIR
            if masters.exists():
                fsync_directory(masters)
                masters.chmod(_READ_ONLY_DIR)
            fsync_directory(partial)
            # rename(2) within one filesystem: the item appears whole or not at all.
            partial.rename(self.directory_of(evidence_id))
            fsync_directory(self.root / "evidence")
        except OSError:
            self._discard_partial(evidence_id)
            raise

    # -- access ----------------------------------------------------------------------------

    def view(self, evidence_id: str, *, actor: str, justification: str) -> Path:
        """See :meth:`EvidenceStore.view`; a blank justification is refused."""
        if not justification.strip():
            raise JustificationRequiredError("viewing evidence requires a justification")
        directory = self.directory_of(evidence_id)
        if not directory.exists():
            raise EvidenceError(f"no evidence {evidence_id}")
        self._custody.append(
            evidence_id=evidence_id, event=CustodyEvent.VIEWED, actor=actor, reason=justification
        )
        return directory

    # -- retention -------------------------------------------------------------------------

    def retention(self, evidence_id: str) -> Retention:
        """Current retention state, from the custody chain (defaults: no date, no hold)."""
        return policy.retention_of(self._custody.entries_for(evidence_id))

    def _require_item(self, evidence_id: str, reason: str, what: str) -> Retention:
        policy.require_reason(reason, what)
        if not self.directory_of(evidence_id).exists():
            raise EvidenceError(f"no evidence {evidence_id}")
        return self.retention(evidence_id)

    def set_review_date(
        self, evidence_id: str, review_date: date, *, category: str, actor: str, reason: str
    ) -> None:
        """Set the MoPI review date (the earliest date deletion may be considered), no
        earlier than ``category``'s minimum after sealing."""
        current = self._require_item(evidence_id, reason, "changing retention")
        policy.record_review_date(
            self._custody,
            evidence_id,
            current,
            review_date,
            category=category,
            actor=actor,
            reason=reason,
            minimum_years=self._review_minimum_years,
        )

    def set_legal_hold(self, evidence_id: str, hold: bool, *, actor: str, reason: str) -> None:
        """Place a legal hold, or lift one as the second person (see :meth:`request`)."""
        current = self._require_item(evidence_id, reason, "a legal hold decision")
        policy.record_legal_hold(
            self._custody, evidence_id, current, hold, actor=actor, reason=reason
        )

    def delete(
        self, evidence_id: str, *, actor: str, role: str, reason: str, today: date | None = None
    ) -> CustodyEntry:
        """Delete an item's files; the custody log is kept. See :mod:`evidence.retention`.

        Raises :class:`AuthorisationError` (role), :class:`JustificationRequiredError`
        (blank reason) or :class:`RetentionError` (legal hold, no or future review date, or
        no pending deletion request by another person).
        """
        policy.check_delete_role(role, self._delete_roles)
        current = self._require_item(evidence_id, reason, "deletion")
        policy.check_deletable(evidence_id, current, today=today)
        request = policy.approved_request(evidence_id, current, RetentionAction.DELETE, actor=actor)
        directory = self.directory_of(evidence_id)
        removed = sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())
        entry = self._custody.append(
            evidence_id=evidence_id,
            event=CustodyEvent.DELETED,
            actor=actor,
            reason=reason,
            details={
                "role": role,
                "removed": removed,
                "request_seq": request.seq,
                "requested_by": request.actor,
            },
        )
        for sub in (directory, *(p for p in directory.rglob("*") if p.is_dir())):
            sub.chmod(_WRITABLE_DIR)
        shutil.rmtree(directory)
        fsync_directory(directory.parent)
        return entry

    def capacity(self) -> StoreCapacity:
        """Free/total bytes available to this (unprivileged) store, for a "nearly full" alert."""
        st = os.statvfs(self.root)
        return StoreCapacity(
            free_bytes=st.f_bavail * st.f_frsize, total_bytes=st.f_blocks * st.f_frsize
        )


def is_read_only(path: Path) -> bool:
    """True if nobody has write permission on ``path``."""
    return not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
