"""Manifest: canonical bytes, round trip, Ed25519 signature."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.evidence_errors import IntegrityError
from evidence.keys import key_id
from evidence.manifest import (
    Manifest,
    RecorderInfo,
    manifest_for,
    sign_manifest,
    verify_manifest_signature,
)
from evidence.seal import StatementDetails
from evidence.writer import SegmentInfo


def build(details: StatementDetails, segments: list[SegmentInfo], kid: str) -> Manifest:
    return manifest_for(
        evidence_id=details.evidence_id,
        visit_id=details.visit_id,
        crime_reference=details.crime_reference,
        officer=details.officer,
        participants=details.participants,
        consents=details.consents,
        segments=segments,
        gaps=details.gaps,
        recorder=RecorderInfo("0.1.0", "host", kid),
    )


def test_canonical_bytes_are_stable_and_round_trip(
    details: StatementDetails, segments: list[SegmentInfo]
) -> None:
    manifest = build(details, segments, "k" * 64)
    data = manifest.canonical_bytes()
    assert data == json.dumps(json.loads(data), sort_keys=True, separators=(",", ":")).encode()
    assert Manifest.from_bytes(data) == manifest
    assert manifest.start == segments[0].start
    assert manifest.end == segments[-1].end
    assert json.loads(data)["gaps"][0].keys() == {"after_segment", "from", "to", "reason"}


def test_signature_verifies_and_detects_changes(
    details: StatementDetails, segments: list[SegmentInfo], signing_key: Ed25519PrivateKey
) -> None:
    manifest = build(details, segments, key_id(signing_key.public_key()))
    signature = sign_manifest(manifest, signing_key)
    assert len(signature) == 64
    verify_manifest_signature(manifest.canonical_bytes(), signature, signing_key.public_key())
    altered = manifest.canonical_bytes().replace(b"CR/12345/24", b"CR/99999/24")
    with pytest.raises(IntegrityError) as info:
        verify_manifest_signature(altered, signature, signing_key.public_key())
    assert info.value.where == "manifest.sig"


def test_malformed_manifest_names_the_field(
    details: StatementDetails, segments: list[SegmentInfo]
) -> None:
    data = build(details, segments, "k" * 64).to_json()
    data["officer"] = {"id": "u-1"}
    with pytest.raises(IntegrityError) as info:
        Manifest.from_json(data)
    assert info.value.where == "manifest field 'officer.collar_number'"
