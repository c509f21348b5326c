"""Signed checkpoints of the audit and custody chains' heads (issue 12, finding 4).

Hash chains show an edit only to someone who kept an older head: a database owner can lift
the append-only triggers, rewrite a row and recompute every hash after it. So on a schedule
the leader writes a checkpoint: the audit chain's head (seq, hash), the head of every custody
chain that moved since the checkpoints before it, and the previous checkpoint's hash. It is
signed with the platform's Ed25519 signing key (``recording.signing_key``, the key that signs
evidence manifests and bundles), which the database does not hold. Verification then finds a
rewritten entry at or before a checkpoint's head: its hash no longer matches the signed one.

What is signed is the checkpoint's ``body``: canonical JSON (what ``jq -cS`` prints), kept
as text in ``audit_checkpoints.body``. Offline, with only the public key::

    printf %s "$body" > body.json; xxd -r -p <<<"$signature" > body.sig
    openssl pkeyutl -verify -pubin -inkey public.pem -rawin -in body.json -sigfile body.sig

Entries newer than the last checkpoint are covered by the chain alone, so verification also
fails when entries older than ``max_age`` are not yet under any checkpoint: deleting the
newest checkpoints to hide an edit is then caught once that window has passed.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core import audit, schema
from core.canonical import canonical_json
from core.custody import GENESIS_HASH, CustodyEntry, entry_hash, verify_chain
from core.custody_db import entry_from_row
from core.evidence_errors import IntegrityError
from core.fingerprint import key_id
from core.utc import parse_utc, utc_iso

log = logging.getLogger(__name__)

Heads = dict[str, tuple[int, str]]
"""Evidence id -> (seq, hash) of its custody chain's head."""


@dataclass(frozen=True)
class Checkpoint:
    """One signed checkpoint, as stored."""

    seq: int
    at: datetime
    audit_seq: int
    audit_hash: str
    custody: Heads
    """Custody heads that moved since the previous checkpoint."""
    prev_hash: str
    key_id: str

    def body(self) -> dict[str, Any]:
        """What is hashed and signed."""
        return {
            "seq": self.seq,
            "at": utc_iso(self.at),
            "audit": {"seq": self.audit_seq, "hash": self.audit_hash},
            "custody": [[eid, seq, h] for eid, (seq, h) in sorted(self.custody.items())],
            "prev_hash": self.prev_hash,
            "key_id": self.key_id,
        }


def _parse_body(text: str, *, where: str) -> Checkpoint:
    try:
        data = json.loads(text)
        return Checkpoint(
            seq=int(data["seq"]),
            at=parse_utc(str(data["at"])),
            audit_seq=int(data["audit"]["seq"]),
            audit_hash=str(data["audit"]["hash"]),
            custody={str(e): (int(s), str(h)) for e, s, h in data["custody"]},
            prev_hash=str(data["prev_hash"]),
            key_id=str(data["key_id"]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise IntegrityError(where, f"malformed checkpoint body: {exc!r}") from exc


async def _custody_heads(conn: AsyncConnection) -> Heads:
    c = schema.custody_log
    last = (
        select(c.c.evidence_id, func.max(c.c.seq).label("seq")).group_by(c.c.evidence_id)
    ).subquery()
    rows = await conn.execute(
        select(c.c.evidence_id, c.c.seq, c.c.hash).join(
            last, (c.c.evidence_id == last.c.evidence_id) & (c.c.seq == last.c.seq)
        )
    )
    return {r.evidence_id: (int(r.seq), str(r.hash)) for r in rows}


async def _stored(conn: AsyncConnection) -> list[tuple[Checkpoint, Any]]:
    k = schema.audit_checkpoints
    rows = (await conn.execute(select(k).order_by(k.c.seq))).mappings().all()
    return [(_parse_body(r["body"], where=f"checkpoint {r['seq']}"), r) for r in rows]


async def write_checkpoint(
    engine: AsyncEngine, key: Ed25519PrivateKey, *, now: datetime | None = None
) -> Checkpoint:
    """Sign and store a checkpoint of both chains' heads as they are committed now."""
    public = key.public_key()
    async with engine.begin() as conn:
        stored = await _stored(conn)
        pinned: Heads = {}
        for checkpoint, _ in stored:
            pinned.update(checkpoint.custody)
        a = schema.audit_log
        head = (
            await conn.execute(select(a.c.seq, a.c.hash).order_by(a.c.seq.desc()).limit(1))
        ).first()
        heads = await _custody_heads(conn)
        checkpoint = Checkpoint(
            seq=stored[-1][0].seq + 1 if stored else 1,
            at=now or datetime.now(UTC),
            audit_seq=int(head.seq) if head is not None and head.seq is not None else 0,
            audit_hash=str(head.hash) if head is not None and head.hash else GENESIS_HASH,
            custody={e: h for e, h in heads.items() if pinned.get(e) != h},
            prev_hash=str(stored[-1][1]["hash"]) if stored else GENESIS_HASH,
            key_id=key_id(public),
        )
        body = canonical_json(checkpoint.body())
        await conn.execute(
            insert(schema.audit_checkpoints).values(
                seq=checkpoint.seq,
                at=checkpoint.at,
                body=body.decode("utf-8"),
                hash=entry_hash(checkpoint.body()),
                key_id=checkpoint.key_id,
                public_key=public.public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                ).decode("ascii"),
                signature=key.sign(body).hex(),
            )
        )
    return checkpoint


@dataclass
class Report:
    """What `evr audit verify` found: ``failures`` as (where, message), first break first."""

    audit_entries: int = 0
    custody_items: int = 0
    checkpoints: int = 0
    last_checkpoint: datetime | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, where: str, message: str) -> None:
        self.failures.append((where, message))


def _check_signature(row: Any, trusted: frozenset[str], where: str) -> None:
    try:
        public = serialization.load_pem_public_key(str(row["public_key"]).encode("ascii"))
    except ValueError as exc:
        raise IntegrityError(where, f"unreadable public key: {exc}") from exc
    if not isinstance(public, Ed25519PublicKey):
        raise IntegrityError(where, "public key is not Ed25519")
    fingerprint = key_id(public)
    if fingerprint not in trusted:
        raise IntegrityError(where, f"signed by key {fingerprint}, which is not a trusted key")
    if not hmac.compare_digest(fingerprint, str(row["key_id"])):
        raise IntegrityError(where, "key_id does not match the public key")
    try:
        public.verify(bytes.fromhex(str(row["signature"])), str(row["body"]).encode("utf-8"))
    except (InvalidSignature, ValueError) as exc:
        raise IntegrityError(where, "signature does not verify: checkpoint altered") from exc


def _check_link(checkpoint: Checkpoint, row: Any, position: int, prev_hash: str) -> None:
    where = f"checkpoint {position}"
    if checkpoint.seq != position or int(row["seq"]) != position:
        raise IntegrityError(where, f"found checkpoint {checkpoint.seq}: one is missing")
    if not hmac.compare_digest(entry_hash(checkpoint.body()), str(row["hash"])):
        raise IntegrityError(where, "hash does not match its body")
    if not hmac.compare_digest(checkpoint.prev_hash, prev_hash):
        raise IntegrityError(where, "prev_hash does not match the checkpoint before")


def _check_checkpoints(
    stored: list[tuple[Checkpoint, Any]],
    trusted: frozenset[str],
    audit_hashes: Mapping[int, str],
    custody_hashes: Callable[[str, int], str | None],
    report: Report,
) -> None:
    prev_hash = GENESIS_HASH
    for position, (checkpoint, row) in enumerate(stored, start=1):
        where = f"checkpoint {position}"
        try:
            _check_signature(row, trusted, where)
            _check_link(checkpoint, row, position, prev_hash)
        except IntegrityError as exc:
            report.fail(exc.where, exc.message)
            return
        prev_hash = str(row["hash"])
        if checkpoint.audit_seq and audit_hashes.get(checkpoint.audit_seq) != checkpoint.audit_hash:
            report.fail(
                where,
                f"audit seq {checkpoint.audit_seq} differs from the signed head: the audit "
                "log was rewritten or cut",
            )
        for evidence_id, (seq, signed) in sorted(checkpoint.custody.items()):
            if custody_hashes(evidence_id, seq) != signed:
                report.fail(
                    where,
                    f"custody {evidence_id} seq {seq} differs from the signed head: the "
                    "chain of custody was rewritten or cut",
                )


async def verify(
    conn: AsyncConnection,
    *,
    trusted: frozenset[str],
    max_age: timedelta,
    now: datetime | None = None,
) -> Report:
    """Walk the audit chain, every custody chain and every checkpoint.

    ``trusted`` holds the key fingerprints whose checkpoints count. Audit entries older than
    ``max_age`` must lie under a checkpoint.
    """
    report = Report()
    now = now or datetime.now(UTC)
    entries: list[audit.AuditEntry] = []
    try:
        entries = await audit.chain(conn)
        report.audit_entries = len(entries)
        audit.verify_chain(entries)
    except IntegrityError as exc:
        report.fail(exc.where, exc.message)
    head = (await conn.execute(select(schema.audit_chain_head))).mappings().first()
    last = (entries[-1].seq, entries[-1].hash) if entries else (0, GENESIS_HASH)
    if head is None or (int(head["seq"]), str(head["hash"])) != last:
        report.fail("audit head", "audit_chain_head does not match the last entry")
    c = schema.custody_log
    rows = (await conn.execute(select(c).order_by(c.c.evidence_id, c.c.seq))).mappings()
    chains: dict[str, list[CustodyEntry]] = {}
    for row in rows:
        chains.setdefault(str(row["evidence_id"]), []).append(entry_from_row(row))
    report.custody_items = len(chains)
    for evidence_id, custody in sorted(chains.items()):
        try:
            verify_chain(custody, evidence_id=evidence_id)
        except IntegrityError as exc:
            report.fail(f"custody {evidence_id}: {exc.where}", exc.message)
    stored = await _stored(conn)
    report.checkpoints = len(stored)

    def custody_hash(evidence_id: str, seq: int) -> str | None:
        custody = chains.get(evidence_id, [])
        return custody[seq - 1].hash if 0 < seq <= len(custody) else None

    _check_checkpoints(stored, trusted, {e.seq: e.hash for e in entries}, custody_hash, report)
    covered = stored[-1][0].audit_seq if stored else 0
    if stored:
        report.last_checkpoint = stored[-1][0].at
    stale = [e for e in entries if e.seq > covered and now - e.at > max_age]
    if stale:
        report.fail(
            f"audit seq {stale[0].seq}",
            f"older than {max_age} and under no checkpoint: checkpoints are missing or "
            "were deleted",
        )
    return report
