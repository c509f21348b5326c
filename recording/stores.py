"""Choose the evidence store a deployment configured: local filesystem, or S3 Object Lock."""

from __future__ import annotations

from control_plane.recording_settings import RecordingSettings
from recording.custody import CustodyLog
from recording.store import EvidenceStore, LocalEvidenceStore


def open_store(settings: RecordingSettings, custody: CustodyLog) -> EvidenceStore:
    """The configured store, writing custody to ``custody`` (the database chain)."""
    if settings.s3 is not None:
        from recording.s3store import S3EvidenceStore  # noqa: PLC0415 - optional backend

        return S3EvidenceStore(settings.s3, cache_dir=settings.store_dir, custody=custody)
    return LocalEvidenceStore(settings.store_dir, custody=custody)
