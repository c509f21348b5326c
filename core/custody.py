"""Chain of custody: an append-only, hash-linked log per evidence item.

Each entry's ``hash`` is the SHA-256 of the canonical JSON of every other field, and its
``prev_hash`` is the previous entry's ``hash`` (64 zeros for the first). Altering,
removing or reordering any entry therefore breaks verification at a named ``seq``.
Removing entries from the *end* is only detectable against a head hash kept elsewhere
(e.g. the database or a previously exported extract).

Consultation and disclosure must carry a justification (DPA 2018 s.62), and disclosure
must name its recipient.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hmac
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, Self

from core.canonical import JsonValue, canonical_json, sha256_hex
from core.evidence_errors import IntegrityError, JustificationRequiredError
from core.utc import parse_utc, utc_iso

GENESIS_HASH = "0" * 64
_EVIDENCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def validate_evidence_id(evidence_id: str) -> str:
    """Return ``evidence_id`` if it is safe to use as a file name, else raise ValueError."""
    if not _EVIDENCE_ID.match(evidence_id):
        raise ValueError(f"invalid evidence id {evidence_id!r}: use [A-Za-z0-9._-], max 128")
    return evidence_id


class CustodyEvent(StrEnum):
    """What happened to the evidence."""

    CREATED = "created"
    SEALED = "sealed"
    VIEWED = "viewed"
    EXPORTED = "exported"
    RETENTION_CHANGED = "retention_changed"
    LEGAL_HOLD = "legal_hold"
    RETENTION_REQUESTED = "retention_requested"
    """Someone asks to lift a hold or delete; a second person approves by doing it."""
    DELETED = "deleted"


# Access and retention decisions must say why (DPA 2018 s.62, MoPI).
JUSTIFIED_EVENTS = frozenset(
    {
        CustodyEvent.VIEWED,
        CustodyEvent.EXPORTED,
        CustodyEvent.RETENTION_CHANGED,
        CustodyEvent.LEGAL_HOLD,
        CustodyEvent.RETENTION_REQUESTED,
        CustodyEvent.DELETED,
    }
)


@dataclass(frozen=True)
class CustodyEntry:
    """One custody event. ``hash`` covers every other field."""

    seq: int
    evidence_id: str
    event: CustodyEvent
    actor: str
    at: datetime
    reason: str
    details: Mapping[str, JsonValue] = field(default_factory=dict)
    prev_hash: str = GENESIS_HASH
    hash: str = ""

    def body(self) -> dict[str, JsonValue]:
        """Everything but ``hash``, as JSON values."""
        return {
            "seq": self.seq,
            "evidence_id": self.evidence_id,
            "event": self.event.value,
            "actor": self.actor,
            "at": utc_iso(self.at),
            "reason": self.reason,
            "details": dict(self.details),
            "prev_hash": self.prev_hash,
        }

    def to_json(self) -> dict[str, JsonValue]:
        """The full entry, as written to a JSON-lines log."""
        return {**self.body(), "hash": self.hash}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, where: str) -> Self:
        """Parse one stored entry; ``where`` locates it in error messages."""
        try:
            details = data["details"]
            entry = cls(
                seq=int(data["seq"]),
                evidence_id=str(data["evidence_id"]),
                event=CustodyEvent(data["event"]),
                actor=str(data["actor"]),
                at=parse_utc(str(data["at"])),
                reason=str(data["reason"]),
                details=details if isinstance(details, dict) else {},
                prev_hash=str(data["prev_hash"]),
                hash=str(data["hash"]),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise IntegrityError(where, f"malformed custody entry: {exc!r}") from exc
        if not isinstance(details, dict):
            raise IntegrityError(where, "details must be an object")
        return entry


def entry_hash(body: Mapping[str, JsonValue]) -> str:
    """SHA-256 of the canonical JSON of an entry body (all fields but ``hash``)."""
    return sha256_hex(canonical_json(body))


def make_entry(
    prev: CustodyEntry | None,
    *,
    evidence_id: str,
    event: CustodyEvent,
    actor: str,
    at: datetime,
    reason: str = "",
    details: Mapping[str, JsonValue] | None = None,
) -> CustodyEntry:
    """Build the entry that follows ``prev`` (or the first one), hashed and linked.

    Raises :class:`JustificationRequiredError` when a view, export or retention decision
    has a blank reason, or an export names no ``recipient`` in ``details``.
    """
    validate_evidence_id(evidence_id)
    if not actor.strip():
        raise ValueError("custody entries need an actor")
    if event in JUSTIFIED_EVENTS and not reason.strip():
        raise JustificationRequiredError(f"'{event}' requires a justification")
    details = dict(details or {})
    if event is CustodyEvent.EXPORTED and not str(details.get("recipient") or "").strip():
        raise JustificationRequiredError("an export must name its recipient")
    if prev is not None and prev.evidence_id != evidence_id:
        raise ValueError("prev belongs to a different evidence item")
    draft = CustodyEntry(
        seq=1 if prev is None else prev.seq + 1,
        evidence_id=evidence_id,
        event=event,
        actor=actor,
        at=at,
        reason=reason,
        details=details,
        prev_hash=GENESIS_HASH if prev is None else prev.hash,
    )
    return dataclasses.replace(draft, hash=entry_hash(draft.body()))


def verify_chain(entries: Iterable[CustodyEntry], *, evidence_id: str | None = None) -> None:
    """Check that ``entries`` form one unbroken chain from seq 1.

    Raises :class:`IntegrityError` whose ``where`` is ``"custody seq N"`` for the first
    entry that is missing, out of order, altered or wrongly linked.
    """
    prev: CustodyEntry | None = None
    for position, entry in enumerate(entries, start=1):
        where = f"custody seq {position}"
        if entry.seq != position:
            raise IntegrityError(
                where, f"found seq {entry.seq} here: an entry is missing or out of order"
            )
        if evidence_id is not None and entry.evidence_id != evidence_id:
            raise IntegrityError(where, f"belongs to evidence {entry.evidence_id!r}")
        if not hmac.compare_digest(entry_hash(entry.body()), entry.hash):
            raise IntegrityError(where, "content does not match its hash: entry altered")
        expected_prev = GENESIS_HASH if prev is None else prev.hash
        if not hmac.compare_digest(entry.prev_hash, expected_prev):
            raise IntegrityError(
                where, f"prev_hash does not match the hash of seq {position - 1}: chain broken"
            )
        prev = entry


def parse_jsonl(lines: Iterable[str | bytes]) -> list[CustodyEntry]:
    """Parse a JSON-lines custody extract; errors name the line number."""
    entries = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"custody line {number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise IntegrityError(where, f"not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise IntegrityError(where, "not a JSON object")
        entries.append(CustodyEntry.from_json(data, where=where))
    return entries


def to_jsonl(entries: Iterable[CustodyEntry]) -> bytes:
    """Serialise entries as canonical JSON lines (what ``jq -cS`` prints)."""
    return b"".join(canonical_json(e.to_json()) + b"\n" for e in entries)


def first_of(entries: Iterable[CustodyEntry], event: CustodyEvent) -> CustodyEntry | None:
    """The first ``event`` entry among ``entries``, if any."""
    return next((e for e in entries if e.event is event), None)


class CustodyLog(Protocol):
    """Where custody entries are kept. Implementations must serialise appends per item."""

    def append(
        self,
        *,
        evidence_id: str,
        event: CustodyEvent,
        actor: str,
        reason: str = "",
        details: Mapping[str, JsonValue] | None = None,
        at: datetime | None = None,
        once: bool = False,
    ) -> CustodyEntry:
        """Link a new entry after the item's last one, persist it and return it.

        With ``once``, an item that already has an ``event`` entry gets no second one: that
        entry is returned instead (checked under the same lock or transaction as the append),
        so a retried step such as sealing is logged once."""
        ...

    def entries_for(self, evidence_id: str) -> list[CustodyEntry]:
        """All entries for ``evidence_id`` in seq order (empty if none)."""
        ...


class JsonlCustodyLog:
    """A :class:`CustodyLog` of one JSON-lines file per evidence item in ``directory``.

    Appends take an exclusive ``flock`` and are fsynced, so concurrent processes on one
    host cannot fork the chain. The files outlive deletion of the evidence itself.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def path_for(self, evidence_id: str) -> Path:
        """The log file of ``evidence_id``."""
        return self.directory / f"{validate_evidence_id(evidence_id)}.jsonl"

    def append(
        self,
        *,
        evidence_id: str,
        event: CustodyEvent,
        actor: str,
        reason: str = "",
        details: Mapping[str, JsonValue] | None = None,
        at: datetime | None = None,
        once: bool = False,
    ) -> CustodyEntry:
        """See :meth:`CustodyLog.append`."""
        path = self.path_for(evidence_id)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        with os.fdopen(fd, "r+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.seek(0)
            existing = parse_jsonl(fh.read().splitlines())
            if once and (done := first_of(existing, event)) is not None:
                return done
            entry = make_entry(
                existing[-1] if existing else None,
                evidence_id=evidence_id,
                event=event,
                actor=actor,
                reason=reason,
                details=details,
                at=at or datetime.now(UTC),
            )
            fh.write(to_jsonl([entry]))
            fh.flush()
            os.fsync(fh.fileno())
        return entry

    def entries_for(self, evidence_id: str) -> list[CustodyEntry]:
        """See :meth:`CustodyLog.entries_for`."""
        path = self.path_for(evidence_id)
        if not path.exists():
            return []
        with path.open("rb") as fh:
            fcntl.flock(fh, fcntl.LOCK_SH)
            return parse_jsonl(fh.read().splitlines())
