"""The sealed manifest of a statement recording, and its Ed25519 signature.

``manifest.json`` on disk is exactly :meth:`Manifest.canonical_bytes`, and ``manifest.sig``
is the raw 64-byte Ed25519 signature over those bytes, so ``openssl pkeyutl -verify -rawin``
checks the file as it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.canonical import JsonValue, canonical_json, sha256_hex
from core.evidence_errors import IntegrityError
from core.utc import parse_utc, utc_iso

if TYPE_CHECKING:
    from evidence.writer import SegmentInfo

MANIFEST_FORMAT = "evr-manifest/1"


def _field(data: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise IntegrityError(f"manifest field '{where}{key}'", f"missing or not {kind.__name__}")
    return value


def _time(data: Mapping[str, Any], key: str, where: str) -> datetime:
    try:
        return parse_utc(_field(data, key, str, where))
    except ValueError as exc:
        raise IntegrityError(f"manifest field '{where}{key}'", str(exc)) from exc


@dataclass(frozen=True)
class Officer:
    """The officer in charge: force identifier and collar number."""

    id: str
    collar_number: str


@dataclass(frozen=True)
class Participant:
    """Someone recorded on the call: platform identity, role (officer/victim/guardian...),
    device, and from when they are in the recording (after their consent, for anyone who
    joined once recording had started). Manifests sealed before this field carry none."""

    identity: str
    role: str
    device: str
    recorded_from: datetime | None = None

    def to_json(self) -> dict[str, JsonValue]:
        data: dict[str, JsonValue] = {
            "identity": self.identity,
            "role": self.role,
            "device": self.device,
        }
        if self.recorded_from is not None:
            data["recorded_from"] = utc_iso(self.recorded_from)
        return data


@dataclass(frozen=True)
class ConsentRecord:
    """Who consented to recording, when, and to which version of the consent text."""

    identity: str
    at: datetime
    text_version: str


@dataclass(frozen=True)
class SegmentRecord:
    """A master segment as acquired."""

    name: str
    sha256: str
    bytes: int
    start: datetime
    end: datetime
    hashed: str = "capture"
    """"capture": SHA-256 taken while writing; "recovery": taken when a crashed writer's
    segment was recovered (its bytes up to the crash were not hashed as they were written)."""

    @classmethod
    def from_info(cls, info: SegmentInfo) -> Self:
        return cls(info.name, info.sha256, info.bytes, info.start, info.end, info.hashed)


@dataclass(frozen=True)
class Gap:
    """An interval with no recording (crash, recorder reconnect) and why."""

    after_segment: str
    start: datetime  # "from" in JSON
    end: datetime  # "to" in JSON
    reason: str


@dataclass(frozen=True)
class RecorderInfo:
    """Which recorder build on which host signed the manifest, and with which key."""

    version: str
    host: str
    key_id: str


@dataclass(frozen=True)
class Manifest:
    """Everything a force expects on an exhibit, bound to the master segments' hashes."""

    evidence_id: str
    visit_id: str
    crime_reference: str
    officer: Officer
    participants: tuple[Participant, ...]
    consents: tuple[ConsentRecord, ...]
    start: datetime
    end: datetime
    segments: tuple[SegmentRecord, ...]
    gaps: tuple[Gap, ...]
    recorder: RecorderInfo
    format: str = MANIFEST_FORMAT

    def to_json(self) -> dict[str, JsonValue]:
        """The manifest as JSON values (timestamps as ``...Z`` strings)."""
        return {
            "format": self.format,
            "evidence_id": self.evidence_id,
            "visit_id": self.visit_id,
            "crime_reference": self.crime_reference,
            "officer": {"id": self.officer.id, "collar_number": self.officer.collar_number},
            "participants": [p.to_json() for p in self.participants],
            "consents": [
                {"identity": c.identity, "at": utc_iso(c.at), "text_version": c.text_version}
                for c in self.consents
            ],
            "start": utc_iso(self.start),
            "end": utc_iso(self.end),
            "segments": [
                {
                    "name": s.name,
                    "sha256": s.sha256,
                    "bytes": s.bytes,
                    "start": utc_iso(s.start),
                    "end": utc_iso(s.end),
                    "hashed": s.hashed,
                }
                for s in self.segments
            ],
            "gaps": [
                {
                    "after_segment": g.after_segment,
                    "from": utc_iso(g.start),
                    "to": utc_iso(g.end),
                    "reason": g.reason,
                }
                for g in self.gaps
            ],
            "recorder": {
                "version": self.recorder.version,
                "host": self.recorder.host,
                "key_id": self.recorder.key_id,
            },
        }

    def canonical_bytes(self) -> bytes:
        """The exact bytes stored as ``manifest.json`` and signed."""
        return canonical_json(self.to_json())

    def field_digests(self) -> dict[str, JsonValue]:
        """SHA-256 of each top-level field's canonical JSON.

        Recorded in the "sealed" custody entry so that, when a signature fails, the
        verifier can name which field was changed.
        """
        return {k: sha256_hex(canonical_json(v)) for k, v in self.to_json().items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Parse, raising :class:`IntegrityError` naming the first malformed field."""
        officer = _field(data, "officer", dict, "")
        recorder = _field(data, "recorder", dict, "")

        def items(key: str) -> list[Mapping[str, Any]]:
            values: list[Any] = _field(data, key, list, "")
            if not all(isinstance(v, dict) for v in values):
                raise IntegrityError(f"manifest field '{key}'", "entries must be objects")
            return values

        return cls(
            format=_field(data, "format", str, ""),
            evidence_id=_field(data, "evidence_id", str, ""),
            visit_id=_field(data, "visit_id", str, ""),
            crime_reference=_field(data, "crime_reference", str, ""),
            officer=Officer(
                _field(officer, "id", str, "officer."),
                _field(officer, "collar_number", str, "officer."),
            ),
            participants=tuple(
                Participant(
                    _field(p, "identity", str, "participants[]."),
                    _field(p, "role", str, "participants[]."),
                    _field(p, "device", str, "participants[]."),
                    _time(p, "recorded_from", "participants[].") if "recorded_from" in p else None,
                )
                for p in items("participants")
            ),
            consents=tuple(
                ConsentRecord(
                    _field(c, "identity", str, "consents[]."),
                    _time(c, "at", "consents[]."),
                    _field(c, "text_version", str, "consents[]."),
                )
                for c in items("consents")
            ),
            start=_time(data, "start", ""),
            end=_time(data, "end", ""),
            segments=tuple(
                SegmentRecord(
                    _field(s, "name", str, "segments[]."),
                    _field(s, "sha256", str, "segments[]."),
                    _field(s, "bytes", int, "segments[]."),
                    _time(s, "start", "segments[]."),
                    _time(s, "end", "segments[]."),
                    _field(s, "hashed", str, "segments[]."),
                )
                for s in items("segments")
            ),
            gaps=tuple(
                Gap(
                    _field(g, "after_segment", str, "gaps[]."),
                    _time(g, "from", "gaps[]."),
                    _time(g, "to", "gaps[]."),
                    _field(g, "reason", str, "gaps[]."),
                )
                for g in items("gaps")
            ),
            recorder=RecorderInfo(
                _field(recorder, "version", str, "recorder."),
                _field(recorder, "host", str, "recorder."),
                _field(recorder, "key_id", str, "recorder."),
            ),
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Parse ``manifest.json`` bytes."""
        try:
            decoded = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IntegrityError("manifest.json", f"not valid JSON: {exc}") from exc
        if not isinstance(decoded, dict):
            raise IntegrityError("manifest.json", "top level is not an object")
        return cls.from_json(decoded)


def sign_manifest(manifest: Manifest, key: Ed25519PrivateKey) -> bytes:
    """Raw 64-byte Ed25519 signature over the manifest's canonical bytes."""
    return key.sign(manifest.canonical_bytes())


def verify_manifest_signature(
    manifest_bytes: bytes, signature: bytes, public_key: Ed25519PublicKey
) -> None:
    """Raise :class:`IntegrityError` at ``manifest.sig`` unless the signature is valid."""
    try:
        public_key.verify(signature, manifest_bytes)
    except InvalidSignature:
        raise IntegrityError(
            "manifest.sig", "Ed25519 signature does not match manifest.json"
        ) from None


def manifest_for(
    *,
    evidence_id: str,
    visit_id: str,
    crime_reference: str,
    officer: Officer,
    participants: Sequence[Participant],
    consents: Sequence[ConsentRecord],
    segments: Sequence[SegmentInfo],
    gaps: Sequence[Gap],
    recorder: RecorderInfo,
) -> Manifest:
    """Build a manifest whose start/end span the given segments (in recording order)."""
    if not segments:
        raise ValueError("a manifest needs at least one segment")
    ordered = sorted(segments, key=lambda s: s.index)
    return Manifest(
        evidence_id=evidence_id,
        visit_id=visit_id,
        crime_reference=crime_reference,
        officer=officer,
        participants=tuple(participants),
        consents=tuple(consents),
        start=ordered[0].start,
        end=ordered[-1].end,
        segments=tuple(SegmentRecord.from_info(s) for s in ordered),
        gaps=tuple(gaps),
        recorder=recorder,
    )
