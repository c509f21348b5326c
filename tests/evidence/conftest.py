"""Fixtures shared by the recording tests: a recorded statement, a key, a sealed store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from evidence.keys import generate_signing_key, key_id, load_signing_key
from evidence.manifest import ConsentRecord, Gap, Officer, Participant
from evidence.seal import SealedStatement, StatementDetails, seal_statement
from evidence.store import LocalEvidenceStore
from evidence.writer import SegmentInfo
from tests.evidence.media import STARTED_AT, record

EVIDENCE_ID = "EVR-2024-000123-S1"


@pytest.fixture(scope="session")
def segments(tmp_path_factory: pytest.TempPathFactory) -> list[SegmentInfo]:
    """A 2.6 s two-person statement in two segments (recorded once per session)."""
    return record(tmp_path_factory.mktemp("statement"), 2.6)


@pytest.fixture(scope="session")
def signing_key_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "recorder.pem"
    generate_signing_key(path)
    return path


@pytest.fixture(scope="session")
def signing_key(signing_key_path: Path) -> Ed25519PrivateKey:
    return load_signing_key(signing_key_path)


@pytest.fixture(scope="session")
def trusted(signing_key: Ed25519PrivateKey) -> frozenset[str]:
    """The fingerprint the force publishes: the platform key's."""
    return frozenset({key_id(signing_key.public_key())})


@pytest.fixture
def details() -> StatementDetails:
    return StatementDetails(
        evidence_id=EVIDENCE_ID,
        visit_id="visit-42",
        crime_reference="CR/12345/24",
        officer=Officer(id="u-981", collar_number="PC 4471"),
        participants=(
            Participant("officer", "officer", "Windows 11 / Chrome 124"),
            Participant("victim", "victim", "Android 14 / Chrome 124"),
        ),
        consents=(ConsentRecord("victim", STARTED_AT - timedelta(minutes=1), "consent-v3"),),
        gaps=(Gap("segment-00001.mp4", STARTED_AT, STARTED_AT, "none (example)"),),
    )


@pytest.fixture
def store(tmp_path: Path) -> LocalEvidenceStore:
    return LocalEvidenceStore(tmp_path / "store")


@pytest.fixture
def sealed(
    store: LocalEvidenceStore,
    segments: list[SegmentInfo],
    signing_key: Ed25519PrivateKey,
    details: StatementDetails,
) -> SealedStatement:
    return seal_statement(
        store,
        details=details,
        segments=segments,
        signing_key=signing_key,
        actor="recorder@evr-rec-1",
        recorder_version="0.1.0",
        host="evr-rec-1",
    )
