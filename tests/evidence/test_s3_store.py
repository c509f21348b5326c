"""The S3 Object Lock evidence store against a real MinIO: sealing, locks, retention,
legal hold, refused deletion, and a tampered new version found by verification."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import urllib3
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from minio import Minio
from minio.error import S3Error

from core.canonical import sha256_hex
from core.custody import CustodyEvent, JsonlCustodyLog
from core.evidence_errors import (
    AuthorisationError,
    ObjectExistsError,
    RetentionError,
    StoreUnavailableError,
)
from core.recording_settings import S3Settings
from evidence.retention import RetentionAction
from evidence.s3store import S3EvidenceStore
from evidence.seal import SealedStatement, StatementDetails, seal_statement
from evidence.store import MANIFEST_NAME
from evidence.verify import verify_store_entry
from evidence.writer import SegmentInfo
from tests.evidence.conftest import EVIDENCE_ID
from tests.support.minio import RunningMinio, start_minio, stop_minio
from tests.support.netns import TestNet


@pytest.fixture(scope="module")
def minio(testnet: TestNet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMinio]:
    server = start_minio(testnet, tmp_path_factory.mktemp("minio"))
    try:
        yield server
    finally:
        stop_minio(server)


@pytest.fixture
def s3(minio: RunningMinio, tmp_path: Path, request: pytest.FixtureRequest) -> S3EvidenceStore:
    bucket = "evr-" + request.node.name.replace("_", "-")[:40].strip("-").lower()
    settings = S3Settings(
        endpoint=minio.endpoint,
        bucket=bucket,
        access_key=minio.access_key,
        secret_key=minio.secret_key,
        secure=False,
        min_retention_days=1,
    )
    return S3EvidenceStore(
        settings,
        cache_dir=tmp_path / "cache",
        custody=JsonlCustodyLog(tmp_path / "custody"),
        # A category with no minimum, so the test can reach a review date within days.
        review_minimum_years={"test_only": 0},
    )


@pytest.fixture
def sealed_s3(
    s3: S3EvidenceStore,
    segments: list[SegmentInfo],
    signing_key: Ed25519PrivateKey,
    details: StatementDetails,
) -> SealedStatement:
    return seal_statement(
        s3,
        details=details,
        segments=segments,
        signing_key=signing_key,
        actor="recorder@evr-rec-1",
        recorder_version="0.1.0",
        host="evr-rec-1",
    )


def test_sealed_item_is_object_locked_and_verifies(
    s3: S3EvidenceStore, sealed_s3: SealedStatement, segments: list[SegmentInfo]
) -> None:
    report = verify_store_entry(s3, EVIDENCE_ID, trusted_key_ids={sealed_s3.key_id})
    assert report.ok, report.failures
    key = f"evidence/{EVIDENCE_ID}/masters/{segments[0].name}"
    lock = s3.client.get_object_retention(s3.bucket, key)
    assert lock is not None
    assert lock.mode == "COMPLIANCE"
    assert lock.retain_until_date.date() >= date.today()
    # Object Lock, not just this code, refuses to remove the Master's version.
    [version] = list(s3.client.list_objects(s3.bucket, prefix=key, include_version=True))
    with pytest.raises(S3Error):
        s3.client.remove_object(s3.bucket, key, version_id=version.version_id)
    # Putting the identical Master again is already done (a retried seal); nothing changes.
    s3.put_master(EVIDENCE_ID, segments[0].path, sha256=segments[0].sha256)
    assert len(list(s3.client.list_objects(s3.bucket, prefix=key, include_version=True))) == 1
    other = segments[0].path.parent / "other-sealed" / segments[0].name
    other.parent.mkdir(exist_ok=True)
    other.write_bytes(b"not the recorded master")
    with pytest.raises(ObjectExistsError):
        s3.put_master(EVIDENCE_ID, other, sha256=sha256_hex(other.read_bytes()))
    with pytest.raises(ObjectExistsError, match="sealed"):
        s3.put_object(EVIDENCE_ID, "extra.txt", b"added after sealing")


def test_a_tampered_new_version_is_found_and_the_original_survives(
    s3: S3EvidenceStore, sealed_s3: SealedStatement, segments: list[SegmentInfo]
) -> None:
    key = f"evidence/{EVIDENCE_ID}/masters/{segments[1].name}"
    altered = bytearray(segments[1].path.read_bytes())
    altered[len(altered) // 2] ^= 0x01
    s3.client.put_object(s3.bucket, key, io.BytesIO(bytes(altered)), len(altered))
    report = verify_store_entry(s3, EVIDENCE_ID, trusted_key_ids={sealed_s3.key_id})
    assert [f.where for f in report.failures] == [f"segment {segments[1].name}"]
    versions = list(s3.client.list_objects(s3.bucket, prefix=key, include_version=True))
    assert len(versions) == 2  # the sealed original is still there, locked


def test_retention_legal_hold_and_deletion_rules(
    s3: S3EvidenceStore, sealed_s3: SealedStatement, segments: list[SegmentInfo]
) -> None:
    review = date.today() + timedelta(days=30)
    s3.set_review_date(EVIDENCE_ID, review, category="test_only", actor="u-2", reason="MoPI 2")
    key = f"evidence/{EVIDENCE_ID}/masters/{segments[0].name}"
    lock = s3.client.get_object_retention(s3.bucket, key)
    assert lock is not None
    assert lock.retain_until_date.date() >= review  # the lock follows the review date
    s3.set_legal_hold(EVIDENCE_ID, True, actor="u-3", reason="appeal lodged")
    assert s3.client.is_object_legal_hold_enabled(s3.bucket, key)
    with pytest.raises(AuthorisationError):
        s3.delete(EVIDENCE_ID, actor="u-2", role="officer", reason="r", today=review)
    with pytest.raises(RetentionError, match="legal hold"):
        s3.delete(EVIDENCE_ID, actor="u-2", role="evidence_manager", reason="r", today=review)
    s3.request(EVIDENCE_ID, RetentionAction.LIFT_HOLD, actor="u-2", role="x", reason="over")
    s3.set_legal_hold(EVIDENCE_ID, False, actor="u-3", reason="appeal concluded")
    assert not s3.client.is_object_legal_hold_enabled(s3.bucket, key)
    assert s3.retention(EVIDENCE_ID).legal_hold is False
    # Past the review date by the calendar, but the Object Lock still holds: refused.
    s3.request(
        EVIDENCE_ID, RetentionAction.DELETE, actor="u-4", role="evidence_manager", reason="done"
    )
    with pytest.raises(RetentionError, match="object-locked"):
        s3.delete(EVIDENCE_ID, actor="u-2", role="evidence_manager", reason="r", today=review)
    events = [e.event for e in s3.custody.entries_for(EVIDENCE_ID)]
    assert events == [
        CustodyEvent.CREATED,
        CustodyEvent.SEALED,
        CustodyEvent.RETENTION_CHANGED,
        CustodyEvent.LEGAL_HOLD,
        CustodyEvent.RETENTION_REQUESTED,
        CustodyEvent.LEGAL_HOLD,
        CustodyEvent.RETENTION_REQUESTED,
    ]
    # No object decides retention: nothing but the sealed objects is in the bucket.
    names = [o.object_name for o in s3.client.list_objects(s3.bucket, recursive=True)]
    assert not [n for n in names if str(n).endswith("retention.json")]


def test_a_seal_retried_after_a_partial_upload_completes_it(
    s3: S3EvidenceStore,
    segments: list[SegmentInfo],
    signing_key: Ed25519PrivateKey,
    details: StatementDetails,
) -> None:
    # The first attempt stored one Master before the store went away.
    s3.put_master(EVIDENCE_ID, segments[0].path, sha256=segments[0].sha256)
    sealed = seal_statement(
        s3,
        details=details,
        segments=segments,
        signing_key=signing_key,
        actor="recorder@evr-rec-1",
        recorder_version="0.1.0",
        host="evr-rec-1",
    )
    report = verify_store_entry(s3, EVIDENCE_ID, trusted_key_ids={sealed.key_id})
    assert report.ok, report.failures
    # Same name, other content: still refused.
    other = segments[0].path.parent / "other" / segments[1].name
    other.parent.mkdir()
    other.write_bytes(b"not the recorded master")
    with pytest.raises(ObjectExistsError):
        s3.put_master(EVIDENCE_ID, other, sha256=sha256_hex(other.read_bytes()))


def test_an_unreachable_store_is_told_apart_from_a_refusal(
    minio: RunningMinio, tmp_path: Path, segments: list[SegmentInfo]
) -> None:
    settings = S3Settings(
        endpoint=minio.endpoint,
        bucket="evr-unreachable",
        access_key=minio.access_key,
        secret_key=minio.secret_key,
        secure=False,
        min_retention_days=1,
    )
    store = S3EvidenceStore(
        settings, cache_dir=tmp_path / "cache", custody=JsonlCustodyLog(tmp_path / "custody")
    )
    # A port nothing listens on, with no client retries: the store is down.
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    store.client = Minio(
        f"127.0.0.1:{port}",
        access_key=minio.access_key,
        secret_key=minio.secret_key,
        secure=False,
        http_client=urllib3.PoolManager(retries=False),
    )
    with pytest.raises(StoreUnavailableError):
        store.put_master(EVIDENCE_ID, segments[0].path, sha256=segments[0].sha256)


class _LostOnce:
    """Delegates to the real store or custody log; the first call of ``method`` fails as the
    store going away would (the fault injected where a real outage cannot be timed)."""

    def __init__(self, real: Any, method: str) -> None:
        self.real, self.method, self.failed = real, method, False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.real, name)
        if name != self.method or self.failed:
            return attr

        def fail(*_args: Any, **kwargs: Any) -> Any:
            if self.method == "append" and kwargs.get("event") is not CustodyEvent.SEALED:
                return attr(**kwargs)
            self.failed = True
            raise StoreUnavailableError(f"{name}: connection lost")

        return fail


def _seal(store: Any, segments: list[SegmentInfo], key: Ed25519PrivateKey, d: Any) -> Any:
    return seal_statement(
        store,
        details=d,
        segments=segments,
        signing_key=key,
        actor="recorder@evr-rec-1",
        recorder_version="0.1.0",
        host="evr-rec-1",
    )


def test_a_seal_retried_after_the_signature_was_stored_finishes(
    s3: S3EvidenceStore,
    segments: list[SegmentInfo],
    signing_key: Ed25519PrivateKey,
    details: StatementDetails,
) -> None:
    # Everything stored, signature last; then the store went away before custody.
    with pytest.raises(StoreUnavailableError):
        _seal(_LostOnce(s3, "seal"), segments, signing_key, details)
    assert s3.is_sealed(EVIDENCE_ID)
    assert s3.custody.entries_for(EVIDENCE_ID) == []
    sealed = _seal(s3, segments, signing_key, details)
    report = verify_store_entry(s3, EVIDENCE_ID, trusted_key_ids={sealed.key_id})
    assert report.ok, report.failures
    events = [e.event for e in s3.custody.entries_for(EVIDENCE_ID)]
    assert events == [CustodyEvent.CREATED, CustodyEvent.SEALED]
    # A different object under a stored name stays an error.
    with pytest.raises(ObjectExistsError):
        s3.put_object(EVIDENCE_ID, MANIFEST_NAME, b'{"not": "the sealed manifest"}')


def test_a_seal_retried_after_created_was_logged_logs_each_step_once(
    s3: S3EvidenceStore,
    segments: list[SegmentInfo],
    signing_key: Ed25519PrivateKey,
    details: StatementDetails,
) -> None:
    custody = s3.custody
    s3._custody = _LostOnce(custody, "append")  # the log goes away between the two steps
    with pytest.raises(StoreUnavailableError):
        _seal(s3, segments, signing_key, details)
    assert [e.event for e in custody.entries_for(EVIDENCE_ID)] == [CustodyEvent.CREATED]
    s3._custody = custody
    sealed = _seal(s3, segments, signing_key, details)
    entries = custody.entries_for(EVIDENCE_ID)
    assert [e.event for e in entries] == [CustodyEvent.CREATED, CustodyEvent.SEALED]
    assert sealed.custody == tuple(entries)  # the retry returns the entries as logged
    report = verify_store_entry(s3, EVIDENCE_ID, trusted_key_ids={sealed.key_id})
    assert report.ok, report.failures


class _RaceLostClient(Minio):
    """A real MinIO client whose existence check answers as it did a moment before another
    replica created the bucket: the window two stores starting at once both fall into."""

    def bucket_exists(self, bucket_name: str) -> bool:
        return False


def test_a_store_that_loses_the_bucket_creation_race_still_starts(
    s3: S3EvidenceStore, tmp_path: Path
) -> None:
    settings = s3.settings
    late = _RaceLostClient(
        settings.endpoint,
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        secure=settings.secure,
        region=settings.region,
    )
    second = S3EvidenceStore(
        settings,
        cache_dir=tmp_path / "cache2",
        custody=JsonlCustodyLog(tmp_path / "custody2"),
        client=late,
    )
    assert second.client.get_object_lock_config(second.bucket) is not None
